"""What a classification row holds: the k best classes and their scores.

:class:`TopKSettings` is the one declaration of ``--top_k`` and ``--score``
(the flags take their defaults from it, the row layout carries it); the
functions are pure, on numpy arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np

SCORES = ("logits", "softmax", "sigmoid")


@dataclasses.dataclass(frozen=True)
class TopKSettings:
  """Attributes:
    k: classes per row, best first (clipped to the model's classes).
    score: logits, softmax or sigmoid; all keep the logits' order.
  """
  k: int = 5
  score: str = "logits"


def scores_from_logits(logits: np.ndarray, score: str) -> np.ndarray:
  """Maps logits float32 [N] to the requested score (same order)."""
  logits = np.asarray(logits, dtype=np.float32)
  if score == "logits":
    return logits
  if score == "softmax":
    shifted = logits - np.max(logits)
    exp = np.exp(shifted)
    return (exp / np.sum(exp)).astype(np.float32)
  if score == "sigmoid":
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(
        np.float32)
  raise ValueError(f"unknown score {score!r} (expected one of {SCORES})")


def top_k(logits: np.ndarray, k: int,
          score: str = "logits") -> Tuple[np.ndarray, np.ndarray]:
  """The k highest-scoring classes.

  Args:
    logits: float32 [num_classes].
    k: how many (clipped to num_classes).
    score: logits, softmax or sigmoid; all keep the logits' order.

  Returns:
    indices int32 [k] (best first, ties by lower index) and their scores
    float32 [k].
  """
  k = min(k, logits.shape[0])
  # Stable sort on -logits keeps the lower index first among ties.
  order = np.argsort(-logits, kind="stable")[:k].astype(np.int32)
  return order, scores_from_logits(logits, score)[order]
