"""The vector index on disk: faiss, cosine similarity as the inner product
of unit vectors.

Exact (``IndexFlatIP``) up to :data:`FLAT_LIMIT` vectors, where a query
still costs milliseconds; above it HNSW (``IndexHNSWFlat``, M=32,
efConstruction 80, efSearch 256), whose recall@10 against exact search was
measured at >= 0.95 (``benchmarks/README.md``, "Issue 29"). The folder
holds ``vectors.faiss``, ``keys.parquet`` (row i: the key of vector i) and
``manifest.json``.
"""
from __future__ import annotations

import json
import os
from typing import Any, List, Optional, Tuple

import numpy as np

FLAT_LIMIT = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
INDEX_FILE = "vectors.faiss"
KEYS_FILE = "keys.parquet"
MANIFEST_FILE = "manifest.json"


def unit(vectors: np.ndarray) -> np.ndarray:
  """Rows scaled to length 1 (zero rows stay zero)."""
  vectors = np.ascontiguousarray(vectors, np.float32)
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return vectors / np.where(norms > 0, norms, 1)


def new_index(dimension: int, expected: int) -> Any:
  import faiss  # pylint: disable=g-import-not-at-top
  if expected <= FLAT_LIMIT:
    return faiss.IndexFlatIP(dimension)
  index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
  index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
  index.hnsw.efSearch = HNSW_EF_SEARCH
  return index


def kind(index) -> str:
  return "flat (exact)" if type(index).__name__ == "IndexFlatIP" else \
      f"HNSW (M={HNSW_M}, efSearch={HNSW_EF_SEARCH})"


class Keys:
  """The key of each vector, in vector order."""

  def __init__(self, keys: Optional[List[str]] = None,
               escaped: Optional[List[bool]] = None,
               folders: Optional[List[int]] = None):
    self.keys = keys or []
    self.escaped = escaped or []
    self.folders = folders or []
    self._position = {(k, e): i for i, (k, e) in enumerate(
        zip(self.keys, self.escaped))}

  def __len__(self) -> int:
    return len(self.keys)

  def position(self, key: str, escaped: bool = False) -> Optional[int]:
    return self._position.get((key, escaped))

  def add(self, key: str, escaped: bool, folder: int) -> bool:
    """False when the key is indexed already."""
    if (key, escaped) in self._position:
      return False
    self._position[(key, escaped)] = len(self.keys)
    self.keys.append(key)
    self.escaped.append(escaped)
    self.folders.append(folder)
    return True

  def save(self, path: str) -> None:
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    pq.write_table(pa.table({"key": self.keys, "key_escaped": self.escaped,
                             "folder": pa.array(self.folders, pa.int32())}),
                   path)

  @classmethod
  def load(cls, path: str) -> "Keys":
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    table = pq.read_table(path)
    return cls(table.column("key").to_pylist(),
               table.column("key_escaped").to_pylist(),
               table.column("folder").to_pylist())


def save(folder: str, index, keys: Keys, manifest: dict) -> None:
  import faiss  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  faiss.write_index(index, os.path.join(folder, INDEX_FILE + ".tmp"))
  keys.save(os.path.join(folder, KEYS_FILE + ".tmp"))
  with open(os.path.join(folder, MANIFEST_FILE + ".tmp"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
  for name in (INDEX_FILE, KEYS_FILE, MANIFEST_FILE):
    os.replace(os.path.join(folder, name + ".tmp"), os.path.join(folder,
                                                                 name))


def exists(folder: str) -> bool:
  return all(os.path.exists(os.path.join(folder, n))
             for n in (INDEX_FILE, KEYS_FILE, MANIFEST_FILE))


def load(folder: str) -> Tuple[Any, Keys, dict]:
  import faiss  # pylint: disable=g-import-not-at-top
  index = faiss.read_index(os.path.join(folder, INDEX_FILE))
  if hasattr(index, "hnsw"):
    index.hnsw.efSearch = HNSW_EF_SEARCH
  with open(os.path.join(folder, MANIFEST_FILE)) as f:
    manifest = json.load(f)
  return index, Keys.load(os.path.join(folder, KEYS_FILE)), manifest


def search(index, queries: np.ndarray, k: int
           ) -> Tuple[np.ndarray, np.ndarray]:
  """(cosines [q, k], positions [q, k]; -1 where fewer than k)."""
  k = max(1, min(k, index.ntotal))
  return index.search(unit(queries), k)


def vector(index, position: int) -> np.ndarray:
  return index.reconstruct(int(position)).reshape(1, -1)
