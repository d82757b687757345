"""Counter names shared by the DoFns that move them and the summary.

Sources never count inputs, so the failure rate is right for every source:
each input is counted once, either by the decode step, which takes every
input a source listed (a batch at a time), or by :class:`CountInputDoFn`
on the source's failures output. Failures are counted
by :class:`CountFailureDoFn` on each stage's failures output, before they
are merged, so each is counted as it happens (fused with the step that
found it), for the live display (``live_counts``) as for Beam's counters.
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.core import live_counts

NAMESPACE = "hub_image_beam"
INPUTS = "inputs"
DECODED = "images_decoded"
RESULTS = "results"
FAILURES = "failures"
FAILURE_PREFIX = "failures."
SKIPPED_DONE = "skipped_done"      # inputs with a result in --skip_existing
DUPLICATES = "duplicate_keys"      # inputs whose key came earlier
FETCHED = "fetched"                # URLs fetched (bodies read)
FETCHED_BYTES = "fetched_bytes"    # their bytes
HOST_FAILURE_PREFIX = "fetch_failures_by_host."
# Earlier failures skipped by reason (--skip_existing with failures files).
SKIPPED_FAILURE_PREFIX = "skipped_failures."


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


class CountResult:
  """Counts one result: Beam's counter and, in the launching process, the
  job's live counts. Built in a DoFn's ``__init__``; pickles with it."""

  def __init__(self, live_job: Optional[str] = None):
    self._results = counter(RESULTS)
    self._live_job = live_job

  def __call__(self) -> None:
    self._results.inc()
    live = live_counts.lookup(self._live_job)
    if live is not None:
      live.add_result()


class CountFailureDoFn(beam.DoFn):
  """Moves the failure counters (total and per stage.reason) and the job's
  live counts; passes the Failure on."""

  def __init__(self, live_job: Optional[str] = None):
    self._failures = counter(FAILURES)
    self._live_job = live_job

  def process(self, failure):
    self._failures.inc()
    failure_counter(failure.stage, failure.reason).inc()
    live = live_counts.lookup(self._live_job)
    if live is not None:
      live.add_failure()
    yield failure
