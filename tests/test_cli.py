"""The command line as a user meets it: a real process, its output and
exit status."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests import conftest
from tests import image_corpus
from pipelines.cli import quiet


@pytest.mark.parametrize("line, noise", [
    (b"I0000 00:00:1795507266.902044   16498 port.cc:153] oneDNN custom "
     b"operations are on.\n", True),
    (b"W0000 00:00:1795507266.903409   16533 cudart_stub.cc:31] Could not "
     b"find cuda drivers\n", True),
    (b"WARNING: All log messages before absl::InitializeLog() is called are "
     b"written to STDERR\n", True),
    (b"E0000 00:00:1795507266.903409   16533 cuda_executor.cc:1] failed\n",
     False),
    (b"error: the pipeline failed: ValueError: x\n", False),
    (b"I like cats\n", False),
])
def test_only_tensorflow_cpp_info_and_warnings_are_dropped(line, noise):
  assert quiet.is_cpp_noise(line) == noise


def test_worker_processes_stay_quiet(simple_model, tmp_path):
  folder = tmp_path / "images"
  image_corpus.solid_pngs(folder, 3, lambda i: (40 * i, 90, 20))
  out = tmp_path / "out"
  done = subprocess.run(
      [sys.executable, "-m", "pipelines.embed", "--model", simple_model,
       "--input", str(folder / "*"), "--output", str(out),
       "--direct_running_mode", "multi_processing", "--direct_num_workers",
       "2"], cwd=conftest.ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=conftest.ROOT), check=False)
  assert done.returncode == 0, done.stderr
  assert "results written:   3" in done.stdout
  for noise in ("port.cc", "cudart_stub", "absl::InitializeLog", "oneDNN"):
    assert noise not in done.stderr, done.stderr
  assert len(conftest.read_parquet_rows(str(out))) == 3
