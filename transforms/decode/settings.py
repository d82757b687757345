"""The decode stage's settings and flags: how bytes become model pixels."""
from __future__ import annotations

import dataclasses
from typing import Optional

from transforms.core import flags
from transforms.decode import image
from transforms.decode import resize


@dataclasses.dataclass(frozen=True)
class DecodeSettings:
  """Attributes mirror the flags of :func:`add_flags`. The size images are
  resized to is the model's (``--image_size`` is a model flag): the decode
  step takes it as a constructor argument."""
  resize: str = resize.SQUASH
  max_pixels: int = image.DEFAULT_MAX_PIXELS
  jpeg_draft: Optional[float] = 1.0
  threads: int = 1


_DEFAULTS = DecodeSettings()


def add_flags(parser) -> None:
  add = parser.add_argument
  add("--resize", default=_DEFAULTS.resize,
      help=f"One of {', '.join(resize.RESIZE_MODES)}.")
  add("--max_pixels", type=int, default=_DEFAULTS.max_pixels,
      help="Reject images with more pixels than this (checked on the "
      "header).")
  add("--jpeg_draft", type=float, default=_DEFAULTS.jpeg_draft,
      help="Decode JPEGs at reduced DCT scale while both sides stay >= "
      "this x the model size; 0 decodes at full size.")
  add("--decode_threads", type=int, default=_DEFAULTS.threads,
      help="Read and decode each batch in this many background threads "
      "per worker, one batch ahead of the model; 0 works inline.")


def from_flags(o) -> DecodeSettings:
  """Raises flags.ConfigError for a bad value."""
  if o.jpeg_draft < 0 or 0 < o.jpeg_draft < 1:
    raise flags.ConfigError(f"--jpeg_draft: expected 0 (off) or a factor "
                            f">= 1, found {o.jpeg_draft}")
  if o.decode_threads < 0:
    raise flags.ConfigError(f"--decode_threads: expected 0 or more, found "
                            f"{o.decode_threads}")
  return DecodeSettings(
      resize=flags.choice("resize", o.resize, resize.RESIZE_MODES),
      max_pixels=flags.positive("max_pixels", o.max_pixels),
      jpeg_draft=o.jpeg_draft or None, threads=o.decode_threads)
