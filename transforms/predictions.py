"""Turning model outputs into result rows: top-k, scores and the row dict.

Pure functions on numpy arrays, tested without a pipeline.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from transforms import failures
from transforms import model_loading

SCORES = ("logits", "softmax", "sigmoid")

KEY = "key"
EMBEDDING = "embedding"
TOP_K_INDICES = "top_k_indices"
TOP_K_SCORES = "top_k_scores"
TOP_K_LABELS = "top_k_labels"
RESERVED_COLUMNS = (KEY, EMBEDDING, TOP_K_INDICES, TOP_K_SCORES, TOP_K_LABELS)


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


@dataclasses.dataclass(frozen=True)
class RowSpec:
  """What each result row holds.

  Attributes:
    task: feature_vector or classification.
    top_k: classes per row (classification).
    score: logits, softmax or sigmoid (classification).
    labels: class names by index, or None.
    extra_outputs: extra model outputs written flattened, by name.
    passthrough_columns: source columns copied to each row as strings.
  """
  task: str
  top_k: int = 5
  score: str = "logits"
  labels: Optional[Tuple[str, ...]] = None
  extra_outputs: Tuple[str, ...] = ()
  passthrough_columns: Tuple[str, ...] = ()


def build_row(key: str, outputs: Mapping[str, np.ndarray], spec: RowSpec,
              passthrough: Optional[Mapping[str, object]] = None) -> Dict:
  """Builds one result row from one image's model outputs.

  Args:
    key: the input's key.
    outputs: ``{"default": [N], <extra>: [...]}`` for this image.
    spec: the row layout.
    passthrough: source column values for ``spec.passthrough_columns``.

  Returns:
    The row as a dict of column name to value.

  Raises:
    failures.ImageFailure: the output is not a finite float vector.
  """
  main = np.asarray(outputs[model_loading.DEFAULT_OUTPUT])
  if main.ndim != 1:
    raise failures.ImageFailure(
        failures.REASON_BAD_OUTPUT,
        f"model output for one image has shape {list(main.shape)}, "
        "expected [N]")
  if not np.all(np.isfinite(main)):
    raise failures.ImageFailure(
        failures.REASON_BAD_OUTPUT,
        f"model output has {int(np.sum(~np.isfinite(main)))} non-finite "
        "values (NaN or inf)")
  row: Dict[str, object] = {KEY: key}
  if spec.task == model_loading.TASK_FEATURE_VECTOR:
    row[EMBEDDING] = main.astype(np.float32, copy=False)
  else:
    indices, scores = top_k(main, spec.top_k, spec.score)
    row[TOP_K_INDICES] = indices
    row[TOP_K_SCORES] = scores
    if spec.labels is not None:
      row[TOP_K_LABELS] = [spec.labels[i] for i in indices]
  for name in spec.extra_outputs:
    row[name] = np.asarray(outputs[name], dtype=np.float32).reshape(-1)
  passthrough = passthrough or {}
  for name in spec.passthrough_columns:
    value = passthrough.get(name)
    row[name] = None if value is None else str(value)
  return row


def read_labels(path: str) -> Tuple[str, ...]:
  """Reads a labels file: one class name per line, line i = class i."""
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  with FileSystems.open(path) as f:
    text = f.read().decode("utf-8")
  lines = text.splitlines()
  while lines and not lines[-1].strip():
    lines.pop()
  return tuple(line.strip() for line in lines)

