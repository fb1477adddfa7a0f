"""Evidence clips: pre/post ring buffer, faces and privacy polygons blurred, disk quota."""

import os
import threading
import time

import cv2
import numpy as np
import pytest

from edge_app.config import EvidenceConfig
from edge_app.lane.camera import Frame
from edge_app.lane.clip_shelf import ClipShelf, count_frames
from edge_app.lane.evidence import EvidenceRecorder, PrivacyBlur, blur_regions
from tests.fixtures.photos import lane_frame


def frames(n, fps=10.0):
    rng = np.random.default_rng(0)
    for i in range(n):
        yield Frame(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), i / fps, i)


def test_clip_holds_pre_and_post_seconds(tmp_path):
    rec = EvidenceRecorder(tmp_path, EvidenceConfig(pre_s=1.0, post_s=0.5), fps_hint=10)
    for f in frames(30):
        rec.add(f)
        if f.index == 20:
            rec.trigger("T1-A001", f.ts)
    rec.close()
    clip = tmp_path / "T1-A001.avi"
    assert clip.exists() and (tmp_path / "T1-A001.jpg").exists()
    cap = cv2.VideoCapture(str(clip))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    assert 14 <= n <= 17  # ~1.0 s before + 0.5 s after at 10 fps


def test_privacy_region_is_blurred_and_counter_is_not():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, ::2] = 255
    out = blur_regions(img, person_boxes=[(60, 40, 90, 100)])
    assert out[:25].std() < img[:25].std() / 4  # default top band
    assert out[45:55, 65:85].std() < img[45:55, 65:85].std() / 4  # head of a person box
    assert np.array_equal(out[80:, :50], img[80:, :50])


def test_quota_deletes_oldest_clips(tmp_path):
    rec = EvidenceRecorder(tmp_path, EvidenceConfig(pre_s=0.5, post_s=0.2, quota_mb=1), fps_hint=10)
    for k in range(12):
        for f in frames(8):
            rec.add(Frame(f.image, k * 10 + f.ts, f.index))
        rec.trigger(f"A{k:03d}", k * 10 + 0.7)
        for f in frames(3):
            rec.add(Frame(f.image, k * 10 + 0.8 + f.ts, f.index))
    rec.close()
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 1024 * 1024
    assert rec.clips_deleted > 0 and not (tmp_path / "A000.avi").exists()


def test_clips_keep_the_evidence_rate_not_the_camera_rate(tmp_path):
    rec = EvidenceRecorder(tmp_path, EvidenceConfig(fps=10, pre_s=1.0, post_s=0.0))
    for f in frames(30, fps=30.0):
        rec.add(f)
    rec.trigger("A1", 29 / 30)
    rec.add(Frame(f.image, 1.1, 31))
    rec.close()
    n = int(cv2.VideoCapture(str(tmp_path / "A1.avi")).get(cv2.CAP_PROP_FRAME_COUNT))
    assert 10 <= n <= 12  # one second at 10 fps, from a 30 fps camera


def test_small_frames_stay_raw_large_ones_are_jpeg_and_both_make_the_same_clip(tmp_path):
    """The ring keeps frames unencoded only while pre_s of them fit in raw_ring_mb."""
    clips = {}
    for budget in (64, 0):
        rec = EvidenceRecorder(
            tmp_path / str(budget),
            EvidenceConfig(fps=10, pre_s=1.0, post_s=0.3, raw_ring_mb=budget),
        )
        for f in frames(20):
            rec.add(f)
            if f.index == 12:
                rec.trigger("A1", f.ts)
        kept = [item[1] for item in rec._ring]
        assert all(p.ndim == (3 if budget else 1) for p in kept)
        if budget:  # raw: the very frame the camera gave, not a copy
            assert kept[-1] is f.image
        rec.close()
        cap = cv2.VideoCapture(str(tmp_path / str(budget) / "A1.avi"))
        clips[budget] = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    assert clips[64] == clips[0] >= 12


def test_the_thumbnail_is_the_frame_of_the_alert(tmp_path):
    rec = EvidenceRecorder(tmp_path, EvidenceConfig(fps=10, pre_s=1.0, post_s=0.5))
    for i in range(20):
        rec.add(Frame(np.full((120, 160, 3), 10 * i, np.uint8), i / 10, i))
        if i == 12:
            rec.trigger("A1", i / 10)
    rec.close()
    thumb = cv2.imread(str(tmp_path / "A1.jpg"))
    assert abs(float(thumb.mean()) - 120) < 3


