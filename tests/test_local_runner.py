"""The local runner's data channel never cuts an element in two (the
growth of issue 34; see ``transforms/job/local_runner.py``)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import time

import psutil

from tests import flush_race_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RSS_LIMIT = 2 << 30


def _run_child(timeout_s: float = 120.0):
  """Runs the child; kills it if its RSS passes RSS_LIMIT (the cut
  element's decode holds the GIL, so only another process can stop it).
  Returns (returncode, stdout, peak RSS)."""
  child = subprocess.Popen(
      [sys.executable, "-m", "tests.flush_race_child"], cwd=ROOT,
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  proc = psutil.Process(child.pid)
  peak = 0
  deadline = time.monotonic() + timeout_s
  while child.poll() is None:
    try:
      peak = max(peak, proc.memory_info().rss)
    except psutil.NoSuchProcess:
      break
    if peak > RSS_LIMIT or time.monotonic() > deadline:
      child.kill()
      break
    time.sleep(0.05)
  out, _ = child.communicate()
  return child.returncode, out, peak


def test_elements_that_pause_mid_encoding_arrive_whole():
  # Each element pauses 50 ms mid-encoding, 2 s in all: Beam's timed flush
  # (every 1 s) would send a half element, whose decode then loops with
  # memory growing ~0.4 GB/s. Under the job's defaults every group arrives.
  returncode, out, peak = _run_child()
  assert peak < RSS_LIMIT, f"peak RSS {peak >> 20} MiB: an element was cut"
  assert returncode == 0, out
  groups = sorted(ast.literal_eval(line) for line in out.splitlines()
                  if line.startswith("("))
  n = flush_race_child.ELEMENTS
  assert groups == sorted((f"key{i}", [i]) for i in range(n))
