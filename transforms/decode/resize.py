"""Resizing a decoded picture to the model's input size, and the full
bytes-to-model-input step.

Resize modes (``--resize``):
  * ``squash`` (default): stretch to exactly height x width, ignoring aspect
    ratio. This is what TF Hub's examples and the ImageNet reference do.
  * ``center_crop``: scale so the shorter side fits, keeping aspect ratio,
    then cut the centre height x width window. Nothing is distorted; the
    edges of non-square images are lost.
  * ``pad``: scale so the longer side fits, keeping aspect ratio, and centre
    the picture on a black (0) canvas. Nothing is distorted or lost; the
    model sees black bars.

All modes use bilinear filtering with antialiasing (Pillow's ``BILINEAR``
widens its support when shrinking), on 8-bit values: images stay uint8
through the pipeline, and the model's traced uint8 entry point
(``model.loading``) divides by 255 in-graph, once per batch.

Pillow's ``ImageOps.fit`` / ``ImageOps.pad`` were measured as replacements
for ``center_crop`` / ``pad`` and do not give the same pixels (``fit`` crops
at a fractional offset: 20 of 300 random sizes identical; ``pad`` rounds the
paste offset half-to-even: 225 of 300 identical), so the modes stay here.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from PIL import Image

from transforms.decode import image as image_lib

SQUASH = "squash"
CENTER_CROP = "center_crop"
PAD = "pad"
RESIZE_MODES = (SQUASH, CENTER_CROP, PAD)
PAD_VALUE = 0


def resize_image(image: Image.Image, size: Tuple[int, int],
                 mode: str = SQUASH) -> np.ndarray:
  """Resizes an RGB image to the model's size.

  Args:
    image: a PIL image in mode RGB.
    size: (height, width) the model expects.
    mode: one of :data:`RESIZE_MODES`.

  Returns:
    uint8 [height, width, 3].
  """
  height, width = size
  src_w, src_h = image.size
  if mode == SQUASH:
    out = _resize(image, width, height)
  elif mode == CENTER_CROP:
    scale = max(width / src_w, height / src_h)
    new_w = max(width, round(src_w * scale))
    new_h = max(height, round(src_h * scale))
    left = (new_w - width) // 2
    top = (new_h - height) // 2
    # Resample straight into the crop box: one pass, no full-size temporary.
    box = (left / scale, top / scale, (left + width) / scale,
           (top + height) / scale)
    out = image.resize((width, height), Image.Resampling.BILINEAR, box=box)
  elif mode == PAD:
    scale = min(width / src_w, height / src_h)
    new_w = min(width, max(1, round(src_w * scale)))
    new_h = min(height, max(1, round(src_h * scale)))
    canvas = Image.new("RGB", (width, height), (PAD_VALUE,) * 3)
    canvas.paste(_resize(image, new_w, new_h),
                 ((width - new_w) // 2, (height - new_h) // 2))
    out = canvas
  else:
    raise ValueError(
        f"unknown resize mode {mode!r} (expected one of {RESIZE_MODES})")
  return np.asarray(out, dtype=np.uint8)


def _resize(image: Image.Image, width: int, height: int) -> Image.Image:
  if image.size == (width, height):
    return image
  return image.resize((width, height), Image.Resampling.BILINEAR)


def prepare_image(data: bytes, size: Tuple[int, int], mode: str = SQUASH,
                  max_pixels: int = image_lib.DEFAULT_MAX_PIXELS,
                  jpeg_draft: Optional[float] = 1.0) -> np.ndarray:
  """Encoded bytes to the model's input pixels (uint8; the model converts to float).

  Args:
    data: encoded image bytes.
    size: (height, width) of the model input.
    mode: resize mode, see :data:`RESIZE_MODES`.
    max_pixels: decompression-bomb limit, see :func:`image.decode_image`.
    jpeg_draft: if set, JPEGs at least twice ``jpeg_draft`` x the model size
      are decoded at a reduced DCT scale (1/2, 1/4, 1/8) that keeps both
      sides >= ``jpeg_draft`` x the model size, then resized as usual (like
      Pillow's ``thumbnail`` ``reducing_gap``); ``None`` decodes at full
      size.

  Returns:
    uint8 [height, width, 3], RGB.

  Raises:
    failures.ImageFailure: for any bad input.
  """
  draft_size = int(max(size) * jpeg_draft) if jpeg_draft else None
  picture = image_lib.decode_image(data, max_pixels=max_pixels,
                                  draft_size=draft_size)
  return resize_image(picture, size, mode)