def test_clips_go_in_the_order_their_alerts_were_raised_not_the_order_writers_finished(tmp_path):
    """Writers finish out of order (CI: A000's writer finished after later ones, and the oldest
    clip survived the quota): age is the order the alerts were raised, and a clip goes whole."""
    shelf = ClipShelf(tmp_path, quota_bytes=250_000, retention_days=30)
    now = time.time()
    for k, stem in enumerate(["A000", "A001", "A002"]):
        shelf.reserve(stem)
        for suffix in (".avi", ".jpg"):
            (tmp_path / f"{stem}{suffix}").write_bytes(b"x" * 50_000)
            os.utime(tmp_path / f"{stem}{suffix}", (now - k, now - k))  # A000 finished last
        shelf.release(stem)
    assert shelf.enforce_quota() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "A001.avi",
        "A001.jpg",
        "A002.avi",
        "A002.jpg",
    ]


def test_a_clip_being_written_is_never_deleted_for_the_quota(tmp_path):
    shelf = ClipShelf(tmp_path, quota_bytes=10, retention_days=30)
    shelf.reserve("A000")
    (tmp_path / "A000.avi").write_bytes(b"x" * 100)
    assert shelf.enforce_quota() == 0 and (tmp_path / "A000.avi").exists()
    shelf.release("A000")
    assert shelf.enforce_quota() == 1 and not (tmp_path / "A000.avi").exists()


def test_clips_older_than_the_retention_are_deleted_whatever_the_quota(tmp_path):
    """Retention was by size only: a quiet lane kept a shopper's clip for ever."""
    rec = EvidenceRecorder(tmp_path, EvidenceConfig(pre_s=0.5, post_s=0.2, retention_days=7))
    for f in frames(8):
        rec.add(f)
    rec.trigger("OLD", 0.7)
    for f in frames(3):
        rec.add(Frame(f.image, 0.8 + f.ts, f.index))
    rec.close()
    (tmp_path / "LEFT-BY-A-PREVIOUS-RUN.avi").write_bytes(b"x")
    now = time.time()
    eight_days = now - 8 * 86400
    for p in tmp_path.glob("OLD.*"):
        os.utime(p, (eight_days, eight_days))
    assert rec.sweep(now) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LEFT-BY-A-PREVIOUS-RUN.avi"]
    assert rec.counts()["clips_expired"] == 1


def _record_one_clip(folder, statuses, size=(480, 640), n=30):
    rec = EvidenceRecorder(
        folder,
        EvidenceConfig(pre_s=2.0, post_s=1.0, blur_faces=False),
        on_status=lambda state, detail: statuses.append((state, detail)),
    )
    rng = np.random.default_rng(1)
    for i in range(n):  # noise: JPEG cannot make it small
        rec.add(Frame(rng.integers(0, 255, (*size, 3), dtype=np.uint8), i / 10, i))
        if i == n - 10:
            rec.trigger("T9-A001", i / 10)
    rec.close()
    return rec


def test_a_full_disk_is_reported_with_its_cause_and_no_clip_is_claimed(small_disk):
    """On a full disk a 9-frame clip and an unplayable 4 KB file were kept as 'evidence clip
    kept', with only OpenCV warnings on stderr."""
    statuses: list = []
    disk = small_disk("2m")
    disk.require_real()
    rec = _record_one_clip(disk.path, statuses)
    left = sorted(p.name for p in disk.path.iterdir())
    assert rec.clips_written == 0 and rec.counts()["clips_failed"] == 1
    assert left == []
    state, detail = statuses[-1]
    assert state == "degraded" and "disk full" in detail and "T9-A001" in detail


def test_a_clip_the_disk_cut_short_is_not_kept(small_disk):
    """Room at the start, none at the end: the writer says nothing; reading the clip back does."""
    statuses: list = []
    disk = small_disk("6m")
    disk.require_real()
    rec = _record_one_clip(disk.path, statuses, size=(720, 1280), n=40)
    left = sorted(p.name for p in disk.path.iterdir())
    assert rec.clips_written == 0 and rec.counts()["clips_failed"] == 1, statuses
    assert left == []
    state, detail = statuses[-1]
    assert state == "degraded" and "frames readable" in detail and "disk full" in detail


def test_a_clip_that_lands_reports_evidence_ok(tmp_path):
    statuses: list = []
    rec = _record_one_clip(tmp_path, statuses, size=(120, 160))
    assert rec.clips_written == 1 and statuses == [("ok", f"clips in {tmp_path}")]
    assert count_frames(tmp_path / "T9-A001.avi") >= 25


# ------------------------------------------------------------------ faces


def sharpness(img, box):
    """Mean absolute Laplacian inside a box: detail a blur removes."""
    x0, y0, x1, y1 = (int(v) for v in box)
    grey = cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())


