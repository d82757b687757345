"""Live progress of a local run: plain lines off a terminal, one line
refreshed in place on a terminal (a real pseudo-terminal here). Ticks are
driven by the test with a fake clock: no sleeps, nothing timing-dependent."""
from __future__ import annotations

import io
import os
import select

from pipelines.cli import progress
from transforms.core import live_counts


class _Clock:

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_plain_lines_off_a_terminal():
  stream, counts, clock = io.StringIO(), live_counts.LiveCounts(), _Clock()
  reporter = progress.Reporter(stream, counts, clock=clock)
  counts.add_result(20)
  clock.now += 2
  reporter.tick()
  reporter.tick()  # no change: no line
  counts.add_result(20)
  counts.add_failure(3)
  clock.now += 2
  reporter.tick()
  reporter.stop()
  text = stream.getvalue()
  assert "\r" not in text
  # A line per change, not per tick.
  assert text.splitlines() == [
      "progress: 20 images done (10.0 images/s), 0 failures",
      "progress: 43 images done (10.8 images/s), 3 failures"]


def _read_all(fd) -> str:
  chunks = []
  while select.select([fd], [], [], 0.2)[0]:
    try:
      data = os.read(fd, 65536)
    except OSError:
      break
    if not data:
      break
    chunks.append(data)
  return b"".join(chunks).decode()


def test_refreshed_in_place_on_a_terminal():
  leader, follower = os.openpty()
  counts, clock = live_counts.LiveCounts(), _Clock()
  with os.fdopen(follower, "w", buffering=1) as terminal:
    reporter = progress.Reporter(terminal, counts, clock=clock)
    counts.add_result(5)
    clock.now += 1
    reporter.tick()
    counts.add_result(5)
    clock.now += 1
    reporter.tick()
    reporter.stop()
    output = _read_all(leader)
  os.close(leader)
  # Rewritten in place ("\r" + clear line), not one line per update.
  assert output.count("\r\x1b[K") == 3, repr(output)
  assert "progress: 5 images done (5.0 images/s)" in output
  final = output.rsplit("\r\x1b[K", 1)[-1]
  assert final == "progress: 10 images done (5.0 images/s), 0 failures\r\n"


def test_format_progress():
  assert progress.format_progress(90, 10, 4.0) == (
      "progress: 100 images done (25.0 images/s), 10 failures")
