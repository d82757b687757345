"""Counter names shared by the DoFns that move them and the summary.

Inputs are counted in one place, :class:`CountInputDoFn`, which the job
applies to both outputs of whichever source it reads from: sources never
count, so the failure rate is right for every source.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.core import progress

NAMESPACE = "hub_image_beam"
INPUTS = "inputs"
DECODED = "images_decoded"
RESULTS = "results"
FAILURES = "failures"
FAILURE_PREFIX = "failures."
SKIPPED_DONE = "skipped_done"      # inputs with a result in --skip_existing
DUPLICATES = "duplicate_keys"      # inputs whose key came earlier


def counter(name: str):
  return Metrics.counter(NAMESPACE, name)


def failure_counter(stage: str, reason: str):
  return Metrics.counter(NAMESPACE, f"{FAILURE_PREFIX}{stage}.{reason}")


class CountInputDoFn(beam.DoFn):
  """Counts each element as one input and passes it through."""

  def __init__(self):
    self._inputs = counter(INPUTS)

  def process(self, element):
    self._inputs.inc()
    yield element


class CountFailureDoFn(beam.DoFn):
  """Moves the failure counters (total and per stage.reason); emits the
  failure as a row dict for the failures sink."""

  def __init__(self):
    self._failures = counter(FAILURES)

  def process(self, failure):
    progress.add_failure()
    self._failures.inc()
    failure_counter(failure.stage, failure.reason).inc()
    yield failure.as_row()
