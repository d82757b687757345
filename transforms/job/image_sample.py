"""The job's own images for int8: a sample spread over the whole job, read
by the read stage's own DoFns and decoded exactly as the job's decode step
does (``decode.batch``); URLs are fetched with the job's fetch settings.

One reader per format: a damaged container is skipped here exactly as the
job fails it, and keys are the job's, so the sample cannot drift from
what the workers read.

Spread, not first (issue 35): on a class-sorted tree (``train/<class>/``)
the first inputs in listing order are one or two classes, and a gate on
them measures almost nothing of the job. The sample is the inputs whose
key hashes lowest (a stable hash: the same inputs give the same sample in
every run, whatever order the listing returns them in), which is a
uniform random sample of the job's keys. Listing keys is cheap for loose
files, manifests, URL lists and Parquet (names, text rows, the key
column): their whole listing is scanned, holding only the sample. For
TFRecord and WebDataset, knowing a key means reading the record, so the
sample is spread over the shards instead (in hash order of their paths,
an equal share from each).

Of the sample in hash order, the first ``--calibration_images`` calibrate
and the next ``--int8_check_images`` gate, so the two never overlap and
both are spread; a job with fewer inputs than both splits them 60 / 40,
and below 100 int8 is refused. Inputs that fail to read, fetch or decode
are left out, as the job would fail them. A job whose quantized model is
cached decodes only its check images.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import heapq
import itertools
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

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


def _listed_any_order(read: read_settings.ReadSettings
                      ) -> Iterator[listing.ListedFile]:
  """The job's matched files in no set order, without holding the listing
  (local globs stream from a directory walk). A file two globs match comes
  twice: the sample keeps a key once, whichever way it came."""
  for pattern in read.patterns:
    if listing.is_local(pattern):
      yield from listing.iter_local(pattern)
    else:
      yield from listing.match_pattern(pattern)


def sample_rank(image_key: elements.ImageKey) -> int:
  """Where a key falls in the sample's order: a stable 64-bit hash."""
  key, escaped = image_key.join_key()
  digest = hashlib.blake2b(
      key.encode("utf-8", "surrogateescape") + (b"\x01" if escaped else b""),
      digest_size=8).digest()
  return int.from_bytes(digest, "big")


class _Lowest:
  """The ``count`` distinct keys of lowest rank seen so far, with what
  each came with (a key seen again keeps its first: the job keeps a key's
  first input only). O(count) memory, whatever the listing's length."""

  def __init__(self, count: int):
    self._count = count
    self._heap: List[Tuple[int, Tuple[str, bool], object]] = []
    self._held: Dict[Tuple[str, bool], int] = {}

  def offer(self, image_key: elements.ImageKey, value: object) -> None:
    join = image_key.join_key()
    if join in self._held or self._count <= 0:
      return
    rank = sample_rank(image_key)
    if len(self._heap) < self._count:
      heapq.heappush(self._heap, (-rank, join, value))
      self._held[join] = rank
    elif rank < -self._heap[0][0]:
      _, dropped, _ = heapq.heapreplace(self._heap, (-rank, join, value))
      del self._held[dropped]
      self._held[join] = rank

  def in_order(self) -> List[object]:
    """What came with each held key, lowest rank first."""
    return [value for _, _, value in
            sorted(self._heap, key=lambda entry: (-entry[0], entry[1]))]


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


def _cheap_keys(read: read_settings.ReadSettings,
                listed: listing.ListedFile
                ) -> Iterator[Tuple[elements.ImageKey, object]]:
  """(key, how to read it) per input of one matched file, for the formats
  whose keys are listed without their image bytes."""
  kind = read.input_format
  if kind == read_settings.FORMAT_FILES:
    item = files.listed_input(listed)
    yield item.image_key, item
  elif kind == read_settings.FORMAT_MANIFEST:
    for item in _kept(manifest.ListManifestDoFn(
        read.uri_column, read.key_column, ()).process(listed)):
      yield item.image_key, item
  elif kind == read_settings.FORMAT_URLS:
    for item in _kept(url_list.ListUrlsDoFn().process(listed)):
      yield item.image_key, item
  else:  # Parquet: pass one reads the key column only
    for group in _kept(parquet_images.ListRowGroupsDoFn(
        read.image_column, read.key_column, ()).process(listed)):
      yield from _kept(parquet_images.ListRowKeysDoFn(
          read.key_column).process(group))


