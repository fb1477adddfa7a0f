"""Letterbox (Ultralytics ``LetterBox(center=True)``) into the network input, and back.

* ``r = min(H/h, W/w)``, resize to ``round(w·r) × round(h·r)`` bilinear, pad
  centred with grey 114, split as ``round(d/2 ∓ 0.1)`` (YOLOX: top-left,
  ``int(w·r)``);
* boxes back to the image with per-axis gains, clipped to the image.

:class:`InputBuffer` is the lane's allocation-free form of
:func:`to_input_tensor`, bit-identical to it, with region crops for
dynamic-input models.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GREY = 114
#: the coarsest YOLO stride: a dynamic input's sides are multiples of it
STRIDE = 32


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into the network input, to map boxes back."""

    image_size: tuple[int, int]  # (width, height) of the original image
    input_size: tuple[int, int]  # (width, height) of the network input
    new_size: tuple[int, int]  # (width, height) of the resized image inside the input
    left: int
    top: int

    @classmethod
    def plan(
        cls,
        image_size: tuple[int, int],
        input_size: tuple[int, int],
        center: bool = True,
        floor: bool = False,
    ) -> Letterbox:
        """Ultralytics' LetterBox.get_params (scaleup on, auto off: static ONNX input).

        ``center=False, floor=True`` is YOLOX's ``preproc`` (top-left, ``int(w·r)``).
        """
        w0, h0 = image_size
        w, h = input_size
        r = min(h / h0, w / w0)
        rnd = int if floor else round
        new_w, new_h = max(rnd(w0 * r), 1), max(rnd(h0 * r), 1)
        dw, dh = w - new_w, h - new_h
        if center:
            left, top = round(dw / 2 - 0.1), round(dh / 2 - 0.1)
        else:
            left, top = 0, 0
        return cls((w0, h0), (w, h), (new_w, new_h), left, top)

    def apply(self, image: np.ndarray, fill: int = GREY) -> np.ndarray:
        """Resize (bilinear) and pad ``image`` into the network input."""
        h0, w0 = image.shape[:2]
        if (w0, h0) != self.image_size:
            raise ValueError(f"planned for {self.image_size}, got an image of {(w0, h0)}")
        if (w0, h0) != self.new_size:
            image = cv2.resize(image, self.new_size, interpolation=cv2.INTER_LINEAR)
        w, h = self.input_size
        right = w - self.new_size[0] - self.left
        bottom = h - self.new_size[1] - self.top
        return cv2.copyMakeBorder(
            image, self.top, bottom, self.left, right, cv2.BORDER_CONSTANT, value=(fill,) * 3
        )

    @property
    def gain(self) -> tuple[float, float]:
        """(x, y) scale from original to input pixels; per axis because each side is rounded."""
        return self.new_size[0] / self.image_size[0], self.new_size[1] / self.image_size[1]

    def boxes_to_image(self, xyxy: np.ndarray) -> np.ndarray:
        """Input-pixel xyxy → image-pixel xyxy, clipped to the image (Ultralytics scale_boxes)."""
        gx, gy = self.gain
        b = np.asarray(xyxy, np.float32).reshape(-1, 4).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] - self.left) / gx
        b[:, [1, 3]] = (b[:, [1, 3]] - self.top) / gy
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, self.image_size[0])
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, self.image_size[1])
        return b

    def points_to_image(self, pts: np.ndarray) -> np.ndarray:
        """Input-pixel (…, ≥2) points → image pixels, clipped (Ultralytics scale_coords)."""
        gx, gy = self.gain
        p = np.asarray(pts, np.float32).copy()
        p[..., 0] = ((p[..., 0] - self.left) / gx).clip(0, self.image_size[0])
        p[..., 1] = ((p[..., 1] - self.top) / gy).clip(0, self.image_size[1])
        return p


def to_input_tensor(
    image_bgr: np.ndarray, lb: Letterbox, colour: str = "rgb", divisor: float = 255.0
) -> np.ndarray:
    """Letterboxed NCHW float32 tensor in the model's colour order.

    Divides (as Ultralytics does) rather than multiplying by 1/255: the
    last-bit difference is enough to move an int8 dynamic-quantisation step.
    """
    img = lb.apply(image_bgr)
    if colour == "rgb":
        img = img[..., ::-1]
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)
    if divisor != 1.0:
        x /= np.float32(divisor)
    return x


class InputBuffer:
    """``to_input_tensor`` without per-frame allocations, for one frame size.

    The grey canvas is painted once; each frame is resized straight into its
    place in the canvas, then channel-swapped and divided into a preallocated
    NCHW float32 tensor. Bit-identical to :func:`to_input_tensor` (division,
    not multiplication, as there). The returned tensor is reused: it is valid
    until the next :meth:`fill`.

    >>> lb = Letterbox.plan((64, 48), (32, 32))
    >>> img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    >>> bool((InputBuffer(lb).fill(img) == to_input_tensor(img, lb)).all())
    True
    """

    def __init__(
        self, lb: Letterbox, colour: str = "rgb", divisor: float = 255.0, fill: int = GREY
    ):
        self.lb = lb
        w, h = lb.input_size
        nw, nh = lb.new_size
        self.canvas = np.full((h, w, 3), fill, np.uint8)
        self._roi = self.canvas[lb.top : lb.top + nh, lb.left : lb.left + nw]
        self.tensor = np.empty((1, 3, h, w), np.float32)
        self._order = (2, 1, 0) if colour == "rgb" else (0, 1, 2)
        self._divisor = np.float32(divisor)
        #: region tensors by shape (a handful: region sides are stride multiples)
        self._crops: dict[tuple, np.ndarray] = {}

    def fill(self, image_bgr: np.ndarray) -> np.ndarray:
        self._paint(image_bgr)
        self._to_tensor(self.canvas, self.tensor)
        return self.tensor

    def fill_region(
        self, image_bgr: np.ndarray, rect: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, Letterbox]:
        """Only ``rect`` (x0, y0, x1, y1 in input pixels) of the letterboxed frame, and how to map it back.

        The crop is cut from the same canvas as :meth:`fill`, so a region sees
        exactly the pixels (and scale) the whole-frame input has there.
        """
        x0, y0, x1, y1 = rect
        self._paint(image_bgr)
        shape = (1, 3, y1 - y0, x1 - x0)
        t = self._crops.get(shape)
        if t is None:
            t = self._crops[shape] = np.empty(shape, np.float32)
        self._to_tensor(self.canvas[y0:y1, x0:x1], t)
        lb = self.lb
        return t, Letterbox(
            lb.image_size, (x1 - x0, y1 - y0), lb.new_size, lb.left - x0, lb.top - y0
        )

    def _to_tensor(self, pixels: np.ndarray, out: np.ndarray) -> None:
        for c, src in enumerate(self._order):
            if self._divisor != 1.0:
                np.divide(pixels[:, :, src], self._divisor, out=out[0, c])
            else:
                out[0, c] = pixels[:, :, src]

    def _paint(self, image_bgr: np.ndarray) -> None:
        h0, w0 = image_bgr.shape[:2]
        if (w0, h0) != self.lb.image_size:
            raise ValueError(f"planned for {self.lb.image_size}, got an image of {(w0, h0)}")
        if (w0, h0) == self.lb.new_size:
            self._roi[...] = image_bgr
        else:
            out = cv2.resize(
                image_bgr, self.lb.new_size, dst=self._roi, interpolation=cv2.INTER_LINEAR
            )
            if out is not self._roi and not np.shares_memory(
                out, self.canvas
            ):  # OpenCV made its own buffer
                self._roi[...] = out
