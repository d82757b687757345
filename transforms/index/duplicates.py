"""Near-duplicates through the index, as groups: the connected components
of the pairs at or above a cosine threshold.

Pairs are found through the index, never all of them: each vector asks for
its nearest neighbours, and for more only while the farthest is still
above the threshold, up to :data:`MAX_NEIGHBOURS`. Each pair found joins
two groups (a union-find of one integer per vector) and is then
forgotten, so a thousand identical placeholder images, common in scraped
data, make one group of a thousand, not half a million pairs in memory.
The bound per vector cannot split a group of identical images: each
member still links to some of the others, and links chain.
"""
from __future__ import annotations

import os
import tempfile
from typing import Tuple

import numpy as np

from transforms.index import store

FIRST_K = 16
MAX_NEIGHBOURS = 256
BATCH = 2048
FILE = "duplicates.parquet"


def _root(parent: np.ndarray, i: int) -> int:
  while parent[i] != i:
    parent[i] = parent[parent[i]]
    i = int(parent[i])
  return i


def components(index, threshold: float,
               max_neighbours: int = MAX_NEIGHBOURS) -> np.ndarray:
  """The group of each vector: the lowest position in its component (its
  own position when it has no near-duplicate)."""
  total = index.ntotal
  parent = np.arange(total, dtype=np.int64)
  most = max(1, min(max_neighbours, total))
  for start in range(0, total, BATCH):
    count = min(BATCH, total - start)
    queries = index.reconstruct_n(start, count)
    rows = np.arange(start, start + count)
    k = min(FIRST_K, most)
    while len(rows):
      sims, ids = store.search(index, queries, k)
      above = (sims >= threshold) & (ids >= 0)
      for q, column in zip(*np.nonzero(above)):
        a, b = _root(parent, int(rows[q])), _root(parent, int(ids[q, column]))
        if a != b:
          parent[max(a, b)] = min(a, b)
      if k >= most:
        break
      again = np.nonzero(above[:, -1])[0]
      rows, queries, k = rows[again], queries[again], min(2 * k, most)
  while True:   # every vector straight to its root
    jumped = parent[parent]
    if np.array_equal(jumped, parent):
      return parent
    parent = jumped


def write_duplicates(index_dir: str, threshold: float) -> Tuple[str, int, int]:
  """``INDEX/duplicates.parquet``: one row per image in a group of two or
  more (``group``, its ``representative`` key, ``key``, ``cosine`` to the
  representative, the group's ``size``), the representative first.
  Returns its path, the number of groups and of images in them."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  index, keys, _ = store.load(index_dir)
  group = components(index, threshold)
  sizes = np.bincount(group, minlength=len(group))
  members = np.nonzero(sizes[group] > 1)[0]
  order = np.lexsort((members != group[members], group[members]))
  members = members[order]
  cosines = np.empty(len(members), np.float32)
  for start in range(0, len(members), BATCH):
    chunk = members[start:start + BATCH]
    mine = index.reconstruct_batch(chunk)
    theirs = index.reconstruct_batch(group[chunk])
    cosines[start:start + len(chunk)] = np.einsum(
        "ij,ij->i", store.unit(mine), store.unit(theirs))
  table = pa.table({
      "group": pa.array(group[members], pa.int64()),
      "representative": keys.take(group[members]),
      "key": keys.take(members),
      "key_escaped": pa.array(np.asarray(keys.escaped, bool)[members],
                              pa.bool_()),
      "cosine": pa.array(cosines, pa.float32()),
      "size": pa.array(sizes[group[members]], pa.int64())})
  path = FileSystems.join(index_dir, FILE)
  with tempfile.TemporaryDirectory(prefix="hub_image_beam_dups_") as tmp:
    local = os.path.join(tmp, FILE)
    pq.write_table(table, local)
    store.copy_in(local, path)
  return path, int(np.count_nonzero(sizes > 1)), len(members)
