"""The calibration and check images, as the quantizer and the gate see
them: a sample of the job's own inputs, decoded exactly as the job decodes
them.

The job builds the sample (``job.image_sample``: it alone knows how to read
and decode the inputs); this module says what a sample is and how its
pixels are digested and handed to NNCF. Calibration and check images are
disjoint by construction: the first inputs of the job's spread sample
calibrate, the next ones check.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterator, Protocol

import numpy as np


class ImageSample(Protocol):
  """The job's images for quantization, decoded on demand (a job whose
  quantized model is cached decodes only its check images)."""

  def calibration(self) -> np.ndarray:
    """uint8 [n, height, width, 3]: the sample's first inputs that decoded."""

  def check(self) -> np.ndarray:
    """uint8 [m, height, width, 3]: its next inputs that decoded."""


def pixels_digest(pixels: np.ndarray) -> str:
  """sha256 of a batch of uint8 pixels (shape and bytes): the same images,
  decoded the same way, give the same digest."""
  digest = hashlib.sha256(str(tuple(pixels.shape)).encode())
  digest.update(np.ascontiguousarray(pixels, np.uint8).tobytes())
  return digest.hexdigest()


def batches(pixels: np.ndarray, size: int) -> Iterator[np.ndarray]:
  for start in range(0, len(pixels), size):
    yield pixels[start:start + size]


def nncf_dataset(pixels: np.ndarray) -> Any:
  """An ``nncf.Dataset`` of single-image uint8 batches, the model's input
  as the job feeds it."""
  import nncf  # pylint: disable=g-import-not-at-top
  return nncf.Dataset([pixels[i:i + 1] for i in range(len(pixels))])
