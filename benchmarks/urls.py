"""The same job over URLs and over local files, side by side in one run.

    python -m benchmarks.urls [--images 2048] [--latency 0.1] [--repeats 2]

The benchmark corpus served by a real HTTP server (``tests/http_server.py``,
its own process) that adds ``--latency`` seconds to every response, all from
one host so the per-host limit matters; the job over a URL list against the
job over the same photos as files (OpenVINO, interleaved, best of
``--repeats``). Prints images/s for both, the ratio, and the server's peak
in-flight requests (one host: that is also the per-host peak).

    python -m benchmarks.urls --dead_hosts [--images 2048] [--repeats 2]

The dead-host arm instead (issue 36): the photos spread over 20 loopback
hosts (127.0.0.2 to 127.0.0.21, one server answering on all), against the
same list where 2 of the 20 hosts accept connections and never answer;
``--fetch_timeout 2,3,5 --fetch_retries 1`` on both. Prints images/s
(results / wall), the ratio, the dead URLs' reasons, and the tail: from
the last image the server sent to the job's end.
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


def _serve(args, bind: str = "127.0.0.1"):
  """The corpus served by ``tests.http_server`` in a process of its own:
  (photos folder, photo names, the server process, its base URL)."""
  photos = os.path.join(args.work_dir, "photos")
  names = [os.path.basename(p)
           for p in corpus.ensure_corpus(photos, args.images)]
  port_file = os.path.join(args.work_dir, "port")
  if os.path.exists(port_file):
    os.remove(port_file)
  server = subprocess.Popen([sys.executable, "-m", "tests.http_server",
                             photos, str(args.latency), port_file, bind],
                            cwd=run_benchmark.ROOT)
  while not os.path.exists(port_file):
    time.sleep(0.1)
  with open(port_file) as f:
    return photos, names, server, f.read().strip()


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=run_benchmark.DEFAULT_MODEL)
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--latency", type=float, default=0.1)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_urls")
  parser.add_argument("--dead_hosts", action="store_true",
                      help="run the dead-host arm (see the docstring)")
  args = parser.parse_args(argv)
  if args.dead_hosts:
    return dead_hosts(args)
  work = args.work_dir
  photos, names, server, url = _serve(args)
  try:
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


HOSTS = [f"127.0.0.{i}" for i in range(2, 22)]
DEAD = HOSTS[-2:]


def dead_hosts(args) -> int:
  """All-healthy against 2 dead hosts of 20; see the module docstring."""
  import socket  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  work = args.work_dir
  _, names, server, url = _serve(args, bind="0.0.0.0")
  silent = []
  try:
    port = int(url.rsplit(":", 1)[1])
    for host in DEAD:   # accept connections (the kernel does), never answer
      sock = socket.socket()
      sock.bind((host, port + 1))
      sock.listen(4096)
      silent.append(sock)

    def url_for(i: int, name: str, dead: bool) -> str:
      host = HOSTS[i % len(HOSTS)]
      if dead and host in DEAD:
        return f"http://{host}:{port + 1}/img/{name}"
      return f"http://{host}:{port}/img/{name}"

    lists = {}
    for arm, dead in (("healthy", False), ("dead", True)):
      lists[arm] = os.path.join(work, f"urls_{arm}.txt")
      with open(lists[arm], "w") as f:
        f.write("\n".join(url_for(i, n, dead)
                          for i, n in enumerate(names)) + "\n")
    base = [sys.executable, "-m", "pipelines.embed", "--model", args.model,
            "--task", "classification", "--engine", "openvino",
            "--overwrite", "--openvino_cache", os.path.join(work, "ov"),
            "--input_format", "urls", "--allow_private_addresses",
            "--fetch_timeout", "2,3,5", "--fetch_retries", "1"]
    best: Dict[str, Dict] = {}
    for repeat in range(args.repeats):
      for arm in lists:
        print(f"{arm} (run {repeat + 1}) ...", flush=True)
        out = os.path.join(work, f"out_{arm}")
        started = time.time()
        run = run_benchmark.run_child(base + ["--input", lists[arm],
                                              "--output", out])
        ended = started + run["seconds"]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/stats") as response:
          last = json.loads(response.read())["last_served"]
        results = sum(pq.read_metadata(os.path.join(out, p)).num_rows
                      for p in os.listdir(out) if p.startswith("results-"))
        reasons: Dict[str, int] = {}
        failures_dir = os.path.join(out, "failures")
        for p in os.listdir(failures_dir):
          with open(os.path.join(failures_dir, p)) as f:
            for line in f:
              if line.strip():
                reason = json.loads(line)["reason"]
                reasons[reason] = reasons.get(reason, 0) + 1
        run.update(results=results, reasons=reasons,
                   tail=max(0.0, ended - last))
        if arm not in best or run["seconds"] < best[arm]["seconds"]:
          best[arm] = run
  finally:
    server.kill()
    for sock in silent:
      sock.close()
  rates = {a: r["results"] / r["seconds"] for a, r in best.items()}
  dead_urls = sum(1 for i in range(len(names))
                  if HOSTS[i % len(HOSTS)] in DEAD)
  print()
  print(f"{args.images} photos over {len(HOSTS)} hosts, "
        f"{1000 * args.latency:.0f} ms added per response; dead arm: "
        f"{len(DEAD)} hosts never answer ({dead_urls} URLs)")
  for arm, run in best.items():
    print(f"{arm:<8}{run['seconds']:>8.1f} s{run['results']:>6} results"
          f"{rates[arm]:>9.1f} img/s  tail {run['tail']:.1f} s  "
          f"failures {run['reasons']}")
  print(f"dead / healthy: {rates['dead'] / rates['healthy']:.2f} x")
  return 0


if __name__ == "__main__":
  sys.exit(main())
