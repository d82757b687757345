"""The 13 shared files through a local GCS emulator vs the same files on the
local disk, side by side in one run (best of N each, alternating).

    python -m benchmarks.gcs_io [--repeats 2]

Each run is a full ``python -m pipelines.embed`` process (start-up
included): MobileNet V1 0.25 classification, Parquet out.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
IMAGES = os.path.join(SHARED, "images", "imagenet")
MODEL = os.path.join(SHARED, "models", "mobilenet_v1_025_128",
                     "classification")


def _run(argv, env) -> float:
  started = time.monotonic()
  subprocess.run([sys.executable, "-m", "pipelines.embed", *argv], cwd=ROOT,
                 env=env, check=True, capture_output=True)
  return time.monotonic() - started


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--repeats", type=int, default=2)
  args = parser.parse_args(argv)
  sys.path.insert(0, ROOT)
  from tests import gcs_emulator_server as gcs_emulator  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp, \
      gcs_emulator.running_emulator(tmp) as url:
    bucket = gcs_emulator.client(url).create_bucket("lake")
    gcs_emulator.upload_dir(bucket, IMAGES, "images")
    env = dict(os.environ, STORAGE_EMULATOR_HOST=url, PYTHONPATH=ROOT)
    local, remote = [], []
    for i in range(args.repeats):
      local.append(_run(["--model", MODEL, "--input", IMAGES + "/*",
                         "--output", f"{tmp}/local{i}"], env))
      remote.append(_run(["--model", MODEL, "--input", "gs://lake/images/*",
                          "--output", f"gs://lake/out{i}"], env))
    print(f"local files  best {min(local):5.1f} s  (runs: "
          f"{', '.join(f'{t:.1f}' for t in local)})")
    print(f"gs:// (emu)  best {min(remote):5.1f} s  (runs: "
          f"{', '.join(f'{t:.1f}' for t in remote)})")
    print(f"ratio gs:// / local: {min(remote) / min(local):.2f}")


if __name__ == "__main__":
  main()
