"""--skip_existing at scale: 1,000,000 earlier keys against a small new run.

    python -m benchmarks.skip_existing [--keys 1000000] [--images 200]

Writes a key-only Parquet file of ``--keys`` earlier results (half of the
``--images`` inputs among them), then runs the job over the inputs with and
without ``--skip_existing`` (whole ``pipelines.embed`` processes,
alternating, best of 2) and reports wall time and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PEAK = ("import resource, subprocess, sys\n"
         "subprocess.run(sys.argv[1:], check=True, capture_output=True)\n"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def _run(argv):
  """(seconds, peak RSS in MiB) of one job process."""
  started = time.monotonic()
  done = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m",
                         "pipelines.embed", *argv], cwd=ROOT, check=True,
                        capture_output=True, text=True,
                        env=dict(os.environ, PYTHONPATH=ROOT))
  return time.monotonic() - started, int(done.stdout.split()[-1]) / 1024


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--keys", type=int, default=1_000_000)
  parser.add_argument("--images", type=int, default=200)
  args = parser.parse_args(argv)
  sys.path.insert(0, ROOT)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from tests import model_builders  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    model = model_builders.save_simple(os.path.join(tmp, "model"))
    images = os.path.join(tmp, "images")
    os.makedirs(images)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(args.images):
      path = os.path.join(images, f"{i:06d}.png")
      Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(path)
      paths.append(path)
    earlier = [f"gs://bucket/archive/{i:09d}.jpg"
               for i in range(args.keys - args.images // 2)]
    earlier += paths[:args.images // 2]
    done = os.path.join(tmp, "earlier", "results-00000-of-00001.parquet")
    os.makedirs(os.path.dirname(done))
    started = time.monotonic()
    pq.write_table(pa.table({"key": earlier}), done)
    size = os.path.getsize(done) / 2**20
    print(f"wrote {len(earlier):,} keys ({size:.1f} MiB Parquet) in "
          f"{time.monotonic() - started:.1f} s")
    base = ["--model", model, "--input", os.path.join(images, "*")]
    plain, skipping = [], []
    for i in range(2):
      plain.append(_run(base + ["--output", f"{tmp}/plain{i}"]))
      skipping.append(_run(base + ["--output", f"{tmp}/skip{i}",
                                   "--skip_existing", done]))
    for name, runs in (("no --skip_existing", plain),
                       (f"--skip_existing ({len(earlier):,} keys)",
                        skipping)):
      best = min(runs)
      print(f"{name:38s} wall {best[0]:5.1f} s  peak RSS "
            f"{max(r[1] for r in runs):6.0f} MiB  (runs: "
            f"{', '.join(f'{r[0]:.1f}' for r in runs)})")


if __name__ == "__main__":
  main()
