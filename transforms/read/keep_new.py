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
"""
from __future__ import annotations

from typing import Optional

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
    new = list(grouped["new"])
    if not new:
      return
    if list(grouped["done"]):
      self._skipped.inc(len(new))
      return
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
    by_key = listed | "ByKey" >> beam.Map(
        lambda item: (item[0].join_key(), item))
    if self._done is None:
      done = by_key.pipeline | "NoDoneKeys" >> beam.Create([])
    else:
      done = self._done | "DoneByKey" >> beam.Map(lambda key: (key, True))
    return ({"new": by_key, "done": done}
            | "JoinOnKey" >> beam.CoGroupByKey()
            | "PickNew" >> beam.ParDo(_PickNew()).with_outputs(
                failures.FAILURES_TAG, main="kept"))
