"""Incremental runs: skip inputs whose key already has a result, and keep
one input per key.

The keys of earlier results (``--skip_existing``: Parquet or TFRecord result
files, by extension, on any Beam filesystem) are read in the pipeline and
anti-joined against the listed inputs by key (:class:`KeepNewOnce`), so it
scales with the number of keys instead of loading a set into the launcher.
Only the ``key`` column of Parquet is read. Failures of earlier runs are not
results: they are tried again. Of several inputs with one key (repeated in a
manifest or TFRecord), the one listed first wins: lowest file path, then
lowest row or record index (``ImageKey.origin``).
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.core import counters
from transforms.core import flags
from transforms.core import tasks
from transforms.write import output_files

PARQUET_SUFFIXES = (".parquet",)
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz")
_TASK_COLUMN = {tasks.TASK_FEATURE_VECTOR: "embedding",
                tasks.TASK_CLASSIFICATION: "top_k_indices"}


def result_files(globs: Sequence[str], task: str) -> Tuple[str, ...]:
  """The result files the globs name, checked; failures and beam-temp files
  are left out.

  Raises:
    flags.ConfigError: a glob matches nothing, a file is not a results file
      (extension, no ``key`` column) or holds another task's results.
  """
  files: List[str] = []
  for glob, match in zip(globs, FileSystems.match(list(globs))):
    paths = sorted(m.path for m in match.metadata_list
                   if not output_files.is_temporary(m.path) and
                   not output_files.is_side_file(m.path))
    if not paths:
      raise flags.ConfigError(
          f"--skip_existing: expected result files, but {glob!r} matches "
          "none (beam-temp-* and failures files do not count)")
    for path in paths:
      check_result_file(path, task)
    files += paths
  return tuple(dict.fromkeys(files))


def check_result_file(path: str, task: str) -> None:
  """Reads the file's schema (Parquet) or first record (TFRecord)."""
  if path.endswith(PARQUET_SUFFIXES):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with FileSystems.open(path,
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
      try:
        schema = pq.read_schema(f)
      except Exception as e:  # pylint: disable=broad-except
        raise flags.ConfigError(
            f"--skip_existing: {path!r} is not a Parquet file: {e}") from None
    columns = set(schema.names)
    meta = schema.metadata or {}
    found_task = meta.get(b"hub_image_beam.task", b"").decode() or None
  elif path.endswith(TFRECORD_SUFFIXES):
    from transforms.read import tfrecord  # pylint: disable=g-import-not-at-top
    from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
    try:
      first = next(iter(tfrecord.iter_records(path)), None)
      example = example_pb2.Example.FromString(first or b"")
    except Exception as e:  # pylint: disable=broad-except
      raise flags.ConfigError(
          f"--skip_existing: {path!r} is not a TFRecord of tf.train.Example: "
          f"{e}") from None
    columns = set(example.features.feature)
    found_task = next((t for t, c in _TASK_COLUMN.items() if c in columns),
                      None)
    if first is None:
      return  # an empty shard: no keys, nothing to check
  else:
    raise flags.ConfigError(
        f"--skip_existing: expected Parquet or TFRecord result files "
        f"({', '.join(PARQUET_SUFFIXES + TFRECORD_SUFFIXES)}), found {path!r}")
  if "key" not in columns:
    raise flags.ConfigError(
        f"--skip_existing: {path!r} has no 'key' column (found: "
        f"{', '.join(sorted(columns)) or 'none'}); expected a results file")
  if found_task is not None and found_task != task:
    raise flags.ConfigError(
        f"--skip_existing: {path!r} holds {found_task} results, expected "
        f"{task} (this job's --task)")


def _parquet_keys(table) -> Iterable[str]:
  return table.column("key").to_pylist()


def _example_key(record: bytes) -> str:
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  feature = example_pb2.Example.FromString(record).features.feature["key"]
  return feature.bytes_list.value[0].decode("utf-8")


class DoneKeys(beam.PTransform):
  """PBegin -> the key of every result in ``files``."""

  def __init__(self, files: Sequence[str]):
    super().__init__()
    self._parquet = [f for f in files if f.endswith(PARQUET_SUFFIXES)]
    self._tfrecord = [f for f in files if f.endswith(TFRECORD_SUFFIXES)]

  def expand(self, pbegin):
    keys = []
    if self._parquet:
      keys.append(pbegin
                  | "ParquetFiles" >> beam.Create(self._parquet)
                  | "ReadKeyColumn" >> beam.io.ReadAllFromParquetBatched(
                      columns=["key"])
                  | "Keys" >> beam.FlatMap(_parquet_keys))
    if self._tfrecord:
      keys.append(pbegin
                  | "TFRecordFiles" >> beam.Create(self._tfrecord)
                  | "ReadRecords" >> beam.io.ReadAllFromTFRecord(
                      compression_type=CompressionTypes.AUTO)
                  | "ExampleKeys" >> beam.Map(_example_key))
    return tuple(keys) | "AllKeys" >> beam.Flatten(
        pipeline=pbegin.pipeline)


class _PickNew(beam.DoFn):
  """(key, {"new": [...], "done": [...]}) -> the first new input, unless
  the key is done; counts what it drops."""

  def __init__(self):
    self._skipped = counters.counter(counters.SKIPPED_DONE)
    self._duplicates = counters.counter(counters.DUPLICATES)

  def process(self, element):
    _, grouped = element
    new = list(grouped["new"])
    if not new:
      return
    if list(grouped["done"]):
      self._skipped.inc(len(new))
      return
    new.sort(key=lambda item: item[0].origin)
    self._duplicates.inc(len(new) - 1)
    yield new[0]


class KeepNewOnce(beam.PTransform):
  """(ImageKey, payload) -> the same, without keys in ``done`` and with one
  element per key (the lowest ``origin``)."""

  def __init__(self, done: Optional[beam.PCollection]):
    super().__init__()
    self._done = done

  def expand(self, listed):
    by_key = listed | "ByKey" >> beam.Map(lambda item: (item[0].key, item))
    if self._done is None:
      done = by_key.pipeline | "NoDoneKeys" >> beam.Create([])
    else:
      done = self._done | "DoneByKey" >> beam.Map(lambda key: (key, True))
    return ({"new": by_key, "done": done}
            | "JoinOnKey" >> beam.CoGroupByKey()
            | "PickNew" >> beam.ParDo(_PickNew()))