def clip_frames(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            return out
        out.append(img)


def record(folder, cfg, image, statuses=None, **kw):
    """Four frames of ``image`` around one alert; the recorder, closed."""
    rec = EvidenceRecorder(
        folder,
        cfg,
        on_status=lambda state, detail: (statuses if statuses is not None else []).append(
            (state, detail)
        ),
        **kw,
    )
    for i in range(4):
        rec.add(Frame(image, i / 10, i))
        if i == 1:
            rec.trigger("A1", i / 10)
    rec.close()
    return rec


@pytest.mark.parametrize("rel", ["faces/keijiro-Test7.jpg", "faces/keijiro-Test3.jpg"])
def test_each_face_of_a_real_photo_is_blurred_in_the_clip(tmp_path, rel):
    """No privacy polygon: the faces go by the detector alone (BlazeFace through ONNX Runtime)."""
    frame, faces = lane_frame(rel)
    record(tmp_path, EvidenceConfig(pre_s=0.5, post_s=0.2, privacy=[]), frame)
    shots = clip_frames(tmp_path / "A1.avi")
    assert len(shots) >= 3
    for face in faces:
        before, after = sharpness(frame, face), max(sharpness(s, face) for s in shots)
        assert after < before / 3, f"face {face.round().tolist()}: {before:.1f} -> {after:.1f}"


def test_a_frame_without_faces_stays_sharp_outside_the_polygons():
    frame, _ = lane_frame("grocery/Royal-Gala_039.jpg")
    out = PrivacyBlur(EvidenceConfig()).apply(frame)
    assert np.array_equal(out[121:], frame[121:])  # below the band: untouched
    assert sharpness(out, (0, 0, 640, 118)) < sharpness(frame, (0, 0, 640, 118)) / 3


def test_the_privacy_polygons_of_the_lane_file_are_blurred_and_nothing_else():
    frame, _ = lane_frame("grocery/Royal-Gala_039.jpg")
    corner = [(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)]
    out = PrivacyBlur(EvidenceConfig(privacy=[corner])).apply(frame)
    assert sharpness(out, (322, 242, 640, 480)) < sharpness(frame, (322, 242, 640, 480)) / 3
    assert np.array_equal(out[:238], frame[:238]) and np.array_equal(out[:, :318], frame[:, :318])


@pytest.mark.parametrize("broken", ["missing", "not onnx"])
def test_a_face_model_that_cannot_load_falls_back_to_the_band_and_says_so(tmp_path, broken):
    model = tmp_path / "face.onnx"
    if broken == "not onnx":
        model.write_bytes(b"not a model")
    frame, _ = lane_frame("faces/keijiro-Test3.jpg")
    statuses: list = []
    cfg = EvidenceConfig(pre_s=0.5, post_s=0.2, privacy=[])
    record(tmp_path / "clips", cfg, frame, statuses, face_model=model)
    assert [s for s, _ in statuses] == ["degraded", "degraded"]  # at start, after the clip
    assert all("blurring the privacy band" in d and "blazeface" in d for _, d in statuses)
    shot = clip_frames(tmp_path / "clips" / "A1.avi")[0]
    assert sharpness(shot, (0, 0, 640, 118)) < sharpness(frame, (0, 0, 640, 118)) / 3


def test_a_face_detector_that_fails_on_a_frame_falls_back_to_the_band():
    blur = PrivacyBlur(EvidenceConfig(privacy=[]))
    grey = cv2.cvtColor(lane_frame("faces/keijiro-Test3.jpg")[0], cv2.COLOR_BGR2GRAY)
    out = blur.apply(grey)  # the detector wants three channels
    assert blur.problem is not None and "blazeface failed" in blur.problem
    detail = [float(np.abs(cv2.Laplacian(g[:118], cv2.CV_32F)).mean()) for g in (grey, out)]
    assert detail[1] < detail[0] / 3 and np.array_equal(out[122:], grey[122:])


def test_haar_where_opencv_has_no_cascades_falls_back_with_the_reason(tmp_path):
    statuses: list = []
    EvidenceRecorder(
        tmp_path,
        EvidenceConfig(faces="haar", privacy=[]),
        on_status=lambda state, detail: statuses.append((state, detail)),
    )
    if hasattr(cv2, "CascadeClassifier"):
        assert statuses == []
    else:
        assert statuses and "CascadeClassifier" in statuses[0][1]


def test_the_face_detector_runs_only_in_the_writer_thread(tmp_path):
    rec = EvidenceRecorder(tmp_path, EvidenceConfig(pre_s=0.5, post_s=0.2))
    detector = rec.privacy.detector
    seen: list = []
    run = detector.detect
    detector.detect = lambda img: seen.append(threading.current_thread().name) or run(img)
    frame, _ = lane_frame("faces/keijiro-Test3.jpg")
    for i in range(10):
        rec.add(Frame(frame, i / 10, i))
    assert seen == []  # the lane thread only keeps frames
    rec.trigger("A1", 0.9)
    for i in range(10, 14):
        rec.add(Frame(frame, i / 10, i))
    rec.close()
    assert seen and set(seen) == {"evidence"}
