"""Small JPEG thumbnails of inputs, as data URIs, read from their keys.

A key that is a readable path (local or any Beam filesystem) is decoded with
the pipeline's own decode policy (EXIF orientation, alpha on white, the
pixel limit); anything else (a record id, a manifest id, a bad image) gets
no thumbnail and the page shows a placeholder.
"""
from __future__ import annotations

import base64
import io
from typing import Optional

from transforms.core import failures
from transforms.decode import image as decode_image
from transforms.read import storage

THUMBNAIL_SIZE = 160
MAX_PIXELS = 50_000_000
_MAX_BYTES = 64 * 2**20


def thumbnail_uri(key: str, size: int = THUMBNAIL_SIZE) -> Optional[str]:
  """``data:image/jpeg;base64,...`` for the image at ``key``, or None."""
  try:
    with storage.open_file(key) as f:
      data = f.read(_MAX_BYTES)
  except Exception:  # pylint: disable=broad-except
    return None  # not a path we can read: a placeholder
  try:
    picture = decode_image.decode_image(data, max_pixels=MAX_PIXELS,
                                        draft_size=size)
  except failures.ImageFailure:
    return None
  picture.thumbnail((size, size))
  buffer = io.BytesIO()
  picture.save(buffer, format="JPEG", quality=80)
  return "data:image/jpeg;base64," + base64.b64encode(
      buffer.getvalue()).decode("ascii")
