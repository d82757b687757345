"""Every result column, declared once.

:func:`result_columns` is the one list of what a result row holds for a
given :class:`RowLayout`: each :class:`Column` has its name, Arrow type,
nullability, a one-line description, and how its value is taken from an
image's :class:`ImageResult`. The row builder (``rows.py``), the Arrow schema
(:func:`results_schema`), the ``tf.train.Example`` encoding (which follows
the schema) and ``pipelines.show_results`` all derive from it; a new column
is one entry here.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from transforms.core import failures
from transforms.core import tasks
from transforms.write import top_k as top_k_lib

KEY = "key"
# Whether the key is an escaped file name (``core.file_names``): the name
# was not UTF-8. (key, key_escaped) identifies an input.
KEY_ESCAPED = "key_escaped"
EMBEDDING = "embedding"
TOP_K_INDICES = "top_k_indices"
TOP_K_SCORES = "top_k_scores"
TOP_K_LABELS = "top_k_labels"
RESERVED_COLUMNS = (KEY, KEY_ESCAPED, EMBEDDING, TOP_K_INDICES,
                    TOP_K_SCORES, TOP_K_LABELS)

METADATA_PREFIX = "hub_image_beam."
# The metadata entry naming the results' task (``job_metadata``'s "task").
TASK_METADATA = METADATA_PREFIX + "task"
# The column that only one task's results have: how a file's task is told
# when its metadata does not say (TFRecord results).
TASK_COLUMNS = {tasks.TASK_FEATURE_VECTOR: EMBEDDING,
                tasks.TASK_CLASSIFICATION: TOP_K_INDICES}


def task_from_columns(names) -> Optional[str]:
  """The task whose results have these column names, None if neither."""
  present = set(names)
  return next((task for task, column in TASK_COLUMNS.items()
               if column in present), None)


@dataclasses.dataclass(frozen=True)
class RowLayout:
  """What each result row holds; built once by the job plan.

  Attributes:
    task: feature_vector or classification.
    num_outputs: N, the model's output width.
    top_k: classes per row and their score (classification).
    labels: class names by index, or None.
    extra_shapes: (name, shape without batch) per extra model output,
      written flattened.
    passthrough_columns: source columns copied to each row.
    passthrough_types: their Arrow types (as the source file has them);
      empty: strings.
  """
  task: str
  num_outputs: int
  top_k: top_k_lib.TopKSettings = top_k_lib.TopKSettings()
  labels: Optional[Tuple[str, ...]] = None
  extra_shapes: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()
  passthrough_columns: Tuple[str, ...] = ()
  passthrough_types: Tuple[pa.DataType, ...] = ()

  def passthrough_type(self, index: int) -> pa.DataType:
    return (self.passthrough_types[index] if self.passthrough_types
            else pa.string())


@dataclasses.dataclass(frozen=True)
class ImageResult:
  """One image's values, before they are laid out as columns."""
  key: str
  main: np.ndarray
  key_escaped: bool = False
  top_k_indices: Optional[np.ndarray] = None
  top_k_scores: Optional[np.ndarray] = None
  top_k_labels: Optional[Sequence[str]] = None
  extras: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
  passthrough: Mapping[str, object] = dataclasses.field(
      default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Column:
  name: str
  arrow_type: pa.DataType
  nullable: bool
  description: str
  value: Callable[[ImageResult], object]

  def field(self) -> pa.Field:
    return pa.field(self.name, self.arrow_type, nullable=self.nullable)


def _extra(name: str, result: ImageResult) -> np.ndarray:
  return result.extras[name]


def _passthrough(name: str, result: ImageResult) -> object:
  return result.passthrough.get(name)


def extra_width(shape: Sequence[int]) -> int:
  return int(np.prod(shape)) if len(shape) else 1


def result_columns(layout: RowLayout) -> Tuple[Column, ...]:
  """The result columns for ``layout``, in file order."""
  columns = [Column(KEY, pa.string(), False, "the input's key",
                    lambda r: r.key),
             Column(KEY_ESCAPED, pa.bool_(), False,
                    "the key is an escaped file name (the name was not "
                    "UTF-8; \\xNN per other byte, \\\\ per backslash)",
                    lambda r: r.key_escaped)]
  if layout.task == tasks.TASK_FEATURE_VECTOR:
    columns.append(Column(
        EMBEDDING, pa.list_(pa.float32(), layout.num_outputs), False,
        f"the model's {layout.num_outputs} features", lambda r: r.main))
  else:
    columns.append(Column(
        TOP_K_INDICES, pa.list_(pa.int32()), False,
        "class indices, best first", lambda r: r.top_k_indices))
    columns.append(Column(
        TOP_K_SCORES, pa.list_(pa.float32()), False,
        f"their scores ({layout.top_k.score})", lambda r: r.top_k_scores))
    if layout.labels is not None:
      columns.append(Column(
          TOP_K_LABELS, pa.list_(pa.string()), False,
          "their class names", lambda r: r.top_k_labels))
  for name, shape in layout.extra_shapes:
    columns.append(Column(
        name, pa.list_(pa.float32(), extra_width(shape)), False,
        f"extra output {name} {list(shape)}, flattened",
        functools.partial(_extra, name)))
  for index, name in enumerate(layout.passthrough_columns):
    columns.append(Column(name, layout.passthrough_type(index), True,
                          f"source column {name}",
                          functools.partial(_passthrough, name)))
  return tuple(columns)


def results_schema(layout: RowLayout,
                   metadata: Mapping[str, str]) -> pa.Schema:
  """The results' Arrow schema, with the run's key-value metadata."""
  meta = {METADATA_PREFIX + k: v for k, v in metadata.items()}
  meta[METADATA_PREFIX + "extra_output_shapes"] = json.dumps(
      {name: list(shape) for name, shape in layout.extra_shapes})
  return pa.schema([c.field() for c in result_columns(layout)],
                   metadata=meta)


def job_metadata(handle: str, task: str, image_size: Tuple[int, int],
                 entry: str, score: Optional[str], precision: str,
                 engine: str, engine_version: str) -> Dict[str, str]:
  meta = {"model": handle, "task": task,
          "image_size": f"{image_size[0]},{image_size[1]}", "entry": entry,
          "precision": precision, "engine": engine,
          "engine_version": engine_version}
  if task == tasks.TASK_CLASSIFICATION and score:
    meta["score"] = score
  return meta


# The failures output's columns: the Failure record's fields, in order.
FAILURE_SCHEMA = pa.schema([
    pa.field(f.name, pa.bool_() if f.name == KEY_ESCAPED else pa.string(),
             nullable=False)
    for f in dataclasses.fields(failures.Failure)])
