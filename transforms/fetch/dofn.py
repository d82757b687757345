"""The fetch step: a thin DoFn over ``client.Fetcher``.

Inputs whose URI is http(s) are fetched in this step's threads (up to
``--fetch_concurrency`` at once, the machine-wide and per-host limits
holding across processes); each leaves with its bytes and content type, or
as a ``fetch`` failure, as soon as it is done (not in input order). Every
other input passes through.

The step fetches ahead (``core.ahead``): a URL leaves only once the next
``--fetch_concurrency`` ones have been handed to the pool, so the pool keeps
fetching while decode and the model, fused downstream, run on this step's
thread. Outcomes leave as they complete (``core.ahead.AsCompleted``), not in
input order: a URL on a slow or dead host holds one pool thread until its
deadline, never the URLs behind it. URLs are not batched before fetching: Beam's adaptive batches start
at one element and grow with the time downstream takes, which kept a few
requests in flight where 16 were allowed (benchmarks/README.md, "URLs against files").
"""
from __future__ import annotations

import concurrent.futures
from typing import Optional, Tuple

import apache_beam as beam

from transforms.core import ahead
from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.core import urls
from transforms.fetch import client
from transforms.fetch import settings as fetch_settings


def is_url(item: elements.ImageInput) -> bool:
  return item.data is None and item.uri.lower().startswith(
      ("http://", "https://", "ftp://", "file://", "data:"))


class FetchDoFn(beam.DoFn):
  """ImageInput with a URL -> ImageInput with the bytes, or Failure; any
  other ImageInput passes through, in its place."""

  def __init__(self, settings: fetch_settings.FetchSettings):
    self._settings = settings
    self._fetcher: Optional[client.Fetcher] = None
    self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
    self._ahead: Optional[ahead.AsCompleted] = None
    self._fetched = counters.counter(counters.FETCHED)
    self._bytes = counters.counter(counters.FETCHED_BYTES)

  def setup(self):
    self._fetcher = client.Fetcher(self._settings)
    self._pool = concurrent.futures.ThreadPoolExecutor(
        self._settings.concurrency, thread_name_prefix="fetch")
    # Each URL travels with its window (ahead.in_window): it leaves when it
    # is fetched, whichever input is current then.
    self._ahead = ahead.AsCompleted(self._pool, self._one_where,
                                    depth=self._settings.concurrency)

  def _one(self, item: elements.ImageInput):
    assert self._fetcher is not None
    if not is_url(item):
      return item
    try:
      got = self._fetcher.fetch(item.uri)
    except failures.ImageFailure as e:
      return failures.failure_record(item.image_key.key, failures.STAGE_FETCH,
                                     e, item.image_key.escaped)
    return item._replace(data=got.data, content_type=got.content_type)

  def _one_where(self, item_where: Tuple[elements.ImageInput, ahead.Where]):
    return self._one(item_where[0])

  def process(self, item: elements.ImageInput,
              timestamp=beam.DoFn.TimestampParam,
              window=beam.DoFn.WindowParam):
    assert self._ahead is not None
    current = ahead.where_of(timestamp, window)
    self._ahead.submit((item, current))
    yield from self._ready(self._ahead.ready(), current)

  def finish_bundle(self):
    assert self._ahead is not None
    yield from self._ready(self._ahead.drain())

  def _ready(self, done, current: Optional[ahead.Where] = None):
    for (item, where), outcome in done:
      for output in self._emit(item, outcome):
        yield ahead.in_window(output, where, current)

  def _emit(self, item, outcome):
    if isinstance(outcome, failures.Failure):
      host = urls.host_of(item.uri)
      counters.counter(counters.HOST_FAILURE_PREFIX + host).inc()
      yield failures.tagged(outcome)
    else:
      if is_url(item):
        self._fetched.inc()
        self._bytes.inc(len(outcome.data or b""))
      yield outcome

  def teardown(self):
    if self._pool is not None:
      self._pool.shutdown(wait=False)
    if self._fetcher is not None:
      self._fetcher.close()


class FetchImages(beam.PTransform):
  """ImageInput -> ``images`` (URLs fetched) and ``failures``."""

  def __init__(self, settings: fetch_settings.FetchSettings):
    super().__init__()
    self._settings = settings

  def expand(self, inputs):
    # One step, no split and Flatten around it: the local runner runs a
    # Flatten's consumer as a stage of its own, after every fetch is done,
    # so fetching would not overlap decoding at all (benchmarks/README.md,
    # "URLs against files").
    fetched = inputs | "Fetch" >> beam.ParDo(FetchDoFn(
        self._settings)).with_outputs(failures.FAILURES_TAG, main="images")
    return {"images": fetched.images,
            failures.FAILURES_TAG: fetched[failures.FAILURES_TAG]}
