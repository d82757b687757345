"""Incremental runs, in the pipeline: drop inputs whose key already has a
result, and keep one input per key.

The keys of earlier results arrive as a PCollection (the write stage's
``earlier_results.DoneKeys`` reads them) and are anti-joined against the
listed inputs by key, so it scales with the number of keys instead of
loading a set into the launcher. Of several inputs with one key (repeated in
a manifest or TFRecord), the one listed first wins: lowest file path, then
lowest row or record index (``ImageKey.origin``); each later one is a
``duplicate_key`` failure naming where it was listed and which one won, so
no input is dropped without a word.

What crosses the join is compact: a 16-byte digest of the key and the
input pickled to bytes. The local runner holds a shuffle whole in memory,
decoded (its GroupingBuffer), so the elements' size there is the job's
memory per input: about 5 x less than the NamedTuples themselves (issue
34). The digest is BLAKE2b-128, so two keys collide with odds of about
1e-20 in a billion keys.
"""
from __future__ import annotations

import hashlib
import pickle
from typing import Optional, Tuple

import apache_beam as beam

from transforms.core import counters
from transforms.core import live_counts
from transforms.core import failures


class _PickNew(beam.DoFn):
  """(key, {"new": [...], "done": [...]}) -> the first new input, unless
  the key is done; counts what it drops."""

  def __init__(self):
    self._skipped = counters.counter(counters.SKIPPED_DONE)
    self._duplicates = counters.counter(counters.DUPLICATES)

  def process(self, element):
    _, grouped = element
    packed = list(grouped["new"])
    if not packed:
      return
    if list(grouped["done"]):
      self._skipped.inc(len(packed))
      return
    new = [pickle.loads(item) for item in packed]
    new.sort(key=lambda item: item[0].origin)
    self._duplicates.inc(len(new) - 1)
    yield new[0]
    first = where(new[0][0].origin)
    for item in new[1:]:
      yield failures.failure_output(
          item[0].key, failures.STAGE_READ, failures.REASON_DUPLICATE_KEY,
          f"{where(item[0].origin)} repeats the key of {first}, which is "
          "processed", item[0].escaped)


def where(origin: str) -> str:
  """An ``ImageKey.origin`` as a person reads it: ``FILE row N``."""
  path, _, index = origin.partition("\x00")
  return f"{path} row {int(index)}" if index.isdigit() else path


def key_digest(join_key: Tuple[str, bool]) -> bytes:
  """16 bytes that stand for an ``ImageKey.join_key()`` in the join."""
  key, escaped = join_key
  return hashlib.blake2b(
      key.encode("utf-8", "surrogateescape") + (b"\x01" if escaped
                                               else b"\x00"),
      digest_size=16).digest()


def _packed(item) -> Tuple[bytes, bytes]:
  return key_digest(item[0].join_key()), pickle.dumps(
      item, pickle.HIGHEST_PROTOCOL)


def _done(join_key) -> Tuple[bytes, bytes]:
  return key_digest(tuple(join_key)), b""


class CountListed(beam.DoFn):
  """Passes each input on; adds it to the live ``listed`` count of the job
  running in this process, if any (fused with the listing, so the count
  grows while listing is under way)."""

  def __init__(self, live_job: Optional[str]):
    self._live_job = live_job

  def process(self, item):
    live = live_counts.lookup(self._live_job)
    if live is not None:
      live.add_listed()
    yield item


class KeepNewOnce(beam.PTransform):
  """(ImageKey, payload) -> ``kept``: the same, without keys in ``done``
  and with one element per key (the lowest ``origin``), and ``failures``
  (``duplicate_key`` for the others). Keys are joined on
  ``ImageKey.join_key()``; ``done`` holds such (key, escaped) pairs."""

  def __init__(self, done: Optional[beam.PCollection],
               live_job: Optional[str] = None):
    super().__init__()
    self._done = done
    self._live_job = live_job

  def expand(self, listed):
    if self._live_job is not None:
      listed = listed | "CountListed" >> beam.ParDo(
          CountListed(self._live_job))
    by_key = listed | "ByKey" >> beam.Map(_packed).with_output_types(
        Tuple[bytes, bytes])
    if self._done is None:
      done = by_key.pipeline | "NoDoneKeys" >> beam.Create(
          []).with_output_types(Tuple[bytes, bytes])
    else:
      done = self._done | "DoneByKey" >> beam.Map(_done).with_output_types(
          Tuple[bytes, bytes])
    return ({"new": by_key, "done": done}
            | "JoinOnKey" >> beam.CoGroupByKey()
            | "PickNew" >> beam.ParDo(_PickNew()).with_outputs(
                failures.FAILURES_TAG, main="kept"))
