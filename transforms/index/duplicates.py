"""Near-duplicates through the index: every pair at or above a cosine
threshold, grouped into connected components, at far less than the cost of
comparing all pairs (each vector asks the index for its nearest neighbours,
and asks again for more only while its farthest one is still above the
threshold)."""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from transforms.index import store

FIRST_K = 16
BATCH = 2048


def _root(parent: List[int], i: int) -> int:
  while parent[i] != i:
    parent[i] = parent[parent[i]]
    i = parent[i]
  return i


def pairs(index, threshold: float) -> List[Tuple[int, int, float]]:
  """(i, j, cosine) with i < j for every pair at or above ``threshold``."""
  total = index.ntotal
  found: Dict[Tuple[int, int], float] = {}
  for start in range(0, total, BATCH):
    count = min(BATCH, total - start)
    queries = index.reconstruct_n(start, count)
    rows = np.arange(start, start + count)
    k = min(FIRST_K, total)
    while len(rows):
      sims, ids = store.search(index, queries, k)
      again = []
      for q, row in enumerate(rows):
        for sim, other in zip(sims[q], ids[q]):
          if other >= 0 and other != row and sim >= threshold:
            pair = (min(row, other), max(row, other))
            found[pair] = max(found.get(pair, -1.0), float(sim))
        if k < total and sims[q][-1] >= threshold:
          again.append(q)
      if not again or k >= total:
        break
      rows, queries, k = rows[again], queries[again], min(2 * k, total)
  return sorted((int(i), int(j), s) for (i, j), s in found.items())


def groups(total: int, found: List[Tuple[int, int, float]]) -> List[int]:
  """The connected component of each vector (numbered by first member)."""
  parent = list(range(total))
  for i, j, _ in found:
    a, b = _root(parent, i), _root(parent, j)
    if a != b:
      parent[max(a, b)] = min(a, b)
  return [_root(parent, i) for i in range(total)]


def write_duplicates(index_dir: str, threshold: float) -> Tuple[str, int]:
  """``INDEX/duplicates.parquet``: key_a, key_b, cosine, group. Returns its
  path and the number of pairs."""
  import os  # pylint: disable=g-import-not-at-top
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  index, keys, _ = store.load(index_dir)
  found = pairs(index, threshold)
  component = groups(index.ntotal, found)
  path = os.path.join(index_dir, "duplicates.parquet")
  pq.write_table(pa.table({
      "key_a": [keys.keys[i] for i, _, _ in found],
      "key_b": [keys.keys[j] for _, j, _ in found],
      "cosine": pa.array([s for _, _, s in found], pa.float32()),
      "group": pa.array([component[i] for i, _, _ in found], pa.int64())}),
                 path)
  return path, len(found)
