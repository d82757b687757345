"""The row-building step: a thin DoFn around :class:`rows.RowBuilder`."""
from __future__ import annotations

import apache_beam as beam

from transforms.core import counters
from transforms.core import failures
from transforms.core import progress
from transforms.model import handler
from transforms.write import columns
from transforms.write import rows


class BuildRowDoFn(beam.DoFn):
  """(ImageKey, PredictionResult) -> result row, or an inference failure."""

  def __init__(self, layout: columns.RowLayout):
    self._layout = layout
    self._results = counters.counter(counters.RESULTS)
    self._builder = None

  def setup(self):
    self._builder = rows.RowBuilder(self._layout)

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
    progress.add_result()
    yield row


def build_rows(layout: columns.RowLayout) -> beam.ParDo:
  """The row step with its ``rows`` and ``failures`` outputs."""
  return beam.ParDo(BuildRowDoFn(layout)).with_outputs(
      failures.FAILURES_TAG, main="rows")
