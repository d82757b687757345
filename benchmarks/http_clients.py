"""HTTP clients for the fetch stage, side by side on one local server.

    python -m benchmarks.http_clients [--images 600] [--threads 16]

Each client fetches the same JPEGs from a real HTTP server on 127.0.0.1
(``tests/http_server.py``), with the same thread count, interleaved over
``--repeats`` rounds; prints images/s and CPU seconds per 1,000 images per
client. What the fetch stage needs beyond speed (a check of the address
actually connected to, per redirect hop; streamed bodies with a size cap
and a total deadline) is in the README ("Images behind URLs").
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import resource
import sys
import time
from typing import Callable, Dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", type=int, default=600)
  parser.add_argument("--threads", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(argv)
  sys.path.insert(0, ROOT)
  import httpcore  # pylint: disable=g-import-not-at-top
  import httpx  # pylint: disable=g-import-not-at-top
  import urllib3  # pylint: disable=g-import-not-at-top
  from tests import http_server  # pylint: disable=g-import-not-at-top
  from tests import image_corpus  # pylint: disable=g-import-not-at-top
  from transforms.fetch import client as fetch_client  # pylint: disable=g-import-not-at-top
  from transforms.fetch import settings as fetch_settings  # pylint: disable=g-import-not-at-top
  images = {f"p{i}.jpg": image_corpus.encode(image_corpus.solid(
      "RGB", (i % 256, 80, 120), (320, 240)), "JPEG")
            for i in range(args.images)}
  with http_server.serving(images) as (url, _):
    urls = [f"{url}/img/{name}" for name in images]
    pool_core = httpcore.ConnectionPool(max_connections=args.threads)
    pool_x = httpx.Client(limits=httpx.Limits(max_connections=args.threads))
    pool_3 = urllib3.PoolManager(maxsize=args.threads)
    ours = fetch_client.Fetcher(fetch_settings.FetchSettings(
        concurrency=args.threads, per_host_concurrency=args.threads,
        allow_private_addresses=True))
    clients: Dict[str, Callable[[str], bytes]] = {
        "httpcore": lambda u: pool_core.request("GET", u).content,
        "httpx": lambda u: pool_x.get(u).content,
        "urllib3": lambda u: pool_3.request("GET", u).data,
        "ours (urllib3 + checks + limits)": lambda u: ours.fetch(u).data,
    }
    best: Dict[str, tuple] = {}
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
      for _ in range(args.repeats):
        for name, get in clients.items():
          cpu, start = _cpu(), time.perf_counter()
          got = list(pool.map(get, urls))
          wall, used = time.perf_counter() - start, _cpu() - cpu
          assert all(g == images[u.rsplit("/", 1)[1]]
                     for g, u in zip(got, urls))
          if name not in best or wall < best[name][0]:
            best[name] = (wall, used)
  print(f"{'client':<36}{'img/s':>9}{'CPU s / 1000':>14}")
  for name, (wall, used) in best.items():
    print(f"{name:<36}{len(urls) / wall:>9.0f}"
          f"{1000 * used / len(urls):>14.2f}")
  print("(the server runs in this process: CPU includes its share)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
