"""Thin DoFns around the pure decode, row-building and failure functions."""
from __future__ import annotations

import logging
import time
from typing import Optional, Tuple

import apache_beam as beam

from transforms import failures
from transforms import metrics
from transforms import model_handler
from transforms import predictions
from transforms import records
from transforms import resize

_LOGGER = logging.getLogger("hub_image_beam")
PROGRESS_EVERY_SECS = 30.0


class DecodeImageDoFn(beam.DoFn):
  """EncodedImage -> (ImageKey, uint8 [h, w, 3]), or a decode failure."""

  def __init__(self, size: Tuple[int, int], mode: str, max_pixels: int,
               jpeg_draft: Optional[float]):
    self._size, self._mode = size, mode
    self._max_pixels, self._jpeg_draft = max_pixels, jpeg_draft
    self._decoded = metrics.counter(metrics.DECODED)

  def process(self, element: records.EncodedImage):
    try:
      pixels = resize.prepare_image(element.data, self._size, self._mode,
                                    self._max_pixels, self._jpeg_draft)
    except failures.ImageFailure as e:
      yield beam.pvalue.TaggedOutput(
          failures.FAILURES_TAG,
          failures.Failure(element.image_key.key, failures.STAGE_DECODE,
                           e.reason, e.message))
      return
    self._decoded.inc()
    yield element.image_key, pixels


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
