"""Result rows as ``tf.train.Example``s, following the results' Arrow
schema (so the Example features are the Parquet columns, by name)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa


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
