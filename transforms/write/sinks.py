"""Sinks behind one small interface, picked by name.

``make_sink(name, prefix, schema, compression, num_shards)`` returns a
PTransform that writes a PCollection of row dicts as sharded files
``<prefix>-SSSSS-of-NNNNN<suffix>``.
"""
from __future__ import annotations

import json
from typing import Dict, Mapping, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io import filebasedsink
from apache_beam.io import parquetio
from apache_beam.io.filesystem import CompressionTypes

from transforms.write import examples

PARQUET = "parquet"
TFRECORD = "tfrecord"
JSONL = "jsonl"
SINK_NAMES = (PARQUET, TFRECORD, JSONL)
RESULT_FORMATS = (PARQUET, TFRECORD)

# Compression each sink accepts, and its default. TFRecord keeps to what
# tf.data reads (GZIP); text uses Beam's codecs.
COMPRESSIONS: Mapping[str, Tuple[str, ...]] = {
    PARQUET: ("none", "snappy", "gzip", "zstd", "brotli", "lz4"),
    TFRECORD: ("none", "gzip"),
    JSONL: ("none", "gzip"),
}
DEFAULT_COMPRESSION = {PARQUET: "snappy", TFRECORD: "none", JSONL: "none"}
_SUFFIX = {PARQUET: ".parquet", TFRECORD: ".tfrecord", JSONL: ".jsonl"}


def check_sink(name: str, compression: str) -> None:
  """Raises ValueError naming the valid choices."""
  if name not in SINK_NAMES:
    raise ValueError(f"unknown output format {name!r} (expected one of "
                     f"{', '.join(SINK_NAMES)})")
  if compression not in COMPRESSIONS[name]:
    raise ValueError(f"compression {compression!r} is not available for "
                     f"{name} (expected one of "
                     f"{', '.join(COMPRESSIONS[name])})")


def file_suffix(name: str, compression: str) -> str:
  if name != PARQUET and compression == "gzip":
    return _SUFFIX[name] + ".gz"
  return _SUFFIX[name]


def make_sink(name: str, prefix: str, schema: pa.Schema,
              compression: str, num_shards: int = 0) -> beam.PTransform:
  check_sink(name, compression)
  suffix = file_suffix(name, compression)
  if name == PARQUET:
    return _ChecksummedParquet(
        prefix, schema=schema, codec=compression, file_name_suffix=suffix,
        num_shards=num_shards)
  text_compression = (CompressionTypes.GZIP if compression == "gzip" else
                      CompressionTypes.UNCOMPRESSED)
  if name == TFRECORD:
    return _TFRecordSink(prefix, schema, suffix, text_compression, num_shards)
  return _JsonlSink(prefix, suffix, text_compression, num_shards)


class _ChecksummedParquetSink(parquetio._ParquetSink):  # pylint: disable=protected-access
  """Beam's Parquet sink, writing page checksums (as ``write.parts``
  does): a flipped byte in a page is found when the file is read back,
  not taken as data."""

  def open(self, temp_path):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    self._file_handle = filebasedsink.FileBasedSink.open(self, temp_path)
    return pq.ParquetWriter(
        self._file_handle, self._schema, compression=self._codec,
        use_compliant_nested_type=self._use_compliant_nested_type,
        write_page_checksum=True)


class _ChecksummedParquet(beam.io.WriteToParquet):
  """``WriteToParquet`` (sharding, temporary files, commit) with page
  checksums."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._sink.__class__ = _ChecksummedParquetSink


class _TFRecordSink(beam.PTransform):

  def __init__(self, prefix, schema, suffix, compression, num_shards):
    super().__init__()
    self._prefix, self._schema = prefix, schema
    self._suffix, self._compression = suffix, compression
    self._num_shards = num_shards

  def expand(self, rows):
    return (rows
            | "ToExample" >> beam.Map(examples.row_to_example, self._schema)
            | "WriteTFRecord" >> beam.io.WriteToTFRecord(
                self._prefix, file_name_suffix=self._suffix,
                compression_type=self._compression,
                num_shards=self._num_shards))


def row_to_json(row: Dict) -> str:
  """One row as a JSON line (arrays as lists)."""
  return json.dumps({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                     for k, v in row.items()}, ensure_ascii=False,
                    sort_keys=True)


class _JsonlSink(beam.PTransform):

  def __init__(self, prefix, suffix, compression, num_shards):
    super().__init__()
    self._prefix, self._suffix = prefix, suffix
    self._compression, self._num_shards = compression, num_shards

  def expand(self, rows):
    return (rows
            | "ToJson" >> beam.Map(row_to_json)
            | "WriteText" >> beam.io.WriteToText(
                self._prefix, file_name_suffix=self._suffix,
                compression_type=self._compression,
                num_shards=self._num_shards))
