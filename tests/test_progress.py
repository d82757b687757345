"""Live progress of a local run: plain lines off a terminal, one line
refreshed in place on a terminal (a real pseudo-terminal here)."""
from __future__ import annotations

import io
import os
import select
import time

from transforms.core import progress


def test_plain_lines_off_a_terminal():
  stream = io.StringIO()
  reporter = progress.Reporter(stream, interval=0.05).start()
  progress.add_result(20)
  time.sleep(0.3)
  progress.add_result(20)
  progress.add_failure(3)
  time.sleep(0.3)
  reporter.stop()
  text = stream.getvalue()
  lines = text.splitlines()
  assert "\r" not in text
  # A line per change, not per tick: the counts changed twice.
  assert [l.split(" images done")[0] for l in lines] == [
      "progress: 20", "progress: 43"], lines
  assert lines[-1].endswith("images/s), 3 failures")


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
  with os.fdopen(follower, "w", buffering=1) as terminal:
    reporter = progress.Reporter(terminal, interval=0.05).start()
    progress.add_result(5)
    time.sleep(0.3)  # several ticks see 5
    progress.add_result(5)
    time.sleep(0.3)  # several ticks see 10
    reporter.stop()
    output = _read_all(leader)
  os.close(leader)
  # Rewritten in place ("\r" + clear line), not one line per update.
  assert output.count("\r\x1b[K") >= 2, repr(output)
  assert "progress: 5 images done" in output
  final = output.rsplit("\r\x1b[K", 1)[-1]
  assert final.startswith("progress: 10 images done ("), repr(output)


def test_format_progress():
  assert progress.format_progress(90, 10, 4.0) == (
      "progress: 100 images done (25.0 images/s), 10 failures")
