"""Evidence clips: pre/post ring buffer, privacy blur, disk quota."""

import cv2
import numpy as np

from edge_app.config import EvidenceConfig
from edge_app.lane.camera import Frame
from edge_app.lane.evidence import EvidenceRecorder, blur_regions


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
