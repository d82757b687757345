"""Live progress of a local run on the command line: images done, images
per second, failures.

The display reads a job's :class:`~transforms.core.live_counts.LiveCounts`
(which the counting DoFns of a job in this process add to) from a
background thread: refreshed in place on a terminal, a line per change every
few seconds otherwise (logs, CI, Airflow). Worker processes elsewhere
(``multi_processing``, Dataflow) count in their own process and show nothing
here; Dataflow's console shows the job's counters.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import IO, Callable, Iterator, Optional, Tuple

from transforms.core import live_counts

TERMINAL_EVERY_SECS = 0.5
LINES_EVERY_SECS = 5.0


def format_progress(results: int, failures: int, seconds: float,
                    listed: int = 0) -> str:
  """The progress line; while nothing is done yet but inputs are being
  listed (a million-file glob takes a while), how many are listed."""
  done = results + failures
  if not done and listed:
    return f"progress: {listed} inputs listed so far, 0 images done"
  rate = done / seconds if seconds > 0 else 0.0
  return (f"progress: {done} images done ({rate:.1f} images/s), "
          f"{failures} failures")


class Reporter:
  """Writes ``counts`` to ``stream``: on each :meth:`tick`, and from a
  background thread every ``interval`` seconds once started."""

  def __init__(self, stream: IO[str], counts: live_counts.LiveCounts,
               interval: Optional[float] = None,
               clock: Callable[[], float] = time.monotonic):
    self._stream = stream
    self._counts = counts
    try:
      self._terminal = stream.isatty()
    except (AttributeError, ValueError):
      self._terminal = False
    self._interval = interval or (TERMINAL_EVERY_SECS if self._terminal
                                  else LINES_EVERY_SECS)
    self._clock = clock
    self._stop = threading.Event()
    self._started = clock()
    self._thread = threading.Thread(target=self._run, name="progress",
                                    daemon=True)
    self._last: Optional[Tuple[int, int, int]] = None

  def tick(self, final: bool = False) -> None:
    """Shows the counts if they changed since the last line (or, on a
    terminal, the final state)."""
    results, failures = self._counts.snapshot()
    listed = self._counts.listed()
    # Once images are done, the line follows them (listing is over or
    # nearly); before, it follows the listing.
    state = (results, failures, 0 if results + failures else listed)
    if state == self._last and not final:
      return
    self._last = state
    line = format_progress(results, failures, self._clock() - self._started,
                           listed)
    if self._terminal:
      self._stream.write("\r\x1b[K" + line + ("\n" if final else ""))
    elif not final:
      self._stream.write(line + "\n")
    self._stream.flush()

  def _run(self) -> None:
    while not self._stop.wait(self._interval):
      self.tick()

  def start(self) -> "Reporter":
    self._started = self._clock()
    self._thread.start()
    return self

  def stop(self) -> None:
    self._stop.set()
    if self._thread.is_alive():
      self._thread.join(timeout=5)
    if self._terminal:
      self.tick(final=True)


@contextlib.contextmanager
def reporting(stream: Optional[IO[str]] = None
              ) -> Iterator[Tuple[str, live_counts.LiveCounts]]:
  """Registers live counts for a job and reports them while the block runs,
  to ``stream`` or a copy of stderr taken now (before any redirection of
  file descriptor 2). Yields the job id to hand to the pipeline and the
  counts."""
  out = stream if stream is not None else os.fdopen(os.dup(2), "w",
                                                     buffering=1)
  job_id, counts = live_counts.register()
  reporter = Reporter(out, counts).start()
  try:
    yield job_id, counts
  finally:
    reporter.stop()
    live_counts.unregister(job_id)
    if stream is None:
      out.close()
