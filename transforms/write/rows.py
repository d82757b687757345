"""Turning model outputs into result rows: top-k, scores and the row dict.

Pure functions on numpy arrays, tested without a pipeline. Which columns a
row has, and in what order, is declared once in ``columns.py``.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from transforms.core import failures
from transforms.core import tasks
from transforms.write import columns as columns_lib

SCORES = ("logits", "softmax", "sigmoid")


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


class RowBuilder:
  """Builds result rows for one layout (its columns are resolved once)."""

  def __init__(self, layout: columns_lib.RowLayout):
    self._layout = layout
    self._columns = columns_lib.result_columns(layout)

  def build(self, key: str, outputs: Mapping[str, np.ndarray],
            passthrough: Optional[Mapping[str, object]] = None) -> Dict:
    """Builds one result row from one image's model outputs.

    Args:
      key: the input's key.
      outputs: ``{"default": [N], <extra>: [...]}`` for this image.
      passthrough: source column values for the layout's passthrough
        columns.

    Returns:
      The row as a dict of column name to value, one entry per column.

    Raises:
      failures.ImageFailure: the output is not a finite float vector.
    """
    result = image_result(key, outputs, self._layout, passthrough)
    return {c.name: c.value(result) for c in self._columns}


def image_result(key: str, outputs: Mapping[str, np.ndarray],
                 layout: columns_lib.RowLayout,
                 passthrough: Optional[Mapping[str, object]] = None
                 ) -> columns_lib.ImageResult:
  """Checks the main output and computes every value a column may take."""
  main = np.asarray(outputs[tasks.DEFAULT_OUTPUT])
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
  main = main.astype(np.float32, copy=False)
  indices = scores = labels = None
  if layout.task == tasks.TASK_CLASSIFICATION:
    indices, scores = top_k(main, layout.top_k, layout.score)
    if layout.labels is not None:
      labels = [layout.labels[i] for i in indices]
  extras = {name: np.asarray(outputs[name], dtype=np.float32).reshape(-1)
            for name, _ in layout.extra_shapes}
  given = passthrough or {}
  copied = {name: None if given.get(name) is None else str(given[name])
            for name in layout.passthrough_columns}
  return columns_lib.ImageResult(
      key=key, main=main, top_k_indices=indices, top_k_scores=scores,
      top_k_labels=labels, extras=extras, passthrough=copied)


def build_row(key: str, outputs: Mapping[str, np.ndarray],
              layout: columns_lib.RowLayout,
              passthrough: Optional[Mapping[str, object]] = None) -> Dict:
  """One row, for callers that build a few (see :class:`RowBuilder`)."""
  return RowBuilder(layout).build(key, outputs, passthrough)


def read_labels(path: str) -> Tuple[str, ...]:
  """Reads a labels file: one class name per line, line i = class i."""
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  with FileSystems.open(path) as f:
    text = f.read().decode("utf-8")
  lines = text.splitlines()
  while lines and not lines[-1].strip():
    lines.pop()
  return tuple(line.strip() for line in lines)
