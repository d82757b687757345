"""Thin DoFns around the pure decode, row-building and failure functions."""
from __future__ import annotations

import collections
import logging
import time
from concurrent import futures
from typing import Deque, Optional, Tuple

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils import timestamp
from apache_beam.utils import windowed_value

from transforms import failures
from transforms import metrics
from transforms import model_handler
from transforms import predictions
from transforms import records
from transforms import resize

_LOGGER = logging.getLogger("hub_image_beam")
PROGRESS_EVERY_SECS = 30.0


class DecodeImageDoFn(beam.DoFn):
  """EncodedImage -> (ImageKey, uint8 [h, w, 3]), or a decode failure.

  With ``threads`` > 0, images are decoded in a thread pool up to
  ``threads * PREFETCH_PER_THREAD`` elements ahead of what has been emitted,
  so decoding overlaps with the model that runs downstream in this same
  thread (Pillow and TensorFlow both release the GIL). Output order and
  every counter stay on the calling thread.
  """

  PREFETCH_PER_THREAD = 32

  def __init__(self, size: Tuple[int, int], mode: str, max_pixels: int,
               jpeg_draft: Optional[float], threads: int = 0):
    self._size, self._mode = size, mode
    self._max_pixels, self._jpeg_draft = max_pixels, jpeg_draft
    self._threads = threads
    self._decoded = metrics.counter(metrics.DECODED)
    self._pool = None
    self._pending: Deque[Tuple[records.ImageKey, futures.Future]] = (
        collections.deque())

  def setup(self):
    if self._threads:
      self._pool = futures.ThreadPoolExecutor(
          self._threads, thread_name_prefix="decode")

  def teardown(self):
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)

  def _decode(self, data: bytes):
    try:
      return resize.prepare_image(data, self._size, self._mode,
                                  self._max_pixels, self._jpeg_draft)
    except failures.ImageFailure as e:
      return e

  def _emit(self, image_key: records.ImageKey, outcome):
    if isinstance(outcome, failures.ImageFailure):
      return beam.pvalue.TaggedOutput(
          failures.FAILURES_TAG,
          failures.Failure(image_key.key, failures.STAGE_DECODE,
                           outcome.reason, outcome.message))
    self._decoded.inc()
    return image_key, outcome

  def process(self, element: records.EncodedImage):
    if self._pool is None:
      yield self._emit(element.image_key, self._decode(element.data))
      return
    self._pending.append((element.image_key,
                          self._pool.submit(self._decode, element.data)))
    while len(self._pending) > self._threads * self.PREFETCH_PER_THREAD:
      image_key, future = self._pending.popleft()
      yield self._emit(image_key, future.result())

  def finish_bundle(self):
    while self._pending:
      image_key, future = self._pending.popleft()
      output = self._emit(image_key, future.result())
      if isinstance(output, beam.pvalue.TaggedOutput):
        yield beam.pvalue.TaggedOutput(output.tag, _global(output.value))
      else:
        yield _global(output)


def _global(value):
  return windowed_value.WindowedValue(value, timestamp.MIN_TIMESTAMP,
                                      [window.GlobalWindow()])


class BuildRowDoFn(beam.DoFn):
  """(ImageKey, PredictionResult) -> result row, or an inference failure."""

  def __init__(self, spec: predictions.RowSpec):
    self._spec = spec
    self._results = metrics.counter(metrics.RESULTS)
    self._count = 0
    self._started = None
    self._last_report = None

  def setup(self):
    self._started = self._last_report = time.monotonic()

  def process(self, element):
    image_key, result = element
    outputs = result.inference
    if isinstance(outputs, model_handler.InferenceFailure):
      yield beam.pvalue.TaggedOutput(
          failures.FAILURES_TAG,
          failures.Failure(image_key.key, failures.STAGE_INFERENCE,
                           failures.REASON_INFERENCE_ERROR, outputs.message))
      return
    try:
      row = predictions.build_row(image_key.key, outputs, self._spec,
                                  dict(image_key.passthrough))
    except failures.ImageFailure as e:
      yield beam.pvalue.TaggedOutput(
          failures.FAILURES_TAG,
          failures.Failure(image_key.key, failures.STAGE_INFERENCE, e.reason,
                           e.message))
      return
    self._results.inc()
    self._report_progress()
    yield row

  def _report_progress(self):
    self._count += 1
    now = time.monotonic()
    if now - self._last_report >= PROGRESS_EVERY_SECS:
      self._last_report = now
      _LOGGER.info("progress: %d images through the model in this worker "
                   "(%.1f images/s)", self._count,
                   self._count / max(now - self._started, 1e-9))


class CountFailureDoFn(beam.DoFn):
  """Moves the per-reason failure counters; passes the failure through."""

  def __init__(self):
    self._failures = metrics.counter(metrics.FAILURES)

  def process(self, failure: failures.Failure):
    self._failures.inc()
    metrics.failure_counter(failure.stage, failure.reason).inc()
    yield failure.as_row()
