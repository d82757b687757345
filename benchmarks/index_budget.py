"""The index under a memory budget (issue 37): ``pipelines.index`` on a
results folder of synthetic clustered vectors, once per budget, side by
side.

    python -m benchmarks.index_budget [--count 1000000] [--dim 256] \
        [--budgets 150MB,4GB] [--queries 1000]

For each budget: the index chosen, build wall time, the build process's
peak RSS (sampled), the index's size on disk, the recall@10 the build
measured and recorded, and recall@10 measured here against numpy's exact
search on other queries, with ms per query (batches of 100).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_META = {"model": "synthetic", "model_digest": "d" * 64,
         "task": "feature_vector", "entry": "__call__", "engine": "openvino",
         "precision": "float32", "decode": "{}", "image_size": "224,224"}


def _clustered(rng, centres, count):
  data = centres[rng.integers(0, len(centres), count)] + 0.35 * rng.normal(
      size=(count, centres.shape[1])).astype(np.float32)
  return data.astype(np.float32)


def write_results(folder: str, count: int, dim: int, seed: int = 0):
  """A results folder of ``count`` clustered vectors, written in chunks;
  returns the cluster centres (to draw queries from)."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  from transforms.write import columns  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(1024, dim)).astype(np.float32)
  meta = {(columns.METADATA_PREFIX + k).encode(): v.encode()
          for k, v in _META.items()}
  schema = pa.schema([(columns.KEY, pa.string()),
                      (columns.EMBEDDING, pa.list_(pa.float32()))],
                     metadata=meta)
  with pq.ParquetWriter(os.path.join(
      folder, "results-00000-of-00001.parquet"), schema) as writer:
    for start in range(0, count, 50_000):
      n = min(50_000, count - start)
      block = _clustered(rng, centres, n)
      writer.write_table(pa.table({
          columns.KEY: [f"img/{i:09d}.jpg" for i in range(start, start + n)],
          columns.EMBEDDING: pa.ListArray.from_arrays(
              np.arange(0, (n + 1) * dim, dim, dtype=np.int32),
              block.reshape(-1))}, schema=schema))
  return rng, centres


def exact_top10(folder: str, queries: np.ndarray) -> np.ndarray:
  from transforms.index import store  # pylint: disable=g-import-not-at-top
  from transforms.index import vectors  # pylint: disable=g-import-not-at-top
  sims = np.full((len(queries), 10), -np.inf, np.float32)
  ids = np.full((len(queries), 10), -1, np.int64)
  seen = 0
  for _, _, batch in vectors.batches(folder, 65_536):
    s = queries @ store.unit(batch).T
    i = np.broadcast_to(np.arange(seen, seen + len(batch)), s.shape)
    both_s, both_i = np.hstack([sims, s]), np.hstack([ids, i])
    top = np.argsort(-both_s, axis=1)[:, :10]
    sims = np.take_along_axis(both_s, top, 1)
    ids = np.take_along_axis(both_i, top, 1)
    seen += len(batch)
  return ids


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--count", type=int, default=1_000_000)
  parser.add_argument("--dim", type=int, default=256)
  parser.add_argument("--budgets", default="150MB,4GB")
  parser.add_argument("--queries", type=int, default=1000)
  args = parser.parse_args(argv)
  sys.path.insert(0, ROOT)
  from benchmarks import scale  # pylint: disable=g-import-not-at-top
  from transforms.index import store  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    folder = os.path.join(tmp, "out")
    start = time.monotonic()
    rng, centres = write_results(folder, args.count, args.dim)
    print(f"wrote {args.count:,} vectors of {args.dim} in "
          f"{time.monotonic() - start:.0f} s")
    queries = store.unit(_clustered(rng, centres, args.queries))
    truth = exact_top10(folder, queries)
    for budget in args.budgets.split(","):
      index_dir = os.path.join(tmp, f"index_{budget}")
      start = time.monotonic()
      proc = subprocess.Popen(
          [sys.executable, "-m", "pipelines.index", folder, "--index_dir",
           index_dir, "--memory_budget", budget], cwd=ROOT,
          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
          env=dict(os.environ, PYTHONPATH=ROOT))
      peak = scale.tree_peak_rss(proc, 20)
      wall = time.monotonic() - start
      out, err = proc.communicate()
      if proc.returncode:
        print(f"budget {budget}: exit {proc.returncode}: {err[-500:]}")
        continue
      index, _, record = store.load(index_dir)
      on_disk = sum(os.path.getsize(os.path.join(index_dir, f))
                    for f in os.listdir(index_dir) if f.startswith("vectors")
                    and f.endswith(".faiss"))
      start = time.perf_counter()
      got = np.vstack([store.search(index, queries[i:i + 100], 10)[1]
                       for i in range(0, len(queries), 100)])
      ms = (time.perf_counter() - start) * 1000 / len(queries)
      recall = np.mean([len(set(t) & set(g)) / 10
                        for t, g in zip(truth, got)])
      chosen = record["choice"]
      print(json.dumps({
          "budget": budget, "index": record["index"],
          "build_s": round(wall, 1), "peak_rss_mb": peak >> 20,
          "index_mb_on_disk": on_disk >> 20,
          "estimated_mb": chosen["bytes"] >> 20,
          "recall_recorded": chosen.get("recall_at_10"),
          "recall_here": round(float(recall), 4),
          "ms_per_query": round(ms, 3), "nprobe": chosen.get("nprobe"),
          "rerank": chosen.get("rerank")}))


if __name__ == "__main__":
  main()
