"""Does a second engine compute what TensorFlow computes, on this model?

Before a job runs a model through another engine, the same probe batch goes
through both and every row must agree: cosine >= :data:`MIN_COSINE` on the
main output (and on each extra output), and, for classification, the same
top-1 class. Pure functions on numpy arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from transforms.core import tasks

# OpenVINO in f32 agrees with TensorFlow to ~1e-6 relative (cosine 1.00000
# on the shared photos); a wrong conversion (a dropped op, a wrong layout,
# half precision) moves cosine well below this.
MIN_COSINE = 0.9999


@dataclasses.dataclass(frozen=True)
class Agreement:
  """How a candidate engine's outputs compare with the reference's.

  Attributes:
    rows: rows compared.
    min_cosine: the lowest cosine over rows and outputs.
    top1_same: rows with the same top-1 class (classification), else rows.
    max_abs_diff: the largest absolute difference on the main output.
  """
  rows: int
  min_cosine: float
  top1_same: int
  max_abs_diff: float

  @property
  def passed(self) -> bool:
    return self.min_cosine >= MIN_COSINE and self.top1_same == self.rows

  def __str__(self) -> str:
    return (f"{self.rows} probe images: min cosine {self.min_cosine:.6f} "
            f"(>= {MIN_COSINE} needed), top-1 {self.top1_same}/{self.rows}, "
            f"max |difference| {self.max_abs_diff:.3g}")


def row_cosines(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
  """Cosine of each row pair of two [rows, ...] arrays (flattened per row);
  two all-zero rows count as equal."""
  a = np.asarray(reference, np.float64).reshape(len(reference), -1)
  b = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
  norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
  dots = np.sum(a * b, axis=1)
  both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1)
                                                   == 0)
  with np.errstate(invalid="ignore", divide="ignore"):
    cosines = np.where(norms > 0, dots / np.where(norms > 0, norms, 1), 0.0)
  return np.where(both_zero, 1.0, cosines)


def compare(reference: Mapping[str, np.ndarray],
            candidate: Mapping[str, np.ndarray], task: str) -> Agreement:
  """Compares two engines' outputs for the same batch.

  Args:
    reference: TensorFlow's ``{"default": [rows, N], <extra>: ...}``.
    candidate: the other engine's, same keys.
    task: classification compares top-1 classes too.
  """
  main_ref = np.asarray(reference[tasks.DEFAULT_OUTPUT])
  main_got = np.asarray(candidate[tasks.DEFAULT_OUTPUT])
  if main_ref.shape != main_got.shape:
    return Agreement(rows=len(main_ref), min_cosine=0.0, top1_same=0,
                     max_abs_diff=float("inf"))
  cosines = [row_cosines(reference[k], candidate[k]) for k in reference]
  rows = len(main_ref)
  if task == tasks.TASK_CLASSIFICATION:
    top1 = int(np.sum(np.argmax(main_ref, axis=1) ==
                      np.argmax(main_got, axis=1)))
  else:
    top1 = rows
  return Agreement(
      rows=rows, min_cosine=float(min(np.min(c) for c in cosines)),
      top1_same=top1,
      max_abs_diff=float(np.max(np.abs(main_ref - main_got))))
