"""Turning one image's model outputs into a result row.

Pure functions on numpy arrays, tested without a pipeline. Which columns a
row has, and in what order, is declared once in ``columns.py``; the model
stage has already checked the outputs (``model.outputs``).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np
import pyarrow as pa

from transforms.core import tasks
from transforms.write import columns as columns_lib
from transforms.write import top_k as top_k_lib

class RowBuilder:
  """Builds result rows for one layout (its columns are resolved once)."""

  def __init__(self, layout: columns_lib.RowLayout):
    self._layout = layout
    self._columns = columns_lib.result_columns(layout)

  def build(self, key: str, outputs: Mapping[str, np.ndarray],
            passthrough: Optional[Mapping[str, object]] = None,
            key_escaped: bool = False) -> Dict:
    """Builds one result row from one image's model outputs.

    Args:
      key: the input's key.
      outputs: ``{"default": [N], <extra>: [...]}`` for this image.
      passthrough: source column values for the layout's passthrough
        columns.
      key_escaped: ``key`` is an escaped file name.

    Returns:
      The row as a dict of column name to value, one entry per column.
    """
    result = image_result(key, outputs, self._layout, passthrough,
                          key_escaped)
    return {c.name: c.value(result) for c in self._columns}


def image_result(key: str, outputs: Mapping[str, np.ndarray],
                 layout: columns_lib.RowLayout,
                 passthrough: Optional[Mapping[str, object]] = None,
                 key_escaped: bool = False) -> columns_lib.ImageResult:
  """Computes every value a column may take."""
  main = np.asarray(outputs[tasks.DEFAULT_OUTPUT], dtype=np.float32)
  indices = scores = labels = None
  if layout.task == tasks.TASK_CLASSIFICATION:
    indices, scores = top_k_lib.top_k(main, layout.top_k.k,
                                      layout.top_k.score)
    if layout.labels is not None:
      labels = [layout.labels[i] for i in indices]
  extras = {name: np.asarray(outputs[name], dtype=np.float32).reshape(-1)
            for name, _ in layout.extra_shapes}
  given = passthrough or {}
  copied = {name: _typed(given.get(name), layout.passthrough_type(i))
            for i, name in enumerate(layout.passthrough_columns)}
  return columns_lib.ImageResult(
      key=key, key_escaped=key_escaped, main=main, top_k_indices=indices, top_k_scores=scores,
      top_k_labels=labels, extras=extras, passthrough=copied)


def _typed(value: object, arrow_type) -> object:
  """A pass-through value as its column's type holds it: strings as text
  (CSV manifests, WebDataset members), others as the source gave them."""
  if value is None:
    return None
  if pa.types.is_string(arrow_type) and not isinstance(value, str):
    return str(value)
  return value


def build_row(key: str, outputs: Mapping[str, np.ndarray],
              layout: columns_lib.RowLayout,
              passthrough: Optional[Mapping[str, object]] = None) -> Dict:
  """One row, for callers that build a few (see :class:`RowBuilder`)."""
  return RowBuilder(layout).build(key, outputs, passthrough)