def _parquet_rows(read: read_settings.ReadSettings,
                  chosen: List[Tuple[elements.ImageKey, tuple]]
                  ) -> Iterator[elements.ImageInput]:
  """Pass two for the chosen rows: their bytes, a row group at a time."""
  by_group: Dict[tuple, list] = {}
  for image_key, (file, group, offset) in chosen:
    by_group.setdefault((file, group), []).append((offset, image_key))
  reader = parquet_images.ReadKeptRowsDoFn(read.image_column, ())
  for where, wanted in by_group.items():
    yield from _kept(reader.process((where, wanted)))


def _shard_inputs(read: read_settings.ReadSettings,
                  listed: listing.ListedFile
                  ) -> Iterator[elements.ImageInput]:
  """A TFRecord or WebDataset shard's inputs in its own order, read as the
  job reads them."""
  if read.input_format == read_settings.FORMAT_WEBDATASET:
    yield from _kept(webdataset.ReadShardDoFn(
        read.image_extensions, (), read.max_member_bytes).process(
            (listed, frozenset())))
    return
  records = _kept(tfrecord.ListRecordsDoFn(
      read.image_feature, read.key_feature).process(listed))
  for chunk in _in_chunks(records, _CHUNK):
    yield from _kept(tfrecord.ReadKeptRecordsDoFn(
        read.image_feature).process(
            (tuple(listed), [(index, key) for key, (_, index) in chunk])))


def _from_shards(read: read_settings.ReadSettings,
                 count: int) -> List[elements.ImageInput]:
  """An equal share of ``count`` from each shard (rounded down), shards in
  hash order of their paths; what the shares leave, or shards too small
  for theirs, is taken in further rounds of one share each."""
  shards = sorted(set(_listed_any_order(read)),
                  key=lambda s: sample_rank(elements.ImageKey(s.key)))
  taken: Dict[Tuple[str, bool], elements.ImageInput] = {}
  share = max(1, count // max(1, len(shards)))
  skip: Dict[int, int] = {}
  while len(taken) < count:
    grew = False
    for number, shard in enumerate(shards):
      if len(taken) >= count:
        break
      start = skip.get(number, 0)
      if start < 0:
        continue  # this shard is used up
      got = list(itertools.islice(_shard_inputs(read, shard), start,
                                  start + share))
      skip[number] = start + share if len(got) == share else -1
      for item in got[:count - len(taken)]:
        if item.image_key.join_key() not in taken:
          taken[item.image_key.join_key()] = item
          grew = True
    if not grew:
      break
  return sorted(taken.values(), key=lambda i: sample_rank(i.image_key))


def spread_inputs(read: read_settings.ReadSettings,
                  count: int) -> List[elements.ImageInput]:
  """``count`` of the job's inputs spread over all of it (see the module
  docstring), lowest rank first; fewer when the job has fewer."""
  kind = read.input_format
  if kind in (read_settings.FORMAT_TFRECORD, read_settings.FORMAT_WEBDATASET):
    return _from_shards(read, count)
  lowest = _Lowest(count)
  for listed in _listed_any_order(read):
    for image_key, how in _cheap_keys(read, listed):
      lowest.offer(image_key, (image_key, how))
  chosen: List[Tuple[elements.ImageKey, Any]] = lowest.in_order()  # type: ignore[assignment]
  if kind != read_settings.FORMAT_PARQUET:
    return [item for _, item in chosen]
  rank = {image_key.join_key(): r
          for r, (image_key, _) in enumerate(chosen)}
  read_rows = list(_parquet_rows(read, chosen))
  return sorted(read_rows, key=lambda i: rank[i.image_key.join_key()])


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
               fetch: Optional[fetch_settings.FetchSettings] = None,
               inputs: Optional[List[elements.ImageInput]] = None):
    """Args:
      read: the job's read settings: the sample is spread over its inputs.
      decode: decoded as the job decodes.
      image_size: at the model's size.
      quantization: how many images calibrate and check.
      fetch: URLs are fetched with these settings.
      inputs: the images to sample from instead of ``read``'s (the
        library's ``int8_sample`` as a list); spread the same way.
    """
    self._read, self._decode = read, decode
    self._inputs = inputs
    self._fetch = fetch
    self._size = image_size
    self._quantization = quantization
    self._split: Optional[Tuple[List[elements.ImageInput],
                                List[elements.ImageInput]]] = None
    self._pixels: List[Optional[np.ndarray]] = [None, None]

  def _inputs_split(self):
    if self._split is None:
      q = self._quantization
      count = q.calibration_images + q.check_images
      if self._inputs is not None:
        items = sorted(self._inputs,
                       key=lambda i: sample_rank(i.image_key))[:count]
      else:
        items = spread_inputs(self._read, count)
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
