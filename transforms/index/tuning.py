"""Recall of an index measured while it is built, and ``nprobe`` tuned to
a recall target (issue 37).

The queries are sample vectors moved slightly (a query near an indexed
image, as a search for a similar photo is), and their exact neighbours
are found while the vectors are added, batch by batch, over at most
:data:`GROUND_TRUTH_MAX` vectors: recall is measured on those (the search
restricted to them), so the build never holds more than the queries and
their running top ``k``.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from transforms.index import choice
from transforms.index import store

QUERIES = 200
K = 10
# Recall is measured over at most this many vectors (the first ones). It
# was 2,000,000: at 10,000,000 vectors a search restricted to the first
# 2,000,000 measured 0.919 where the whole index gave 0.703 (its true
# neighbours are nearer one another, so PQ's errors cost more); over all of
# them the tuning sees what a search sees. 200 queries over 20,000,000
# vectors of 256 floats is about a teraflop: a minute of two cores.
GROUND_TRUTH_MAX = 20_000_000
TARGET_RECALL = 0.9
_MOVE = 0.1


def queries_near(vectors: np.ndarray, count: int = QUERIES,
                 seed: int = 0) -> np.ndarray:
  """Unit queries each a small step (length 0.1) from one of ``vectors``."""
  rng = np.random.default_rng(seed)
  picked = vectors[rng.choice(len(vectors), min(count, len(vectors)),
                              replace=False)]
  picked = picked / np.maximum(np.linalg.norm(picked, axis=1,
                                              keepdims=True), 1e-12)
  noise = rng.normal(size=picked.shape).astype(np.float32)
  noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
  moved = picked + _MOVE * noise
  return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(
      np.float32)


class ExactNeighbours:
  """The exact top ``k`` of fixed queries over vectors added in position
  order, up to ``limit`` vectors."""

  def __init__(self, queries: np.ndarray, k: int = K,
               limit: int = GROUND_TRUTH_MAX):
    self.queries, self.k, self.limit = queries, k, limit
    self._sims = np.full((len(queries), k), -np.inf, np.float32)
    self._ids = np.full((len(queries), k), -1, np.int64)
    self.seen = 0

  def add(self, unit_vectors: np.ndarray) -> None:
    room = self.limit - self.seen
    if room <= 0 or not len(unit_vectors):
      self.seen += len(unit_vectors)
      return
    block = unit_vectors[:room]
    sims = self.queries @ block.T
    # The block's own top k by partition, then merged with the best so far.
    if sims.shape[1] > self.k:
      part = np.argpartition(-sims, self.k, axis=1)[:, :self.k]
    else:
      part = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
    both_sims = np.concatenate(
        [self._sims, np.take_along_axis(sims, part, axis=1)], axis=1)
    both_ids = np.concatenate([self._ids, part + self.seen], axis=1)
    top = np.argsort(-both_sims, axis=1)[:, :self.k]
    self._sims = np.take_along_axis(both_sims, top, axis=1)
    self._ids = np.take_along_axis(both_ids, top, axis=1)
    self.seen += len(unit_vectors)

  def truth(self) -> np.ndarray:
    return self._ids

  def measured_over(self) -> int:
    return min(self.seen, self.limit)


def recall(truth: np.ndarray, got: np.ndarray) -> float:
  """Mean share of each query's true top k found in its returned top k."""
  k = truth.shape[1]
  return float(np.mean([len(set(t[t >= 0]) & set(g[:k][g[:k] >= 0])) /
                        max(1, len(t[t >= 0])) for t, g in zip(truth, got)]))


def _params(index, nprobe: Optional[int], limit: Optional[int]):
  """faiss search parameters: ``nprobe`` and the first ``limit``
  positions only, through an OPQ rotation if there is one."""
  import faiss  # pylint: disable=g-import-not-at-top
  inner = getattr(index, "faiss_index", index)
  selector = faiss.IDSelectorRange(0, limit) if limit else None
  params: Any
  if nprobe is not None:
    params = faiss.SearchParametersIVF()
    params.nprobe = int(nprobe)
  elif hasattr(inner, "hnsw"):
    params = getattr(faiss, "SearchParametersHNSW")()
    params.efSearch = inner.hnsw.efSearch
  else:
    params = faiss.SearchParameters()
  if selector is not None:
    params.sel = selector
  if isinstance(inner, faiss.IndexPreTransform):
    outer = faiss.SearchParametersPreTransform()
    outer.index_params = params
    return outer, selector
  return params, selector


