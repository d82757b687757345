"""Explicit Arrow schemas for results and failures, and Example encoding.

Parquet files carry the model handle, task, image size and extra output
shapes in their key-value metadata (keys prefixed ``hub_image_beam.``).
TFRecord results are ``tf.train.Example``s with the same feature names.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from transforms import model_loading
from transforms import predictions

METADATA_PREFIX = "hub_image_beam."

FAILURE_SCHEMA = pa.schema([
    pa.field("key", pa.string(), nullable=False),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("message", pa.string(), nullable=False),
])


def results_schema(spec: predictions.RowSpec,
                   num_outputs: int,
                   extra_shapes: Mapping[str, Sequence[int]],
                   metadata: Mapping[str, str]) -> pa.Schema:
  """The results schema.

  Args:
    spec: the row layout.
    num_outputs: N, the model's output width.
    extra_shapes: per extra output, its shape without the batch dimension.
    metadata: key-value metadata (model, task, image size, ...).
  """
  fields = [pa.field(predictions.KEY, pa.string(), nullable=False)]
  if spec.task == model_loading.TASK_FEATURE_VECTOR:
    fields.append(pa.field(predictions.EMBEDDING,
                           pa.list_(pa.float32(), num_outputs),
                           nullable=False))
  else:
    fields.append(pa.field(predictions.TOP_K_INDICES, pa.list_(pa.int32()),
                           nullable=False))
    fields.append(pa.field(predictions.TOP_K_SCORES, pa.list_(pa.float32()),
                           nullable=False))
    if spec.labels is not None:
      fields.append(pa.field(predictions.TOP_K_LABELS, pa.list_(pa.string()),
                             nullable=False))
  for name in spec.extra_outputs:
    width = int(np.prod(extra_shapes[name])) if len(extra_shapes[name]) else 1
    fields.append(pa.field(name, pa.list_(pa.float32(), width),
                           nullable=False))
  for name in spec.passthrough_columns:
    fields.append(pa.field(name, pa.string()))
  meta = {METADATA_PREFIX + k: v for k, v in metadata.items()}
  meta[METADATA_PREFIX + "extra_output_shapes"] = json.dumps(
      {k: list(v) for k, v in extra_shapes.items()})
  return pa.schema(fields, metadata=meta)


def job_metadata(handle: str, task: str, image_size: Tuple[int, int],
                 entry: str, score: Optional[str]) -> Dict[str, str]:
  meta = {"model": handle, "task": task,
          "image_size": f"{image_size[0]},{image_size[1]}", "entry": entry}
  if task == model_loading.TASK_CLASSIFICATION and score:
    meta["score"] = score
  return meta


def row_to_example(row: Mapping[str, object], schema: pa.Schema) -> bytes:
  """Serializes one row as a ``tf.train.Example`` following ``schema``."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  example = example_pb2.Example()
  features = example.features.feature
  for field in schema:
    value: Any = row.get(field.name)
    if value is None:
      continue
    value_type = field.type
    values: Sequence[Any]
    if pa.types.is_list(value_type) or pa.types.is_fixed_size_list(
        value_type):
      value_type = value_type.value_type
      values = value
    else:
      values = [value]
    if pa.types.is_string(value_type):
      features[field.name].bytes_list.value.extend(
          v.encode("utf-8") for v in values)
    elif pa.types.is_integer(value_type):
      features[field.name].int64_list.value.extend(
          np.asarray(values, dtype=np.int64).tolist())
    elif pa.types.is_floating(value_type):
      features[field.name].float_list.value.extend(
          np.asarray(values, dtype=np.float32).tolist())
    else:
      raise ValueError(f"no Example encoding for column {field.name!r} of "
                       f"type {field.type}")
  return example.SerializeToString()
