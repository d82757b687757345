"""Inputs to model pixels, one input or one batch at a time: pure functions
under the decode step's DoFn."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from transforms.core import elements
from transforms.core import failures
from transforms.decode import resize
from transforms.decode import settings as decode_settings
from transforms.read import files

Outcome = Union[np.ndarray, failures.Failure]


def load_pixels(item: elements.ImageInput, size: Tuple[int, int],
                settings: decode_settings.DecodeSettings) -> Outcome:
  """Reads (when the source gave a file) and decodes one input.

  Returns:
    uint8 [height, width, 3] at ``size``, or the input's ``Failure``: stage
    ``read`` when its bytes cannot be read, ``decode`` when they are not an
    image the settings accept.
  """
  key, escaped = item.image_key.key, item.image_key.escaped
  try:
    data = files.input_bytes(item)
  except failures.ImageFailure as e:
    return failures.failure_record(key, failures.STAGE_READ, e, escaped)
  try:
    return resize.prepare_image(data, size, settings.resize,
                                settings.max_pixels, settings.jpeg_draft)
  except failures.ImageFailure as e:
    if item.content_type:
      e = failures.ImageFailure(
          e.reason, f"{e.message} (served as {item.content_type[:100]!r}, "
          f"{len(data):,} bytes)", e.key)
    return failures.failure_record(key, failures.STAGE_DECODE, e, escaped)


def assemble(items: Sequence[elements.ImageInput], outcomes: Sequence[Outcome]
             ) -> Tuple[Optional[elements.DecodedBatch], List[failures.Failure]]:
  """One batch's outcomes -> the decoded batch of those that decoded (None
  if none did) and the failures of the rest, in input order."""
  keys, pixels, failed = [], [], []
  for item, outcome in zip(items, outcomes):
    if isinstance(outcome, failures.Failure):
      failed.append(outcome)
    else:
      keys.append(item.image_key)
      pixels.append(outcome)
  if not keys:
    return None, failed
  return elements.DecodedBatch(tuple(keys), np.stack(pixels)), failed
