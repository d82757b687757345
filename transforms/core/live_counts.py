"""Live counts of a job running in this process, for a progress display.

Beam's counters are what the summary reads; on the local runner they are
only read back when the job ends. For a live display, the launcher
:func:`register` s a :class:`LiveCounts` under the job's id and hands the id
to the counting DoFns in their pickled state (``counters``); a DoFn that
runs in the launching process (the local runner's worker threads) finds it
with :func:`lookup` and adds to it as each result or failure happens. A
DoFn in another process (``multi_processing``, Dataflow) finds nothing and
counts only in Beam's counters.
"""
from __future__ import annotations

import threading
import uuid
from typing import Dict, List, Optional, Tuple

_lock = threading.Lock()
_jobs: Dict[str, "LiveCounts"] = {}


class LiveCounts:
  """Results and failures so far; thread-safe."""

  def __init__(self):
    self._lock = threading.Lock()
    self._results = 0
    self._failures = 0
    self._listed = 0
    # Observers called (under no lock) after each change: tests use one to
    # see the order in which results and failures were counted.
    self.observers: List = []

  def add_result(self, count: int = 1) -> None:
    with self._lock:
      self._results += count
    self._notify()

  def add_failure(self, count: int = 1) -> None:
    with self._lock:
      self._failures += count
    self._notify()

  def add_listed(self, count: int = 1) -> None:
    """Inputs listed so far (observers are not told: they follow results
    and failures)."""
    with self._lock:
      self._listed += count

  def listed(self) -> int:
    with self._lock:
      return self._listed

  def snapshot(self) -> Tuple[int, int]:
    """(results, failures)."""
    with self._lock:
      return self._results, self._failures

  def _notify(self) -> None:
    if self.observers:
      now = self.snapshot()
      for observer in self.observers:
        observer(now)


def register(counts: Optional[LiveCounts] = None) -> Tuple[str, LiveCounts]:
  """Registers ``counts`` (or new ones) under a new job id."""
  counts = counts or LiveCounts()
  job_id = uuid.uuid4().hex
  with _lock:
    _jobs[job_id] = counts
  return job_id, counts


def unregister(job_id: str) -> None:
  with _lock:
    _jobs.pop(job_id, None)


def lookup(job_id: Optional[str]) -> Optional[LiveCounts]:
  """The counts registered in this process under ``job_id``, else None."""
  if job_id is None:
    return None
  with _lock:
    return _jobs.get(job_id)