def measure(index, queries: np.ndarray, truth: np.ndarray, measured_over: int,
            nprobe: Optional[int] = None) -> Tuple[float, float]:
  """(recall@k, ms per query in batches of the queries) of ``index``."""
  limit = measured_over if measured_over < index.ntotal else None
  params, _ = _params(index, nprobe, limit)
  start = time.perf_counter()
  _, got = index.search(queries, truth.shape[1], params=params)
  ms = (time.perf_counter() - start) * 1000 / max(1, len(queries))
  return recall(truth, got), ms


# Candidates re-ranked, times k. Up to 50 x k was enough at 1,000,000
# clustered vectors of 256 floats (0.957); at 10,000,000 under 2 GB the
# true top 10 of a query lie among its cluster's 10,000 vectors nearly
# equally far, and PQ's order put only 0.77 of them in the top 500.
RERANK_FACTORS = (4, 10, 20, 50, 100, 200, 400)


def tune_nprobe(index, nlist: int, queries: np.ndarray, truth: np.ndarray,
                measured_over: int, target: float = TARGET_RECALL
                ) -> Tuple[int, float, float]:
  """The smallest power-of-two ``nprobe`` reaching ``target`` recall (or
  the best found); returns (nprobe, recall, ms per query)."""
  best = (1, -1.0, 0.0)
  nprobe = 1
  while nprobe <= nlist:
    got, ms = measure(index, queries, truth, measured_over, nprobe)
    if got > best[1] + 1e-9:
      best = (nprobe, got, ms)
    if got >= target:
      return nprobe, got, ms
    if nprobe >= 4 and got <= best[1] and best[0] < nprobe // 2:
      break   # more lists no longer help: the codes limit recall
    nprobe *= 2
  return best


def tune_reranked(index, nlist: int, queries: np.ndarray, truth: np.ndarray,
                  measured_over: int, target: float = TARGET_RECALL
                  ) -> Tuple[int, int, float, float]:
  """The fewest candidates re-ranked (``RERANK_FACTORS`` times k), then the
  smallest ``nprobe``, reaching ``target`` (or the best found); returns
  (rerank factor, nprobe, recall, ms per query). ``index`` is a
  ``store.Reranked``."""
  best = (RERANK_FACTORS[0], 1, -1.0, 0.0)
  for factor in RERANK_FACTORS:
    index.factor = factor
    nprobe, got, ms = tune_nprobe(index, nlist, queries, truth,
                                  measured_over, target)
    if got > best[2]:
      best = (factor, nprobe, got, ms)
    if got >= target:
      break
  index.factor = best[0]
  return best


def measure_built(index, chosen: choice.IndexChoice,
                  truth: Optional[ExactNeighbours],
                  raw_path: Optional[str]) -> Dict:
  """Recall@10 and query time as built, against exact search (IVF-PQ:
  ``nprobe`` tuned, with re-ranking from the raw vectors). An exact index
  is exact."""
  if truth is None:   # exact; or nothing new was added to an HNSW index
    return {"recall_at_10": 1.0 if chosen.kind == choice.FLAT else None,
            "measured_over": index.ntotal, "queries": 0}
  searched = index
  if raw_path is not None and index.ntotal:
    searched = store.Reranked(index, np.memmap(
        raw_path, np.float32, "r", shape=(index.ntotal, index.d)))
  over = truth.measured_over()
  result: Dict = {"measured_over": over, "queries": len(truth.queries)}
  if chosen.kind == choice.IVFPQ:
    factor, nprobe, got, ms = tune_reranked(
        searched, chosen.nlist, truth.queries, truth.truth(), over)
    store.set_nprobe(index, nprobe)
    result.update(nprobe=nprobe, rerank=factor)
  else:
    got, ms = measure(searched, truth.queries, truth.truth(), over)
  result.update(recall_at_10=round(got, 4), ms_per_query=round(ms, 3))
  return result


def recall_text(measured: Dict) -> str:
  if measured.get("recall_at_10") is None:
    return "recall not measured (nothing new added)"
  nprobe = (f", nprobe {measured['nprobe']}, the top {measured['rerank']} x "
            "k re-ranked exactly" if measured.get("nprobe") else "")
  return (f"recall@{K} {measured['recall_at_10']:.3f} against exact "
          f"search over {measured['measured_over']:,} vectors{nprobe}")
