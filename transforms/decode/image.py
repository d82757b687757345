"""Image bytes to an upright 8-bit RGB picture: the decode policy.

Pure functions on bytes; no Beam and no TensorFlow. Every way an input can be
bad ends in :class:`~transforms.core.failures.ImageFailure` with a distinct reason
code, never in another exception type.

Policy:
  * Formats: JPEG (and MPO, which phones write), PNG, GIF, BMP, WebP, TIFF.
  * EXIF orientation is applied, so a sideways-stored phone photo is upright.
  * Grayscale, palette, CMYK and 16-bit images become 8-bit RGB; 16-bit
    values are scaled (not clipped) to 8 bits.
  * Transparent images are composited on a white background
    (:data:`ALPHA_BACKGROUND`), which is how browsers and most product photo
    pipelines show them.
  * Animated images (GIF, WebP, APNG) use their first frame.
  * The pixel count in the header is checked against ``max_pixels`` before any
    pixel memory is allocated (decompression bombs).
"""
from __future__ import annotations

import io
import warnings
from typing import Optional

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from transforms.core import failures

# Pillow's JPEG plugin also opens MPO (multi-picture JPEGs from phones).
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 10000x10000 scan still passes.
ALPHA_BACKGROUND = (255, 255, 255)

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

# Never decode half an image silently: a truncated upload is a failure.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Register every plugin now; Image.open(formats=...) only preloads a few.
Image.init()


def decode_image(data: bytes,
                 max_pixels: int = DEFAULT_MAX_PIXELS,
                 draft_size: Optional[int] = None) -> Image.Image:
  """Decodes encoded image bytes to an upright RGB image.

  Args:
    data: the encoded file contents.
    max_pixels: the largest width * height accepted, checked on the header.
    draft_size: if set, JPEGs may be decoded at a reduced DCT scale (1/2, 1/4,
      1/8) as long as both sides stay >= ``draft_size``. Much cheaper for
      large photos; the result is then resized anyway.

  Returns:
    A loaded PIL image in mode ``RGB``.

  Raises:
    failures.ImageFailure: with reason ``empty_file``, ``not_an_image``,
      ``too_many_pixels``, ``truncated`` or ``corrupt``.
  """
  if not data:
    raise failures.ImageFailure(failures.REASON_EMPTY, "file is empty (0 bytes)")
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      return _decode(data, max_pixels, draft_size)
  except failures.ImageFailure:
    raise
  except UnidentifiedImageError:
    raise failures.ImageFailure(
        failures.REASON_NOT_AN_IMAGE,
        f"not a recognised image (supported: {', '.join(SUPPORTED_FORMATS)}); "
        f"{len(data):,} bytes that look like {looks_like(data)}") from None
  except Image.DecompressionBombError as e:
    raise failures.ImageFailure(failures.REASON_TOO_LARGE, str(e)) from None
  except (OSError, SyntaxError, ValueError, EOFError) as e:
    text = str(e)
    lowered = text.lower()
    if "truncated" in lowered or isinstance(e, EOFError) or (
        "not enough data" in lowered or "premature end" in lowered):
      raise failures.ImageFailure(failures.REASON_TRUNCATED,
                                  f"truncated image data: {text}") from None
    raise failures.ImageFailure(failures.REASON_CORRUPT,
                                f"{type(e).__name__}: {text}") from None
  except Exception as e:  # pylint: disable=broad-except
    # Pillow's plugins raise a zoo of types (struct.error, IndexError, ...) on
    # garbled input; none of them may escape as anything but a failure.
    raise failures.ImageFailure(failures.REASON_CORRUPT,
                                f"{type(e).__name__}: {e}") from None


# Leading bytes -> what a person calls such a file. Used to describe a
# file that is not an image without copying any of its bytes.
_MAGIC = ((b"%PDF", "a PDF"), (b"\x1f\x8b", "gzip data"),
          (b"PK\x03\x04", "a zip archive"), (b"\x00\x00\x00", "binary data"),
          (b"RIFF", "a RIFF file (audio or video)"),
          (b"\x7fELF", "an executable"))


def looks_like(data: bytes) -> str:
  """What ``data`` looks like, in a few words, copying none of it."""
  for magic, kind in _MAGIC:
    if data.startswith(magic):
      return kind
  head = data[:512]
  try:
    text = head.decode("utf-8")
  except UnicodeDecodeError as e:
    # Text whose last character is cut at 512 bytes is still text.
    if len(head) < 512 or e.start < len(head) - 3:
      return "binary data"
    text = head[:e.start].decode("utf-8")
  stripped = text.lstrip().lower()
  if stripped.startswith(("<!doctype html", "<html", "<head", "<body")):
    return "HTML"
  if stripped.startswith("<"):
    return "XML or HTML"
  if stripped.startswith(("{", "[")):
    return "JSON"
  if all(c.isprintable() or c.isspace() for c in text):
    return "text"
  return "binary data"


def _decode(data: bytes, max_pixels: int,
            draft_size: Optional[int]) -> Image.Image:
  image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
  width, height = image.size
  if width <= 0 or height <= 0:
    raise failures.ImageFailure(failures.REASON_CORRUPT,
                                f"image header says {width}x{height}")
  if width * height > max_pixels:
    raise failures.ImageFailure(
        failures.REASON_TOO_LARGE,
        f"image is {width}x{height} = {width * height} pixels, over the "
        f"limit of {max_pixels} (--max_pixels)")
  if draft_size and image.format in ("JPEG", "MPO"):
    image.draft(None, (draft_size, draft_size))
  image.load()
  return to_rgb(_apply_exif_orientation(image))


_EXIF_ORIENTATION = 0x0112


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
  try:
    if image.getexif().get(_EXIF_ORIENTATION, 1) == 1:
      return image  # Upright already; exif_transpose would copy it.
    return ImageOps.exif_transpose(image)
  except Exception:  # pylint: disable=broad-except
    # A garbled EXIF block should not cost the image: keep it as stored.
    return image


def to_rgb(image: Image.Image) -> Image.Image:
  """Converts any Pillow mode to 8-bit RGB following the policy above."""
  mode = image.mode
  if mode == "RGB":
    return image
  if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
    return Image.fromarray(_to_uint8_gray(image), mode="L").convert("RGB")
  has_alpha = mode in _ALPHA_MODES or (
      mode in ("P", "L", "RGB") and "transparency" in image.info)
  if has_alpha:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")
  return image.convert("RGB")


def _to_uint8_gray(image: Image.Image) -> np.ndarray:
  values = np.asarray(image)
  if image.mode == "F":
    scale = 255.0 if values.size and float(np.nanmax(values)) <= 1.0 else 1.0
    return np.clip(np.nan_to_num(values) * scale, 0, 255).round().astype(
        np.uint8)
  values = values.astype(np.int64)
  if image.mode in _SIXTEEN_BIT_MODES or (values.size and values.max() > 255):
    # 16-bit full scale (65535) maps to 255; round to nearest.
    return ((np.clip(values, 0, 65535) * 255 + 32767) // 65535).astype(
        np.uint8)
  return np.clip(values, 0, 255).astype(np.uint8)

