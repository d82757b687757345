"""The same job over URLs and over local files, side by side in one run.

    python -m benchmarks.urls [--images 2048] [--latency 0.1] [--repeats 2]

The benchmark corpus served by a real HTTP server (``tests/http_server.py``,
its own process) that adds ``--latency`` seconds to every response, all from
one host so the per-host limit matters; the job over a URL list against the
job over the same photos as files (OpenVINO, interleaved, best of
``--repeats``). Prints images/s for both, the ratio, and the server's peak
in-flight requests (one host: that is also the per-host peak).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Dict

from benchmarks import corpus
from benchmarks import run_benchmark


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=run_benchmark.DEFAULT_MODEL)
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--latency", type=float, default=0.1)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_urls")
  args = parser.parse_args(argv)
  work = args.work_dir
  photos = os.path.join(work, "photos")
  names = [os.path.basename(p)
           for p in corpus.ensure_corpus(photos, args.images)]
  port_file = os.path.join(work, "port")
  if os.path.exists(port_file):
    os.remove(port_file)
  server = subprocess.Popen([sys.executable, "-m", "tests.http_server",
                             photos, str(args.latency), port_file],
                            cwd=run_benchmark.ROOT)
  try:
    while not os.path.exists(port_file):
      time.sleep(0.1)
    with open(port_file) as f:
      url = f.read().strip()
    listing = os.path.join(work, "urls.txt")
    with open(listing, "w") as f:
      f.write("\n".join(f"{url}/img/{n}" for n in names) + "\n")
    loose = run_benchmark.subset_dir(work, [os.path.join(photos, n)
                                            for n in names], args.images)
    base = [sys.executable, "-m", "pipelines.embed", "--model", args.model,
            "--task", "classification", "--engine", "openvino",
            "--overwrite", "--openvino_cache", os.path.join(work, "ov")]
    arms = {"files": ["--input", os.path.join(loose, "*")],
            "urls": ["--input_format", "urls", "--input", listing,
                     "--allow_private_addresses"]}
    best: Dict[str, Dict] = {}
    for repeat in range(args.repeats):
      for name, extra in arms.items():
        print(f"{name} (run {repeat + 1}) ...", flush=True)
        run = run_benchmark.run_child(base + extra + [
            "--output", os.path.join(work, f"out_{name}")])
        if name not in best or run["seconds"] < best[name]["seconds"]:
          best[name] = run
    with urllib.request.urlopen(f"{url}/stats") as response:
      stats = json.loads(response.read())
  finally:
    server.kill()
  rates = {n: args.images / r["seconds"] for n, r in best.items()}
  print()
  print(f"{args.images} photos, {1000 * args.latency:.0f} ms added per "
        "response, one host")
  for name in arms:
    print(f"{name:<8}{best[name]['seconds']:>8.1f} s{rates[name]:>9.1f} "
          f"img/s{best[name]['peak_mb']:>8.0f} MB")
  print(f"urls / files: {rates['urls'] / rates['files']:.2f} x")
  print(f"server's peak in-flight requests (= per-host peak): "
        f"{stats['max_in_flight']} (of {stats['requests']} requests)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
