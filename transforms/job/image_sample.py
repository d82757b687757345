"""The job's own images for int8: its first inputs in listing order, read and
decoded exactly as the job's decode step does (``decode.batch``).

The first ``--calibration_images`` inputs calibrate and the next
``--int8_check_images`` gate, so the two never overlap; a job with fewer
inputs than both splits them 60 / 40, and below 100 int8 is refused. The
order is the job's listing order, which is deterministic (``read.listing``
sorts each glob's matches; globs, manifest rows and TFRecord records keep
their order), so two runs over the same inputs calibrate on the same
images. Inputs that fail to read or decode are left out, as the job would
fail them. A job whose quantized model is cached decodes only its check
images.
"""
from __future__ import annotations

import concurrent.futures
import os
from typing import Iterator, List, Optional, Tuple

import numpy as np

from transforms.core import elements
from transforms.core import failures
from transforms.core import flags
from transforms.decode import batch
from transforms.decode import settings as decode_settings
from transforms.model.openvino.quantization import config as quant_config
from transforms.read import files
from transforms.read import listing
from transforms.read import manifest
from transforms.read import parquet_images
from transforms.read import settings as read_settings
from transforms.read import storage
from transforms.read import tar_samples
from transforms.read import tfrecord
from transforms.read import webdataset


def _listed(read: read_settings.ReadSettings
            ) -> Iterator[listing.ListedFile]:
  seen = set()
  for pattern in read.patterns:
    for listed in listing.match_pattern(pattern):
      if listed not in seen:
        seen.add(listed)
        yield listed


def _inputs(read: read_settings.ReadSettings
            ) -> Iterator[elements.ImageInput]:
  if read.input_format == read_settings.FORMAT_FILES:
    for listed in _listed(read):
      yield files.listed_input(listed)
  elif read.input_format == read_settings.FORMAT_MANIFEST:
    for listed in _listed(read):
      for row in manifest.manifest_rows(listed.path(), read.uri_column,
                                        read.key_column, ()):
        uri = row[read.uri_column]
        if uri not in (None, ""):
          yield elements.ImageInput(elements.ImageKey(str(uri)), uri=str(uri))
  elif read.input_format == read_settings.FORMAT_WEBDATASET:
    for listed in _listed(read):
      try:
        with storage.open_file(listed.path()) as stream:
          for sample in tar_samples.samples(tar_samples.members(stream)):
            outcome = webdataset.sample_input(listed, sample,
                                              read.image_extensions, ())
            if isinstance(outcome, elements.ImageInput):
              yield outcome
      except tar_samples.DamagedArchive:
        continue  # the samples before the damage were yielded
  elif read.input_format == read_settings.FORMAT_PARQUET:
    for listed in _listed(read):
      source = parquet_images.parquet_file(listed.path())
      position = 0
      for group in range(source.metadata.num_row_groups):
        cells = source.read_row_group(
            group, columns=[read.image_column]).column(0).to_pylist()
        for cell in cells:
          data = parquet_images.image_bytes(cell)
          if data is not None:
            yield elements.ImageInput(
                elements.ImageKey(f"{listed.key}:{position}"), data=data)
          position += 1
  else:
    for listed in _listed(read):
      for index, record in enumerate(storage.iter_records(listed.path())):
        try:
          image_key, data = tfrecord.parse_example(
              record, f"{listed.key}:{index}", read.image_feature,
              read.key_feature)
        except failures.ImageFailure:
          continue
        yield elements.ImageInput(image_key, data=data)


def first_inputs(read: read_settings.ReadSettings,
                 count: int) -> List[elements.ImageInput]:
  """The job's first ``count`` inputs, in its listing order."""
  found: List[elements.ImageInput] = []
  keys = set()
  for item in _inputs(read):
    if item.image_key.join_key() in keys:
      continue  # the job keeps a key's first input only
    keys.add(item.image_key.join_key())
    found.append(item)
    if len(found) >= count:
      break
  return found


def decode_all(items: List[elements.ImageInput], size: Tuple[int, int],
               settings: decode_settings.DecodeSettings) -> np.ndarray:
  """uint8 [n, height, width, 3] of the items that decode, in order."""
  workers = max(1, os.cpu_count() or 1)
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    outcomes = list(pool.map(
        lambda item: batch.load_pixels(item, size, settings), items))
  pixels = [o for o in outcomes if not isinstance(o, failures.Failure)]
  if not pixels:
    return np.zeros((0, size[0], size[1], 3), np.uint8)
  return np.stack(pixels)


class JobImageSample:
  """The calibration and check images of one job (``calibration.
  ImageSample``), read and decoded when first asked for."""

  def __init__(self, read: read_settings.ReadSettings,
               decode: decode_settings.DecodeSettings,
               image_size: Tuple[int, int],
               quantization: quant_config.QuantizationSettings):
    self._read, self._decode = read, decode
    self._size = image_size
    self._quantization = quantization
    self._split: Optional[Tuple[List[elements.ImageInput],
                                List[elements.ImageInput]]] = None
    self._pixels: List[Optional[np.ndarray]] = [None, None]

  def _inputs_split(self):
    if self._split is None:
      q = self._quantization
      items = first_inputs(self._read, q.calibration_images + q.check_images)
      try:
        n_cal, n_check = quant_config.split_sizes(len(items), q)
      except ValueError as e:
        raise flags.ConfigError(f"--precision int8: {e}") from None
      self._split = items[:n_cal], items[n_cal:n_cal + n_check]
    return self._split

  def _decoded(self, part: int, what: str) -> np.ndarray:
    """The calibration (0) or check (1) inputs, read and decoded once."""
    if self._pixels[part] is None:
      pixels = decode_all(self._inputs_split()[part], self._size,
                          self._decode)
      if not len(pixels):
        raise flags.ConfigError(
            f"--precision int8: none of the job's {what} inputs decoded")
      self._pixels[part] = pixels
    return self._pixels[part]  # type: ignore[return-value]

  def calibration(self) -> np.ndarray:
    return self._decoded(0, "calibration")

  def check(self) -> np.ndarray:
    return self._decoded(1, "check")
