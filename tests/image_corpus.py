"""Generates the test corpus: every image format and mode, and every way a
file can be bad, each with what the pipeline must do with it."""
from __future__ import annotations

import io
import struct
import zlib
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image

RED = (230, 20, 20)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format=fmt, **kwargs)
  return buffer.getvalue()


def solid(mode: str, color, size=(40, 30)) -> Image.Image:
  return Image.new(mode, size, color)


def solid_pngs(folder, count: int, color, prefix: str = "img") -> None:
  """Writes ``count`` solid PNGs ``<prefix><i>.png`` into ``folder`` (a
  pathlib.Path), image i of colour ``color(i)``."""
  folder.mkdir(exist_ok=True)
  for i in range(count):
    (folder / f"{prefix}{i}.png").write_bytes(
        encode(solid("RGB", color(i)), "PNG"))


def png_sixteen_bit(value: int, size=(20, 10)) -> bytes:
  pixels = np.full((size[1], size[0]), value, dtype=np.uint16)
  image = Image.fromarray(pixels)  # uint16 -> mode I;16
  assert image.mode == "I;16"
  return encode(image, "PNG")


def with_exif_orientation(image: Image.Image, orientation: int) -> bytes:
  exif = Image.Exif()
  exif[0x0112] = orientation
  return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def animated_gif(first=RED, second=(20, 20, 230)) -> bytes:
  frames = [solid("RGB", first), solid("RGB", second)]
  buffer = io.BytesIO()
  frames[0].save(buffer, format="GIF", save_all=True,
                 append_images=frames[1:], duration=100, loop=0)
  return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
  """A valid small PNG whose IHDR is rewritten to claim width x height."""
  data = bytearray(encode(solid("RGB", RED, (4, 4)), "PNG"))
  ihdr = data.index(b"IHDR")
  data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
  crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
  data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
  return bytes(data)


def noise_jpeg(size=(64, 48), seed=0) -> bytes:
  rng = np.random.default_rng(seed)
  return encode(Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3),
                                             dtype=np.uint8)), "JPEG")


def garbled_png() -> bytes:
  data = bytearray(encode(solid("RGB", RED, (64, 64)), "PNG"))
  idat = data.index(b"IDAT")
  for i in range(idat + 8, min(idat + 40, len(data) - 12)):
    data[i] ^= 0x5A
  return bytes(data)


# name -> (bytes, expected: the reason code for a failure, or the RGB colour
# the decoded image must have, or None for "decodes, content not checked").
def corpus() -> Dict[str, Tuple[bytes, object]]:
  photo = noise_jpeg()
  cmyk = solid("CMYK", (0, 255, 255, 0))  # pure red in CMYK
  palette = solid("RGB", RED).convert("P", palette=Image.Palette.ADAPTIVE)
  transparent = solid("RGBA", (0, 0, 0, 0))
  return {
      "red.jpg": (encode(solid("RGB", RED), "JPEG", quality=95), RED),
      "red.png": (encode(solid("RGB", RED), "PNG"), RED),
      "red.bmp": (encode(solid("RGB", RED), "BMP"), RED),
      "red.webp": (encode(solid("RGB", RED), "WEBP", lossless=True), RED),
      "red.tiff": (encode(solid("RGB", RED), "TIFF"), RED),
      "gray.png": (encode(solid("L", 128), "PNG"), (128, 128, 128)),
      "bilevel.png": (encode(solid("1", 1), "PNG"), (255, 255, 255)),
      "palette.gif": (encode(palette, "GIF"), RED),
      "cmyk.jpg": (encode(cmyk, "JPEG", quality=95), (255, 0, 0)),
      "sixteen_bit.png": (png_sixteen_bit(32896), (128, 128, 128)),
      "transparent.png": (encode(transparent, "PNG"), (255, 255, 255)),
      "gray_alpha.png": (encode(solid("LA", (0, 255)), "PNG"), (0, 0, 0)),
      "animated.gif": (animated_gif(), RED),
      "exif_rotated.jpg": (with_exif_orientation(solid("RGB", RED), 6), RED),
      "photo.jpg": (photo, None),
      "empty.jpg": (b"", "empty_file"),
      "error_page.jpg": (b"<!DOCTYPE html><html><body>403 Forbidden</body>"
                         b"</html>", "not_an_image"),
      "truncated.jpg": (photo[:len(photo) // 2], "truncated"),
      "garbled.png": (garbled_png(), "corrupt"),
      "bomb.png": (png_claiming_size(60000, 60000), "too_many_pixels"),
  }


def expected_color(expected) -> Optional[Tuple[int, int, int]]:
  return expected if isinstance(expected, tuple) else None
