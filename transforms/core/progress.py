"""Live progress of a local run: images done, images per second, failures.

The local runner's workers are threads of the launching process, so the
row and failure DoFns add to process-wide counts here and a reporter thread
in the launcher shows them: refreshed in place on a terminal, a plain line
every few seconds otherwise (logs, CI, Airflow). Worker processes elsewhere
(``multi_processing``, Dataflow) count in their own process and show
nothing here; Dataflow's console shows the job's counters.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import IO, Optional, Tuple

_lock = threading.Lock()
_results = 0
_failures = 0

TERMINAL_EVERY_SECS = 0.5
LINES_EVERY_SECS = 5.0


def add_result(count: int = 1) -> None:
  global _results
  with _lock:
    _results += count


def add_failure(count: int = 1) -> None:
  global _failures
  with _lock:
    _failures += count


def snapshot():
  with _lock:
    return _results, _failures


def reset() -> None:
  global _results, _failures
  with _lock:
    _results = _failures = 0


def format_progress(results: int, failures: int, seconds: float) -> str:
  done = results + failures
  rate = done / seconds if seconds > 0 else 0.0
  return (f"progress: {done} images done ({rate:.1f} images/s), "
          f"{failures} failures")


class Reporter:
  """Writes progress to ``stream`` from a background thread."""

  def __init__(self, stream: IO[str], interval: Optional[float] = None):
    self._stream = stream
    try:
      self._terminal = stream.isatty()
    except (AttributeError, ValueError):
      self._terminal = False
    self._interval = interval or (TERMINAL_EVERY_SECS if self._terminal
                                  else LINES_EVERY_SECS)
    self._stop = threading.Event()
    self._started = time.monotonic()
    self._thread = threading.Thread(target=self._run, name="progress",
                                    daemon=True)
    self._last: Optional[Tuple[int, int]] = None

  def _write(self, final: bool = False) -> None:
    results, failures = snapshot()
    if (results, failures) == self._last and not final:
      return
    self._last = (results, failures)
    line = format_progress(results, failures,
                           time.monotonic() - self._started)
    if self._terminal:
      self._stream.write("\r\x1b[K" + line + ("\n" if final else ""))
    elif not final:
      self._stream.write(line + "\n")
    self._stream.flush()

  def _run(self) -> None:
    while not self._stop.wait(self._interval):
      self._write()

  def start(self) -> "Reporter":
    reset()
    self._started = time.monotonic()
    self._thread.start()
    return self

  def stop(self) -> None:
    self._stop.set()
    self._thread.join(timeout=5)
    if self._terminal:
      self._write(final=True)


@contextlib.contextmanager
def reporting(stream: Optional[IO[str]] = None):
  """Reports while the block runs, to ``stream`` or a copy of stderr taken
  now (before any redirection of file descriptor 2)."""
  out = stream if stream is not None else os.fdopen(os.dup(2), "w",
                                                     buffering=1)
  reporter = Reporter(out).start()
  try:
    yield reporter
  finally:
    reporter.stop()
    if stream is None:
      out.close()
