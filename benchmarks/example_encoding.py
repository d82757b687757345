"""Result rows to serialized tf.train.Examples: ours (per row, following the
Arrow schema) vs tfx-bsl's RecordBatchToExamplesEncoder (per RecordBatch).

    python -m benchmarks.example_encoding [--rows N]

Both encoders run side by side in one process on the same rows, for a
feature-vector layout (1280 floats) and a classification layout (top-5 with
labels); each is timed best of 3. tfx-bsl's time includes building the
RecordBatch from the row dicts, which a sink would have to do.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from transforms.core import tasks
from transforms.write import columns
from transforms.write import top_k
from transforms.write import examples
from transforms.write import rows as rows_lib


def _rows(layout: columns.RowLayout, count: int):
  rng = np.random.default_rng(0)
  builder = rows_lib.RowBuilder(layout)
  return [builder.build(f"gs://bucket/images/{i:08d}.jpg",
                        {"default": rng.standard_normal(
                            layout.num_outputs).astype(np.float32)})
          for i in range(count)]


def _tfx_value_type(arrow_type: pa.DataType) -> pa.DataType:
  value_type = (arrow_type.value_type if pa.types.is_fixed_size_list(
      arrow_type) or pa.types.is_list(arrow_type) else arrow_type)
  if pa.types.is_string(value_type):
    return pa.binary()
  if pa.types.is_integer(value_type):
    return pa.int64()
  return value_type


def _best(fn, repeats=3) -> float:
  best = float("inf")
  for _ in range(repeats):
    started = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - started)
  return best


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rows", type=int, default=5000)
  args = parser.parse_args(argv)
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  from tfx_bsl.coders import example_coder  # pylint: disable=g-import-not-at-top
  layouts = {
      "feature_vector (1280 floats)": columns.RowLayout(
          task=tasks.TASK_FEATURE_VECTOR, num_outputs=1280),
      "classification (top-5 + labels)": columns.RowLayout(
          task=tasks.TASK_CLASSIFICATION, num_outputs=1000,
          top_k=top_k.TopKSettings(k=5),
          labels=tuple(f"class {i}" for i in range(1000))),
  }
  for name, layout in layouts.items():
    schema = columns.results_schema(layout, {})
    rows = _rows(layout, args.rows)
    ours = _best(lambda: [examples.row_to_example(r, schema) for r in rows])
    encoder = example_coder.RecordBatchToExamplesEncoder()
    # tfx-bsl takes only list<binary|int64|float32> columns: no scalars,
    # no fixed-size lists, no strings or int32. A sink would have to convert
    # rows the same way.
    plain = pa.schema([pa.field(f.name, pa.list_(_tfx_value_type(f.type)))
                       for f in schema])
    scalars = [f.name for f in schema
               if not (pa.types.is_fixed_size_list(f.type) or
                       pa.types.is_list(f.type))]

    def with_tfx_bsl():
      wrapped = [{**r, **{n: [r[n]] for n in scalars}} for r in rows]
      batch = pa.RecordBatch.from_pylist(wrapped, schema=plain)
      return encoder.encode(batch)

    try:
      theirs = _best(with_tfx_bsl)
      same = all(
          example_pb2.Example.FromString(a) == example_pb2.Example.FromString(
              examples.row_to_example(r, schema))
          for a, r in zip(with_tfx_bsl()[:100], rows))
      verdict = (f"tfx-bsl {args.rows / theirs:9.0f} rows/s  "
                 f"(x{ours / theirs:.2f}; same Examples: {same})")
    except Exception as e:  # pylint: disable=broad-except
      verdict = f"tfx-bsl failed: {type(e).__name__}: {e}"
    print(f"{name:34s} ours {args.rows / ours:9.0f} rows/s  {verdict}")


if __name__ == "__main__":
  main()
