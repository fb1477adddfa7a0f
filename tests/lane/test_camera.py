"""Camera sources on a real (tiny, synthetic) video file."""

import logging
import time

import cv2
import numpy as np
import pytest

from edge_app.config import CameraConfig
from edge_app.lane.camera import FrameSource, file_frames, source_kind


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for i in range(30):
        img = np.zeros((48, 64, 3), np.uint8)
        cv2.putText(img, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        w.write(img)
    w.release()
    return path


@pytest.mark.parametrize(
    "source,kind",
    [
        ("0", "usb"),
        ("/dev/video2", "usb"),
        ("rtsp://cam.local/stream1", "rtsp"),
        ("v4l2src device=/dev/video0 ! videoconvert ! appsink", "gstreamer"),
        ("session/video.mp4", "file"),
    ],
)
def test_source_kind_is_guessed_from_its_form(source, kind):
    assert source_kind(CameraConfig(source=source)) == kind


def test_file_frames_are_stamped_on_the_recording_timeline(video):
    frames = list(file_frames(str(video)))
    assert len(frames) == 30
    assert frames[0].ts == 0.0 and abs(frames[15].ts - 0.5) < 1e-9


def test_live_source_hands_over_newest_frames_and_reports_status(video):
    statuses = []
    cfg = CameraConfig(
        source=str(video), kind="file", reconnect_initial_ms=50, reconnect_max_ms=100
    )
    src = FrameSource(cfg, on_status=statuses.append).start()
    try:
        first = src.latest(timeout=5)
        assert first is not None
        time.sleep(0.3)  # several frames arrive meanwhile; only the newest is handed over
        second = src.latest(timeout=5)
        assert second.index > first.index + 1
        assert src.frames_dropped >= 1
        assert statuses[0].component == "camera" and statuses[0].status == "ok"
    finally:
        src.stop()


def test_dead_camera_is_reported_down_and_retried(tmp_path):
    statuses = []
    opened = []

    def open_fn(cfg):
        opened.append(time.monotonic())
        return cv2.VideoCapture(str(tmp_path / "missing.mp4"))

    cfg = CameraConfig(source="/dev/video9", reconnect_initial_ms=20, reconnect_max_ms=40)
    src = FrameSource(cfg, on_status=statuses.append, open_fn=open_fn).start()
    time.sleep(0.5)
    src.stop()
    assert statuses and statuses[0].status == "down"
    assert len(opened) >= 3  # kept retrying with backoff, never died


def write_clip(path, frames=40, fps=15, size=(160, 120)):
    """A real MJPG .avi whose container declares ``frames`` frames."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    rng = np.random.default_rng(1)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (size[1], size[0], 3), np.uint8))  # noise: every frame is big
    w.release()
    return path


def truncate_to_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_video_truncated_mid_file_is_reported_not_replayed_half_without_a_word(tmp_path, caplog):
    whole = write_clip(tmp_path / "whole.avi")
    cut = truncate_to_half(write_clip(tmp_path / "cut.avi"))
    with caplog.at_level(logging.WARNING, logger="edge_app.lane.camera"):
        video = file_frames(str(whole))
        assert len(list(video)) == 40 and video.problem is None
        assert caplog.records == []
        video = file_frames(str(cut))
        read = len(list(video))
    assert 0 < read < 40
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert (
        str(cut) in record.getMessage() and f"ended after {read} of the 40" in record.getMessage()
    )
    assert video.problem == (
        f"ended after {read} of the 40 frames its container declares (truncated or damaged)"
    )


def test_a_live_file_source_that_ends_early_says_so_on_camera_status(tmp_path, caplog):
    cut = truncate_to_half(write_clip(tmp_path / "cut.avi", fps=60))
    statuses = []
    cfg = CameraConfig(source=str(cut), kind="file", reconnect_initial_ms=5000)
    with caplog.at_level(logging.WARNING, logger="edge_app.lane.camera"):
        src = FrameSource(cfg, on_status=statuses.append).start()
        try:
            deadline = time.monotonic() + 10
            while not any(s.status == "down" for s in statuses) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            src.stop()
    down = next(s for s in statuses if s.status == "down")
    assert down.component == "camera" and str(cut) in down.detail
    assert f"ended after {src.frames_read} of the 40 frames" in down.detail, down.detail
    assert any("ended after" in r.getMessage() for r in caplog.records)
