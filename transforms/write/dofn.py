"""The row-building step: a thin DoFn around :class:`rows.RowBuilder`."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.core.elements import InferenceFailure
from transforms.write import columns
from transforms.write import rows


class BuildRowDoFn(beam.DoFn):
  """BatchResult -> one result row per image, or its inference failure."""

  def __init__(self, layout: columns.RowLayout,
               live_job: Optional[str] = None):
    self._layout = layout
    self._count_result = counters.CountResult(live_job)
    self._builder: Optional[rows.RowBuilder] = None

  def setup(self):
    self._builder = rows.RowBuilder(self._layout)

  def process(self, result: elements.BatchResult):
    assert self._builder is not None
    for image_key, outputs in zip(result.image_keys, result.outputs):
      if isinstance(outputs, InferenceFailure):
        yield failures.failure_output(image_key.key,
                                      failures.STAGE_INFERENCE,
                                      outputs.reason, outputs.message,
                                      image_key.escaped)
        continue
      row = self._builder.build(image_key.key, outputs,
                                dict(image_key.passthrough),
                                image_key.escaped)
      self._count_result()
      yield row


def build_rows(layout: columns.RowLayout,
               live_job: Optional[str] = None) -> beam.ParDo:
  """The row step with its ``rows`` and ``failures`` outputs."""
  return beam.ParDo(BuildRowDoFn(layout, live_job)).with_outputs(
      failures.FAILURES_TAG, main="rows")
