"""Which index fits a memory budget (issue 37): pure functions.

As autofaiss chooses (``autofaiss/external/optimize.py``), the most
exact index whose size in memory fits:

* exact (``IndexFlatIP``) while there are at most ``store.FLAT_LIMIT``
  vectors (a query still costs milliseconds) and they fit;
* HNSW (M=32) over more, while the vectors and the graph fit;
* else IVF with product quantization, ``IVF{nlist},PQ{m}x4fs``: ``m``
  sub-quantizers of 4 bits (faiss's fast-scan PQ), ``m / 2`` bytes a
  vector, the largest ``m`` (dividing the dimension) that fits. Its
  candidates are re-ranked exactly on the vectors kept on disk
  (``store.Reranked``), which is what brings recall@10 over 0.9; 8-bit
  codes and OPQ were measured and left out: on this project's 2-core
  machine faiss trained ``IVF512,PQ64`` on 20,000 vectors of 64 floats
  in 123 s and ``OPQ32,IVF512,PQ32x4fs`` in 155 s, against 0.7 s for
  ``IVF512,PQ64x4fs``. ``nlist`` is the power of two nearest
  ``sqrt(n)`` (16 to 65,536), trained on a sample of about 64 vectors a
  list.

Sizes are what faiss holds: the vectors (4 bytes a float), HNSW's level-0
links (2 M int32) and levels, or a PQ code and an 8-byte id per vector,
with the coarse centroids and the PQ codebooks.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Dict, Optional

FLAT_LIMIT = 200_000
HNSW_M = 32
# The bytes of one HNSW vector beyond its floats: level 0's 2 M links,
# and the upper levels and offsets (about 1/M of a vector's links).
_HNSW_LINKS = 2 * HNSW_M * 4 + 24
# Sub-quantizers of 4 bits each, most first (fast-scan wants an even m).
_PQ_CODES = (2048, 1536, 1280, 1024, 768, 640, 512, 384, 320, 256, 192, 160,
             128, 96, 80, 64, 48, 40, 32, 24, 20, 16, 12, 8, 4, 2)
# Training points per inverted list, and the caps on a training sample
# (vectors, and bytes: the build's fixed overhead).
TRAIN_PER_LIST = 64
TRAIN_MAX = 262_144
TRAIN_BYTES = 256 * 2**20
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.I)

FLAT, HNSW, IVFPQ = "flat", "hnsw", "ivfpq"


class BudgetTooSmall(ValueError):
  """No index of these vectors fits the budget."""


def parse_size(value: str) -> int:
  """``2GB``, ``512MiB``, ``1.5g``, ``1000000`` -> bytes (GB = 10^9, GiB =
  2^30).

  Raises:
    ValueError: not a size.
  """
  match = _SIZE.match(str(value))
  if not match or float(match.group(1)) <= 0:
    raise ValueError(f"expected a size such as 2GB or 512MiB, found "
                     f"{value!r}")
  number, unit, binary = match.groups()
  if not unit:
    return int(float(number))
  base = 1024 if binary else 1000
  return int(float(number) * base ** ("kmgt".index(unit.lower()) + 1))


def default_budget() -> int:
  """Half of this machine's memory."""
  return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def flat_bytes(count: int, dimension: int) -> int:
  return count * dimension * 4


def hnsw_bytes(count: int, dimension: int) -> int:
  return count * (dimension * 4 + _HNSW_LINKS)


def ivfpq_bytes(count: int, dimension: int, nlist: int, m: int) -> int:
  return (count * (m // 2 + 8) + nlist * dimension * 4
          + 16 * dimension * 4)


def train_max(dimension: int) -> int:
  """The most vectors a training sample holds."""
  return max(1_000, min(TRAIN_MAX, TRAIN_BYTES // (4 * dimension)))


def nlist_for(count: int, dimension: int) -> int:
  """The power of two nearest sqrt(n), 16 to 65,536, and no more lists
  than the largest training sample trains at 39 a list. (faiss suggests
  4 to 16 sqrt(n) lists; training them costs 4 to 16 times more, minutes
  on two cores at a million vectors, and the tuned ``nprobe`` and exact
  re-ranking make up the recall.)"""
  target = math.sqrt(max(count, 1))
  nlist = 2 ** round(math.log2(max(target, 16)))
  nlist = min(nlist, 65_536,
              max(16, min(count, train_max(dimension)) // 39))
  return 2 ** int(math.log2(max(nlist, 1)))


@dataclasses.dataclass(frozen=True)
class IndexChoice:
  """An index kind and its parameters, with its estimated size."""
  kind: str
  count: int
  dimension: int
  budget: int
  bytes: int
  nlist: int = 0
  m: int = 0

  def factory(self) -> str:
    """faiss ``index_factory`` spelling (IVF-PQ only)."""
    return f"IVF{self.nlist},PQ{self.m}x4fs"

  def train_size(self) -> int:
    """Vectors to train IVF-PQ on (the whole set when it is smaller)."""
    return min(self.count, max(TRAIN_PER_LIST * self.nlist, 10_000),
               train_max(self.dimension))

  def describe(self) -> str:
    size = f"{_size(self.bytes)} of a {_size(self.budget)} budget"
    if self.kind == FLAT:
      return f"flat (exact), {size}"
    if self.kind == HNSW:
      return f"HNSW (M={HNSW_M}), {size}"
    return (f"IVF-PQ {self.factory()} ({self.m // 2} bytes a vector), "
            f"{size}")

  def to_json(self) -> Dict:
    return dataclasses.asdict(self)


def _size(count: int) -> str:
  return (f"{count / 1e9:.2f} GB" if count >= 10**9 else
          f"{count / 1e6:.1f} MB")


def choose(count: int, dimension: int, budget: int,
           compressed: bool = False) -> IndexChoice:
  """The most exact index of ``count`` vectors that fits ``budget`` bytes
  (IVF-PQ only when ``compressed``: the index a Beam build makes).

  Raises:
    BudgetTooSmall: not even the smallest IVF-PQ fits; says what would.
  """
  args = dict(count=count, dimension=dimension, budget=budget)
  flat = flat_bytes(count, dimension)
  if not compressed and count <= FLAT_LIMIT and flat <= budget:
    return IndexChoice(FLAT, bytes=flat, **args)
  hnsw = hnsw_bytes(count, dimension)
  if not compressed and count > FLAT_LIMIT and hnsw <= budget:
    return IndexChoice(HNSW, bytes=hnsw, **args)
  nlist = nlist_for(count, dimension)
  smallest: Optional[int] = None
  for m in _PQ_CODES:
    if dimension % m or m > dimension:
      continue
    size = ivfpq_bytes(count, dimension, nlist, m)
    smallest = size
    if size <= budget:
      return IndexChoice(IVFPQ, bytes=size, nlist=nlist, m=m, **args)
  raise BudgetTooSmall(
      f"--memory_budget {_size(budget)}: no index of {count:,} vectors "
      f"of {dimension} floats fits (the smallest, IVF-PQ at 1 byte a "
      f"vector and an 8-byte id, needs {_size(smallest or 0)}); expected a larger "
      "budget")
