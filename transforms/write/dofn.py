"""The row-building step: a thin DoFn around :class:`rows.RowBuilder`."""
from __future__ import annotations

import logging
import time

import apache_beam as beam

from transforms.core import counters
from transforms.core import failures
from transforms.model import handler
from transforms.write import columns
from transforms.write import rows

_LOGGER = logging.getLogger("hub_image_beam")
PROGRESS_EVERY_SECS = 30.0


class BuildRowDoFn(beam.DoFn):
  """(ImageKey, PredictionResult) -> result row, or an inference failure."""

  def __init__(self, layout: columns.RowLayout):
    self._layout = layout
    self._results = counters.counter(counters.RESULTS)
    self._builder = None
    self._count = 0
    self._started = 0.0
    self._last_report = 0.0

  def setup(self):
    self._builder = rows.RowBuilder(self._layout)
    self._started = self._last_report = time.monotonic()

  def process(self, element):
    image_key, result = element
    outputs = result.inference
    if isinstance(outputs, handler.InferenceFailure):
      yield failures.failure_output(
          image_key.key, failures.STAGE_INFERENCE,
          failures.REASON_INFERENCE_ERROR, outputs.message)
      return
    try:
      row = self._builder.build(image_key.key, outputs,
                                dict(image_key.passthrough))
    except failures.ImageFailure as e:
      yield failures.failure_from(image_key.key, failures.STAGE_INFERENCE, e)
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


def build_rows(layout: columns.RowLayout) -> beam.ParDo:
  """The row step with its ``rows`` and ``failures`` outputs."""
  return beam.ParDo(BuildRowDoFn(layout)).with_outputs(
      failures.FAILURES_TAG, main="rows")
