"""Measures the TFRecord source choice: our per-file reader (Beam's TFRecord
framing + Example parsing) vs tfx-bsl's TFXIO (Arrow RecordBatches).

    python -m benchmarks.tfrecord_read --images 2000

Both run on the same local runner and only read and count the image bytes.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_records(paths, out_dir, shards=4):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(out_dir, f"part-{i}.tfrecord"))
             for i in range(shards)]
  for i, path in enumerate(paths):
    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[open(path, "rb").read()])),
        "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[path.encode()]))}))
    writers[i % shards].write(example.SerializeToString())
  for w in writers:
    w.close()


def run_ours(pattern):
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from transforms.read import tfrecord as tfrecord_source  # pylint: disable=g-import-not-at-top
  with beam.Pipeline("FnApiRunner") as p:
    read = p | tfrecord_source.ReadTFRecordImages(
        [pattern], "image/encoded", "image/filename")
    _ = (read.images | beam.Map(lambda e: len(e.data))
         | beam.CombineGlobally(sum) | beam.Map(print))


def run_tfxio(pattern):
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from tfx_bsl.public import tfxio  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = schema_pb2.Schema()
  for name in ("image/encoded", "image/filename"):
    feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
    del feature
  source = tfxio.TFExampleRecord(file_pattern=pattern, schema=schema)

  def sizes(batch):
    column = batch.column(batch.schema.get_field_index("image/encoded"))
    return sum(len(v[0]) for v in column.to_pylist())

  with beam.Pipeline("FnApiRunner") as p:
    _ = (p | source.BeamSource(batch_size=64) | beam.Map(sizes)
         | beam.CombineGlobally(sum) | beam.Map(print))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument("--corpus", default="/tmp/hub_image_beam_bench/all")
  parser.add_argument("--images", type=int, default=2000)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_bench/tfr")
  args = parser.parse_args(argv)
  paths = sorted(glob.glob(os.path.join(args.corpus, "*")))[:args.images]
  if not glob.glob(os.path.join(args.work_dir, "*.tfrecord")):
    write_records(paths, args.work_dir)
  pattern = os.path.join(args.work_dir, "*.tfrecord")
  for name, fn in (("ours (Beam TFRecord framing)", run_ours),
                   ("tfx-bsl TFXIO", run_tfxio),
                   ("ours (again)", run_ours), ("tfx-bsl (again)", run_tfxio)):
    start = time.perf_counter()
    fn(pattern)
    seconds = time.perf_counter() - start
    print(f"{name:<32} {len(paths) / seconds:8.0f} records/s ({seconds:.2f} s)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
