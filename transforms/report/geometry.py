"""Cosine nearest neighbours in batches, and a 2-D PCA map.

Pure numpy on float32 [rows, N] embeddings: the neighbour search compares
the queries with all rows a block at a time, so memory stays
``queries x block`` however many rows there are.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

BLOCK_ROWS = 8192


def _unit(vectors: np.ndarray) -> np.ndarray:
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return vectors / np.maximum(norms, 1e-12)


def nearest_neighbours(embeddings: np.ndarray, queries: Sequence[int],
                       k: int = 5, block_rows: int = BLOCK_ROWS
                       ) -> Tuple[np.ndarray, np.ndarray]:
  """The ``k`` most cosine-similar rows to each query row (itself excluded).

  Args:
    embeddings: float32 [rows, N].
    queries: row indices.
    k: neighbours per query (fewer when there are fewer other rows).
    block_rows: rows compared at a time.

  Returns:
    indices int64 [queries, k'] (most similar first) and their cosine
    similarities float32 [queries, k'].
  """
  rows = embeddings.shape[0]
  k = min(k, rows - 1)
  query_index = np.asarray(queries, dtype=np.int64)
  q = _unit(embeddings[query_index].astype(np.float32))
  best_sim = np.full((len(q), max(k, 0)), -np.inf, np.float32)
  best_idx = np.full((len(q), max(k, 0)), -1, np.int64)
  if k <= 0:
    return best_idx, best_sim
  for start in range(0, rows, block_rows):
    block = _unit(embeddings[start:start + block_rows].astype(np.float32))
    sims = q @ block.T
    ids = np.arange(start, start + block.shape[0])
    sims[ids[None, :] == query_index[:, None]] = -np.inf  # not itself
    all_sim = np.concatenate([best_sim, sims], axis=1)
    all_idx = np.concatenate([best_idx, np.broadcast_to(ids, sims.shape)],
                             axis=1)
    order = np.argsort(-all_sim, axis=1, kind="stable")[:, :k]
    best_sim = np.take_along_axis(all_sim, order, axis=1)
    best_idx = np.take_along_axis(all_idx, order, axis=1)
  return best_idx, best_sim


def pca_2d(embeddings: np.ndarray, block_rows: int = BLOCK_ROWS) -> np.ndarray:
  """float32 [rows, 2]: the rows projected on their two main axes.

  The covariance is accumulated a block at a time (N x N), so any number of
  rows fits; the signs are fixed so the map is stable from run to run.
  """
  rows, dims = embeddings.shape
  if rows == 0:
    return np.zeros((0, 2), np.float32)
  mean = np.zeros(dims, np.float64)
  for start in range(0, rows, block_rows):
    mean += embeddings[start:start + block_rows].sum(axis=0)
  mean /= rows
  cov = np.zeros((dims, dims), np.float64)
  for start in range(0, rows, block_rows):
    centred = embeddings[start:start + block_rows] - mean
    cov += centred.T @ centred
  values, vectors = np.linalg.eigh(cov)
  axes = vectors[:, np.argsort(values)[::-1][:2]]
  if axes.shape[1] < 2:
    axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
  axes *= np.where(axes.sum(axis=0) < 0, -1.0, 1.0)
  out = np.zeros((rows, 2), np.float32)
  for start in range(0, rows, block_rows):
    out[start:start + block_rows] = (
        embeddings[start:start + block_rows] - mean) @ axes
  return out
