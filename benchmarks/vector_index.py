"""faiss against usearch for the index, side by side in one run.

    python -m benchmarks.vector_index [--count 100000] [--dim 1280]

Clustered random unit vectors of MobileNet V2's width; for each library,
exact search and HNSW (M=32, construction 80, search 128): build seconds,
resident memory added, query milliseconds (batches of 100, k=10), and
recall@10 against exact search. Prints one table.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def _rss_mb() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_mb() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  return 0.0


def _recall(truth: np.ndarray, got: np.ndarray) -> float:
  return float(np.mean([len(set(a) & set(b)) / 10
                        for a, b in zip(truth, got)]))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--count", type=int, default=100_000)
  parser.add_argument("--dim", type=int, default=1280)
  parser.add_argument("--queries", type=int, default=500)
  parser.add_argument("--skip_usearch", action="store_true")
  parser.add_argument("--duplicates", type=float, default=None,
                      metavar="THRESHOLD",
                      help="also time the near-duplicates pass on the HNSW "
                      "index (1,000 planted near-copies must be found)")
  args = parser.parse_args(argv)
  import faiss  # pylint: disable=g-import-not-at-top
  import usearch.index  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(1000, args.dim)).astype(np.float32)
  data = centers[rng.integers(0, 1000, args.count)] + rng.normal(
      size=(args.count, args.dim)).astype(np.float32)
  planted = min(1000, args.count // 10)
  data[-planted:] = data[:planted] + 0.01 * rng.normal(
      size=(planted, args.dim)).astype(np.float32)
  data /= np.linalg.norm(data, axis=1, keepdims=True)
  queries = data[:args.queries] + 0.05 * rng.normal(
      size=(args.queries, args.dim)).astype(np.float32)
  queries /= np.linalg.norm(queries, axis=1, keepdims=True)
  rows = []

  def timed_queries(search):
    start = time.perf_counter()
    found = [search(queries[i:i + 100]) for i in range(0, len(queries), 100)]
    return (time.perf_counter() - start) * 1000 / len(queries), \
        np.concatenate(found)

  flat = faiss.IndexFlatIP(args.dim)
  before = _rss_mb()
  start = time.perf_counter()
  flat.add(data)
  build = time.perf_counter() - start
  ms, truth = timed_queries(lambda q: flat.search(q, 10)[1])
  rows.append(("faiss flat (exact)", build, _rss_mb() - before, ms, 1.0))

  hnsw = faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT)
  hnsw.hnsw.efConstruction = 80
  hnsw.hnsw.efSearch = 128
  before = _rss_mb()
  start = time.perf_counter()
  hnsw.add(data)
  build = time.perf_counter() - start
  ms, got = timed_queries(lambda q: hnsw.search(q, 10)[1])
  recall = _recall(truth, got)
  rows.append(("faiss HNSW", build, _rss_mb() - before, ms, recall))
  for ef in (256, 512):
    hnsw.hnsw.efSearch = ef
    ms, got = timed_queries(lambda q: hnsw.search(q, 10)[1])
    rows.append((f"  efSearch {ef}", 0.0, 0.0, ms, _recall(truth, got)))
  hnsw.hnsw.efSearch = 128
  if args.duplicates is not None:
    from transforms.index import duplicates  # pylint: disable=g-import-not-at-top
    start = time.perf_counter()
    group = duplicates.components(hnsw, args.duplicates)
    seconds = time.perf_counter() - start
    hits = sum(group[i] == group[args.count - planted + i]
               for i in range(planted))
    multi = int((np.bincount(group) > 1).sum())
    print(f"duplicates pass at cosine >= {args.duplicates}: {seconds:.0f} s, "
          f"{multi} groups of two or more; {hits} of {planted} planted "
          "copies grouped with their original")
  del hnsw
  if args.skip_usearch:
    _print(args, rows)
    return 0

  index = usearch.index.Index(ndim=args.dim, metric="cos", connectivity=32,
                              expansion_add=80, expansion_search=128,
                              dtype="f32")
  before = _rss_mb()
  start = time.perf_counter()
  index.add(np.arange(args.count), data)
  build = time.perf_counter() - start
  ms, got = timed_queries(lambda q: index.search(q, 10).keys)
  recall = _recall(truth, got)
  rows.append(("usearch HNSW", build, _rss_mb() - before, ms, recall))

  _print(args, rows)
  return 0


def _print(args, rows) -> None:
  print(f"{args.count} vectors of {args.dim} float32; {args.queries} "
        f"queries, k=10; peak RSS {_peak_mb():.0f} MB")
  print(f"{'index':<22}{'build s':>9}{'memory MB':>11}{'ms/query':>10}"
        f"{'recall@10':>11}{'s/M build':>11}{'GB/M':>7}")
  per_million = 1_000_000 / args.count
  for name, build, memory, ms, recall in rows:
    print(f"{name:<22}{build:>9.1f}{memory:>11.0f}{ms:>10.2f}{recall:>11.3f}"
          f"{build * per_million:>11.0f}{memory * per_million / 1024:>7.1f}"
          f"   {1000 / ms:.0f} queries/s")


if __name__ == "__main__":
  sys.exit(main())
