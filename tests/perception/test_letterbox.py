"""The letterbox's reused input buffer: bit-identical to the reference tensor, one frame size."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.perception.letterbox import InputBuffer, Letterbox, to_input_tensor


@pytest.mark.parametrize(
    "size", [(640, 480), (1280, 720), (320, 320), (300, 200), (479, 641), (33, 17)]
)
@pytest.mark.parametrize("colour,divisor", [("rgb", 255.0), ("bgr", 1.0)])
def test_reused_input_buffer_is_bit_identical_to_the_reference_tensor(size, colour, divisor):
    rng = np.random.default_rng(sum(size))
    buf = InputBuffer(Letterbox.plan(size, (320, 320)), colour, divisor)
    for _ in range(3):  # reused: every frame overwrites the last one completely
        img = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        got = buf.fill(img)
        want = to_input_tensor(img, buf.lb, colour, divisor)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got, want)


def test_input_buffer_refuses_a_frame_of_another_size():
    buf = InputBuffer(Letterbox.plan((640, 480), (320, 320)))
    with pytest.raises(ValueError, match="planned for"):
        buf.fill(np.zeros((240, 320, 3), np.uint8))
