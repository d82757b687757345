"""Result and failure rows as ``tf.train.Example``s, and back.

Rows are written following the results' Arrow schema (so the Example
features are the Parquet columns, by name); :func:`example_to_row` is the one
reader of our own Examples (the check of earlier results, their keys in an
incremental run, and the report all read through it).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Sequence

import numpy as np
import pyarrow as pa

from transforms.core import failures
from transforms.write import columns

# Columns written as one value, read back as a scalar (the rest are lists).
SCALAR_COLUMNS = frozenset(
    [columns.KEY] + [f.name for f in dataclasses.fields(failures.Failure)])


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
    if pa.types.is_boolean(value_type):
      features[field.name].int64_list.value.extend(int(bool(v))
                                                   for v in values)
    elif pa.types.is_string(value_type):
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


def example_to_row(record: bytes) -> Dict[str, object]:
  """Parses one of our Examples back to a row dict.

  Scalar columns (the key and the failure fields) come back as one value,
  the rest as lists; strings are decoded as UTF-8.

  Raises:
    google.protobuf.message.DecodeError: not a serialized Example.
  """
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  features = example_pb2.Example.FromString(record).features.feature
  row: Dict[str, object] = {}
  for name, feature in features.items():
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if kind == "bytes_list":
      values = [v.decode("utf-8", "replace") for v in values]
    if name in SCALAR_COLUMNS:
      row[name] = values[0] if values else None
    else:
      row[name] = values
  return row
