"""The fetch step: a thin DoFn over ``client.Fetcher``.

Inputs whose URI is http(s) are batched and fetched in this step's threads
(up to ``--fetch_concurrency`` at once, the machine-wide and per-host
limits holding across processes); each leaves with its bytes and content
type, or as a ``fetch`` failure. Every other input passes through.
"""
from __future__ import annotations

import concurrent.futures
import time
import urllib.parse
from typing import Optional, Sequence

import apache_beam as beam

from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.fetch import client
from transforms.fetch import settings as fetch_settings

URLS_TAG = "urls"
BATCH = 64


def is_url(item: elements.ImageInput) -> bool:
  return item.data is None and item.uri.lower().startswith(
      ("http://", "https://", "ftp://", "file://", "data:"))


class _SplitDoFn(beam.DoFn):

  def process(self, item: elements.ImageInput):
    if is_url(item):
      yield beam.pvalue.TaggedOutput(URLS_TAG, item)
    else:
      yield item


class FetchBatchDoFn(beam.DoFn):
  """[ImageInput with a URL] -> ImageInput with the bytes, or Failure."""

  def __init__(self, settings: fetch_settings.FetchSettings):
    self._settings = settings
    self._fetcher: Optional[client.Fetcher] = None
    self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
    self._fetched = counters.counter(counters.FETCHED)
    self._bytes = counters.counter(counters.FETCHED_BYTES)
    self._ms = counters.counter(counters.FETCH_SECONDS_MS)

  def setup(self):
    self._fetcher = client.Fetcher(self._settings)
    self._pool = concurrent.futures.ThreadPoolExecutor(
        self._settings.concurrency, thread_name_prefix="fetch")

  def _one(self, item: elements.ImageInput):
    assert self._fetcher is not None
    try:
      got = self._fetcher.fetch(item.uri)
    except failures.ImageFailure as e:
      return failures.failure_record(item.image_key.key, failures.STAGE_FETCH,
                                     e, item.image_key.escaped)
    return item._replace(data=got.data, content_type=got.content_type)

  def process(self, batch: Sequence[elements.ImageInput]):
    assert self._pool is not None
    started = time.monotonic()
    for item, outcome in zip(batch, self._pool.map(self._one, batch)):
      if isinstance(outcome, failures.Failure):
        host = urllib.parse.urlsplit(item.uri).hostname or "?"
        counters.counter(counters.HOST_FAILURE_PREFIX + host).inc()
        yield failures.tagged(outcome)
      else:
        self._fetched.inc()
        self._bytes.inc(len(outcome.data or b""))
        yield outcome
    self._ms.inc(int(1000 * (time.monotonic() - started)))

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
    split = inputs | "SplitUrls" >> beam.ParDo(_SplitDoFn()).with_outputs(
        URLS_TAG, main="local")
    fetched = (split[URLS_TAG]
               | "BatchUrls" >> beam.BatchElements(
                   min_batch_size=1, max_batch_size=BATCH)
               | "Fetch" >> beam.ParDo(FetchBatchDoFn(
                   self._settings)).with_outputs(failures.FAILURES_TAG,
                                                 main="images"))
    images = ((split.local, fetched.images)
              | "AllImages" >> beam.Flatten())
    return {"images": images,
            failures.FAILURES_TAG: fetched[failures.FAILURES_TAG]}
