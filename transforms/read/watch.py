"""Source of a streaming job: new files under globs, as they land.

``--watch SECONDS`` (``--input_format files``): each glob is matched again
every SECONDS by Beam's ``fileio.MatchContinuously``, and each new file is
one input, once (Beam keeps the paths it has seen in its state); a file
matched by two globs comes once from each. Inputs are keyed and read as a
batch job's listed files are (``files.listed_input``), stamped with the
time they were found, and put in fixed windows of ``--window_seconds``,
so results are written window by window (``write.windowed``).

Beam's in-process runners cannot run ``MatchContinuously`` (Beam 2.77):
the job runs on a streaming runner (Dataflow), and is checked offline
on Dataflow's own runner (``tests/test_dataflow_offline.py``).
"""
from __future__ import annotations

from typing import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.transforms import trigger
from apache_beam.transforms import window

from transforms.core import elements
from transforms.core import failures
from transforms.core import file_names
from transforms.read import files
from transforms.read import listing


def windows(window_seconds: float, lateness: float) -> beam.WindowInto:
  """Fixed windows that fire when the watermark passes them, then once per
  late image within ``lateness`` (each late firing its own files)."""
  return beam.WindowInto(
      window.FixedWindows(window_seconds),
      trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
      allowed_lateness=lateness,
      accumulation_mode=trigger.AccumulationMode.DISCARDING)


def _found(metadata) -> elements.ImageInput:
  key, escaped = file_names.key_of(metadata.path)
  return files.listed_input(listing.ListedFile(key, escaped))


class WatchImageFiles(beam.PTransform):
  """PBegin -> ``images`` (new files, windowed) and ``failures`` (none at
  listing: a file fails when it is read, as in a batch job)."""

  def __init__(self, patterns: Sequence[str], interval: float,
               window_seconds: float, lateness: float):
    super().__init__()
    self._patterns = list(patterns)
    self._interval = interval
    self._window_seconds, self._lateness = window_seconds, lateness

  def expand(self, pbegin):
    found = [pbegin | f"Watch{i}" >> fileio.MatchContinuously(
        pattern, interval=self._interval, has_deduplication=True)
             for i, pattern in enumerate(self._patterns)]
    matched = (found[0] if len(found) == 1
               else tuple(found) | "AllWatched" >> beam.Flatten())
    images = (matched
              | "Inputs" >> beam.Map(_found)
              | "Windows" >> windows(self._window_seconds, self._lateness))
    # Later steps flatten failures of every stage: the same windows here.
    none_failed = (pbegin
                   | "NoListingFailures" >> beam.Create([]).with_output_types(
                       failures.Failure)
                   | "FailureWindows" >> windows(self._window_seconds,
                                                 self._lateness))
    return {"images": images, failures.FAILURES_TAG: none_failed}
