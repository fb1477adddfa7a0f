"""The frame scheduler: detections start in submit order, on workers when parallel; still frames reuse."""

from __future__ import annotations

import threading

import numpy as np

from edge_app.perception.scheduler import FrameScheduler, parallel_frames


def test_parallel_frames_default_is_one_per_core():
    assert parallel_frames(0, 1) == 1 and parallel_frames(0, 2) == 2 and parallel_frames(0, 64) == 4
    assert parallel_frames(1, 64) == 1


IMAGE = np.zeros((4, 4, 3), np.uint8)


def test_one_frame_at_a_time_detects_inline_and_still_frames_reuse_it():
    s = FrameScheduler(1, settle_frames=2)
    first = s.frame(IMAGE, 0.0)
    assert s.must_detect(moved=False)  # nothing detected yet
    s.detect(first, lambda image: "found", IMAGE)
    assert (
        first.detection is not None
        and first.detection.done()
        and first.detection.result() == "found"
    )
    still = [s.frame(IMAGE, t) for t in (0.1, 0.2, 0.3)]
    for work in still:
        assert not s.must_detect(moved=False)
        s.reuse(work)
    assert [w.index for w in [first, *still]] == [0, 1, 2, 3]
    assert all(w.gated and w.source is first and w.detection is None for w in still)
    assert [w.settled for w in still] == [False, False, True]  # zones settled after settle_frames
    assert s.must_detect(moved=True)
    s.restart()  # a new frame size
    assert s.must_detect(moved=False)
    s.close()


def test_parallel_frames_detect_on_worker_threads():
    s = FrameScheduler(2, settle_frames=2)
    works = [s.frame(IMAGE, i / 15) for i in range(4)]
    for w in works:
        s.detect(w, lambda image: threading.current_thread().name, IMAGE)
    names = [w.detection.result() for w in works]
    assert all(n.startswith("detector") for n in names)
    s.close()
