"""The job's own images for int8: its first inputs in listing order, read by
the read stage's own DoFns and decoded exactly as the job's decode step
does (``decode.batch``); URLs are fetched with the job's fetch settings.

One reader per format: a damaged container is skipped here exactly as the
job fails it, and keys are the job's, so the sample cannot drift from
what the workers read.

The first ``--calibration_images`` inputs calibrate and the next
``--int8_check_images`` gate, so the two never overlap; a job with fewer
inputs than both splits them 60 / 40, and below 100 int8 is refused. The
order is the job's listing order, which is deterministic (``read.listing``
sorts each glob's matches; globs, manifest rows and TFRecord records keep
their order), so two runs over the same inputs calibrate on the same
images. Inputs that fail to read, fetch or decode are left out, as the job
would fail them. A job whose quantized model is cached decodes only its
check images.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import os
from typing import Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np

from transforms.core import elements
from transforms.core import failures
from transforms.core import flags
from transforms.decode import batch
from transforms.decode import settings as decode_settings
from transforms.fetch import client
from transforms.fetch import dofn as fetch_dofn
from transforms.fetch import settings as fetch_settings
from transforms.model.openvino.quantization import config as quant_config
from transforms.read import files
from transforms.read import listing
from transforms.read import manifest
from transforms.read import parquet_images
from transforms.read import settings as read_settings
from transforms.read import tfrecord
from transforms.read import url_list
from transforms.read import webdataset


# Inputs listed per second pass of a two-pass reader (TFRecord, Parquet).
_CHUNK = 128


def _listed(read: read_settings.ReadSettings
            ) -> Iterator[listing.ListedFile]:
  seen = set()
  for pattern in read.patterns:
    for listed in listing.match_pattern(pattern):
      if listed not in seen:
        seen.add(listed)
        yield listed


def _kept(outputs) -> Iterator:
  """A read-stage DoFn's main outputs; its failures are left out, as the
  job fails them."""
  for output in outputs or ():
    if not isinstance(output, beam.pvalue.TaggedOutput):
      yield output


def _in_chunks(items: Iterator, size: int) -> Iterator[list]:
  while True:
    chunk = list(itertools.islice(items, size))
    if not chunk:
      return
    yield chunk


def _inputs(read: read_settings.ReadSettings
            ) -> Iterator[elements.ImageInput]:
  """The job's inputs in its listing order, read by the read stage's own
  DoFns (one reader per format: damage is handled, and keys made, as the
  job does), pass one and pass two alike."""
  kind = read.input_format
  for listed in _listed(read):
    if kind == read_settings.FORMAT_FILES:
      yield files.listed_input(listed)
    elif kind == read_settings.FORMAT_MANIFEST:
      yield from _kept(manifest.ListManifestDoFn(
          read.uri_column, read.key_column, ()).process(listed))
    elif kind == read_settings.FORMAT_URLS:
      yield from _kept(url_list.ListUrlsDoFn().process(listed))
    elif kind == read_settings.FORMAT_WEBDATASET:
      yield from _kept(webdataset.ReadShardDoFn(
          read.image_extensions, (), read.max_member_bytes).process(
              (listed, frozenset())))
    elif kind == read_settings.FORMAT_PARQUET:
      groups = _kept(parquet_images.ListRowGroupsDoFn(
          read.image_column, read.key_column, ()).process(listed))
      for group in groups:
        keys = _kept(parquet_images.ListRowKeysDoFn(
            read.key_column).process(group))
        for chunk in _in_chunks(keys, _CHUNK):
          file, row_group, _ = chunk[0][1]
          yield from _kept(parquet_images.ReadKeptRowsDoFn(
              read.image_column, ()).process(
                  ((file, row_group),
                   [(offset, key) for key, (_, _, offset) in chunk])))
    else:
      records = _kept(tfrecord.ListRecordsDoFn(
          read.image_feature, read.key_feature).process(listed))
      for chunk in _in_chunks(records, _CHUNK):
        yield from _kept(tfrecord.ReadKeptRecordsDoFn(
            read.image_feature).process(
                (tuple(listed), [(index, key) for key, (_, index) in chunk])))


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
               settings: decode_settings.DecodeSettings,
               fetch: Optional[fetch_settings.FetchSettings] = None
               ) -> np.ndarray:
  """uint8 [n, height, width, 3] of the items that decode, in order; URLs
  fetched first, as the job's fetch step does (with ``fetch``'s limits)."""
  fetcher = client.Fetcher(fetch) if fetch is not None else None

  def load(item: elements.ImageInput):
    if fetch_dofn.is_url(item):
      if fetcher is None:
        return None
      try:
        got = fetcher.fetch(item.uri)
      except failures.ImageFailure:
        return None   # the job fails it at its fetch step
      item = item._replace(data=got.data, content_type=got.content_type)
    return batch.load_pixels(item, size, settings)

  workers = max(1, os.cpu_count() or 1)
  if fetcher is not None:
    workers = max(workers, fetch.concurrency)  # type: ignore[union-attr]
  try:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      outcomes = list(pool.map(load, items))
  finally:
    if fetcher is not None:
      fetcher.close()
  pixels = [o for o in outcomes
            if o is not None and not isinstance(o, failures.Failure)]
  if not pixels:
    return np.zeros((0, size[0], size[1], 3), np.uint8)
  return np.stack(pixels)


class JobImageSample:
  """The calibration and check images of one job (``calibration.
  ImageSample``), read and decoded when first asked for."""

  def __init__(self, read: read_settings.ReadSettings,
               decode: decode_settings.DecodeSettings,
               image_size: Tuple[int, int],
               quantization: quant_config.QuantizationSettings,
               fetch: Optional[fetch_settings.FetchSettings] = None):
    self._read, self._decode = read, decode
    self._fetch = fetch
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
                          self._decode, self._fetch)
      if not len(pixels):
        raise flags.ConfigError(
            f"--precision int8: none of the job's {what} inputs decoded")
      self._pixels[part] = pixels
    return self._pixels[part]  # type: ignore[return-value]

  def calibration(self) -> np.ndarray:
    return self._decoded(0, "calibration")

  def check(self) -> np.ndarray:
    return self._decoded(1, "check")
