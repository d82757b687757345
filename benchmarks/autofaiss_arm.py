"""The autofaiss arm of ``benchmarks.index_budget``, run with
``.venv-autofaiss``'s Python (autofaiss pins numpy<2; nothing of the
project is imported here).

    python benchmarks/autofaiss_arm.py NPY_DIR INDEX_DIR BUDGET

Builds with autofaiss 2.18's ``build_index`` (its own index choice and
search parameters, cosine as inner product on the unit vectors in
``NPY_DIR``) under ``max_index_memory_usage`` = BUDGET (our sizes: ``2GB``
is 2 x 10^9 bytes, passed to autofaiss in bytes), searches
``INDEX_DIR/queries.npy`` (200 single queries, then all in batches of
100), writes the top 10 to ``INDEX_DIR/neighbours.npy`` and prints one
JSON line.
"""
import json
import logging
import os
import re
import sys
import time

import numpy as np
from autofaiss import build_index


def _bytes(size: str) -> int:
  match = re.match(r"^(\d+(?:\.\d+)?)([kmgt]?)(i?)b?$", size.strip(), re.I)
  if match is None:
    raise ValueError(f"expected a size such as 2GB, found {size!r}")
  number, unit, binary = match.groups()
  base = 1024 if binary else 1000
  return int(float(number) * base ** ("kmgt".index(unit.lower()) + 1
                                      if unit else 0))


def main() -> None:
  npy_dir, index_dir, budget = sys.argv[1:4]
  start = time.monotonic()
  index, infos = build_index(
      embeddings=npy_dir, index_path=os.path.join(index_dir, "knn.index"),
      index_infos_path=os.path.join(index_dir, "infos.json"),
      max_index_memory_usage=f"{_bytes(budget)}B",
      current_memory_available="16G", metric_type="ip", nb_cores=2,
      verbose=logging.WARNING)
  build_s = time.monotonic() - start
  queries = np.load(os.path.join(index_dir, "queries.npy")).astype(
      np.float32)
  searching = time.monotonic()
  start = time.perf_counter()
  for query in queries[:200]:
    index.search(query[None], 10)
  single_ms = (time.perf_counter() - start) * 1000 / 200
  start = time.perf_counter()
  got = np.vstack([index.search(queries[i:i + 100], 10)[1]
                   for i in range(0, len(queries), 100)])
  batched_ms = (time.perf_counter() - start) * 1000 / len(queries)
  np.save(os.path.join(index_dir, "neighbours.npy"), got)
  print(json.dumps({"index_key": infos["index_key"],
                    "index_param": infos["index_param"],
                    "build_s": round(build_s, 1),
                    "search_s": round(time.monotonic() - searching, 1),
                    "ms_single": round(single_ms, 3),
                    "ms_batched": round(batched_ms, 3)}))


if __name__ == "__main__":
  main()
