"""Live progress of a local run: plain lines off a terminal, one line
refreshed in place on a terminal (a real pseudo-terminal here)."""
from __future__ import annotations

import io
import os
import threading
import time

from transforms.core import progress


def _work(stop, results=40, failures=3):
  for i in range(results):
    progress.add_result()
    if i < failures:
      progress.add_failure()
    time.sleep(0.005)
  stop.set()


def test_plain_lines_off_a_terminal():
  stream = io.StringIO()
  reporter = progress.Reporter(stream, interval=0.05).start()
  stop = threading.Event()
  _work(stop)
  time.sleep(0.15)
  reporter.stop()
  lines = stream.getvalue().splitlines()
  assert len(lines) >= 2 and "\r" not in stream.getvalue()
  assert lines[-1].startswith("progress: 43 images done (")
  assert lines[-1].endswith("images/s), 3 failures")


def test_refreshed_in_place_on_a_terminal():
  leader, follower = os.openpty()
  with os.fdopen(follower, "w", buffering=1) as terminal:
    reporter = progress.Reporter(terminal, interval=0.05).start()
    _work(threading.Event(), results=10, failures=0)
    time.sleep(0.12)
    reporter.stop()
  output = os.read(leader, 65536).decode()
  os.close(leader)
  assert output.count("\r") >= 2  # refreshed, not appended
  assert output.rstrip().endswith("progress: 10 images done ("
                                  + output.rstrip().split("(")[-1])
  assert "10 images done" in output.splitlines()[-1]


def test_format_progress():
  assert progress.format_progress(90, 10, 4.0) == (
      "progress: 100 images done (25.0 images/s), 10 failures")
