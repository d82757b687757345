"""Earlier runs' result files, as ``--skip_existing`` reads them.

Two acts on the files this stage wrote in an earlier run:

* at launch, :func:`result_files` lists and checks them (the plan calls it
  before any input is read): each must be a Parquet or TFRecord results file
  with a ``key`` column, of this job's task;
* in the pipeline, :class:`DoneKeys` reads their keys (only the ``key``
  column of Parquet), for the read stage's anti-join (``read.keep_new``).

Failures of earlier runs are not results: they are tried again.
"""
from __future__ import annotations

import json
import posixpath
import re
from typing import Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.core import counters
from transforms.core import failures
from transforms.core import flags
from transforms.read import storage
from transforms.write import columns
from transforms.write import examples
from transforms.write import output_files

PARQUET_SUFFIXES = (".parquet",)
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecord.gz")


def result_files(globs: Sequence[str], task: str) -> Tuple[str, ...]:
  """The result files the globs name, checked; failures and beam-temp files
  are left out.

  Raises:
    flags.ConfigError: a glob matches nothing, a file is not a results file
      (extension, no ``key`` column) or holds another task's results.
  """
  return earlier_files(globs, task, False)[0]


def _is_failures_file(path: str) -> bool:
  return posixpath.basename(path).startswith(
      output_files.FAILURES_PREFIX + "-")


def earlier_files(globs: Sequence[str], task: str, failures_allowed: bool
                  ) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
  """(result files, failures files) the globs name, checked. Failures
  files count only where ``failures_allowed`` (inputs fetched from URLs:
  their hopeless failures are skipped, ``FailureKeys``).

  Raises:
    flags.ConfigError: a glob matches nothing usable, or a results file is
      not one (see :func:`check_result_file`).
  """
  files: List[str] = []
  failed: List[str] = []
  for glob, match in zip(globs, FileSystems.match(list(globs))):
    kept = [m.path for m in match.metadata_list
            if not output_files.is_temporary(m.path)]
    paths = sorted(p for p in kept if not output_files.is_side_file(p))
    failure_paths = sorted(p for p in kept if _is_failures_file(p)) if \
        failures_allowed else []
    if not paths and not failure_paths:
      raise flags.ConfigError(
          f"--skip_existing: expected result files, but {glob!r} matches "
          "none (beam-temp-* and failures files do not count" +
          (")" if failures_allowed else
           "; failures files do for URL inputs)"))
    for path in paths:
      check_result_file(path, task)
    files += paths
    failed += failure_paths
  return tuple(dict.fromkeys(files)), tuple(dict.fromkeys(failed))


# Earlier failures that trying again cannot heal (URL inputs): skipped.
HOPELESS_REASONS = frozenset({
    failures.REASON_OPTED_OUT, failures.REASON_BLOCKED_ADDRESS,
    failures.REASON_RESPONSE_TOO_LARGE, failures.REASON_ROBOTS,
    failures.REASON_UNSUPPORTED_URL, failures.REASON_BAD_URL,
    failures.REASON_REDIRECT})
# 4xx statuses that can heal: timeout, too early, too many requests.
_HEALING_4XX = frozenset({408, 425, 429})
_STATUS = re.compile(r"HTTP (\d{3})")


def hopeless(reason: str, message: str) -> bool:
  """Whether an earlier failure cannot heal by fetching again."""
  if reason in HOPELESS_REASONS:
    return True
  if reason == failures.REASON_HTTP_STATUS:
    found = _STATUS.search(message or "")
    if found:
      status = int(found.group(1))
      return 400 <= status < 500 and status not in _HEALING_4XX
  return False


def _failure_rows(path: str) -> Iterable[dict]:
  if path.endswith(PARQUET_SUFFIXES):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with storage.open_file(path) as f:
      # ParquetFile reads in this thread; read_table on a Python file hands
      # the file to Arrow's I/O threads, and one may drop it during
      # interpreter exit and abort the process ("terminate called").
      return pq.ParquetFile(f).read().to_pylist()
  if ".tfrecord" in path:
    return [examples.example_to_row(r) for r in storage.iter_records(path)]
  text = storage.read_bytes(path)
  if path.endswith(".gz"):
    import gzip  # pylint: disable=g-import-not-at-top
    text = gzip.decompress(text)
  return [json.loads(line) for line in text.decode("utf-8").splitlines()
          if line.strip()]


class _FailureKeysDoFn(beam.DoFn):
  """Failures file -> (key, key_escaped) of each of its done failures
  (:func:`done_keys_of`), counting hopeless ones by reason."""

  def __init__(self, kind: str):
    self._kind = kind

  def process(self, path: str):
    for key, counter in done_keys_of((path, self._kind)):
      if counter:
        counters.counter(counter).inc()
      yield key


class FailureKeys(beam.PTransform):
  """PBegin -> (key, key_escaped) of the done failures in ``files``: those
  that cannot heal (``DONE_HOPELESS``, URL inputs), or every one
  (``DONE_FAILURES``: a killed run's committed failures, final for the run
  ``--resume`` finishes)."""

  def __init__(self, files: Sequence[str], kind: str):
    super().__init__()
    self._files, self._kind = list(files), kind

  def expand(self, pbegin):
    label = "HopelessKeys" if self._kind == DONE_HOPELESS else "FailureKeys"
    return (pbegin
            | "FailureFiles" >> beam.Create(self._files)
            | label >> beam.ParDo(_FailureKeysDoFn(self._kind)))


# What a done file holds, for ``read.slices`` (its kinds).
DONE_RESULTS = "results"
DONE_FAILURES = "failures"
DONE_HOPELESS = "hopeless"


class EarlierKeys:
  """The keys earlier runs finished, for the read stage (``read.slices.
  DoneKeys``): results, failures that cannot heal (URL inputs), and every
  failure a killed run committed (``--resume``)."""

  def __init__(self, results: Sequence[str] = (),
               hopeless_failures: Sequence[str] = (),
               every_failure: Sequence[str] = ()):
    self._files = (tuple((p, DONE_RESULTS) for p in results) +
                   tuple((p, DONE_HOPELESS) for p in hopeless_failures) +
                   tuple((p, DONE_FAILURES) for p in every_failure))

  def files(self) -> Tuple[Tuple[str, str], ...]:
    return self._files

  def keys_of(self, done_file: Tuple[str, str]):
    return done_keys_of(done_file)

  def collection(self, pbegin):
    return done_key_collection(pbegin, self._files)


def done_keys_of(done_file: Tuple[str, str]
                 ) -> Iterator[Tuple[Tuple[str, bool], Optional[str]]]:
  """((key, key_escaped), the counter to add to or None) per done key of
  one file, streamed: a results file's key columns a batch at a time, a
  failures file's rows (hopeless ones only for ``DONE_HOPELESS``)."""
  path, kind = done_file
  if kind == DONE_RESULTS:
    if path.endswith(PARQUET_SUFFIXES):
      import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
      with storage.open_file(path) as f:
        source = pq.ParquetFile(f)
        names = set(source.schema_arrow.names)
        wanted = [columns.KEY] + ([columns.KEY_ESCAPED]
                                  if columns.KEY_ESCAPED in names else [])
        for batch in source.iter_batches(columns=wanted):
          for key in _parquet_keys(batch):
            yield key, None
      return
    for record in storage.iter_records(path):
      yield _example_key(record), None
    return
  for row in _failure_rows(path):
    reason, message = str(row.get("reason")), str(row.get("message"))
    key = (str(row.get("key")), bool(row.get("key_escaped") or False))
    if kind == DONE_FAILURES:
      yield key, None
    elif hopeless(reason, message):
      yield key, counters.SKIPPED_FAILURE_PREFIX + reason


def done_key_collection(pbegin, files: Sequence[Tuple[str, str]]):
  """PBegin -> (key, key_escaped) of every done key in ``files`` (see
  :func:`done_files`), for the read stage's join."""
  by_kind = {kind: [path for path, k in files if k == kind]
             for kind in (DONE_RESULTS, DONE_HOPELESS, DONE_FAILURES)}
  keys = []
  if by_kind[DONE_RESULTS]:
    keys.append(pbegin | "DoneKeys" >> DoneKeys(by_kind[DONE_RESULTS]))
  if by_kind[DONE_HOPELESS]:
    keys.append(pbegin | "HopelessFailures" >> FailureKeys(
        by_kind[DONE_HOPELESS], DONE_HOPELESS))
  if by_kind[DONE_FAILURES]:
    keys.append(pbegin | "CommittedFailures" >> FailureKeys(
        by_kind[DONE_FAILURES], DONE_FAILURES))
  return tuple(keys) | "AllDoneKeys" >> beam.Flatten(pipeline=pbegin.pipeline)


def _parquet_facts(path: str) -> Tuple[Set[str], Optional[str]]:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with storage.open_file(path) as f:
    try:
      schema = pq.read_schema(f)
    except Exception as e:  # pylint: disable=broad-except
      raise flags.ConfigError(
          f"--skip_existing: {path!r} is not a Parquet file: {e}") from None
  meta = schema.metadata or {}
  found_task = meta.get(columns.TASK_METADATA.encode(), b"").decode()
  return set(schema.names), found_task or None


def _tfrecord_facts(path: str) -> Optional[Tuple[Set[str], Optional[str]]]:
  """Columns and task of the first record; None for an empty shard."""
  try:
    first = next(iter(storage.iter_records(path)), None)
    if first is None:
      return None
    names = set(examples.example_to_row(first))
  except Exception as e:  # pylint: disable=broad-except
    raise flags.ConfigError(
        f"--skip_existing: {path!r} is not a TFRecord of tf.train.Example: "
        f"{e}") from None
  return names, columns.task_from_columns(names)


def check_result_file(path: str, task: str) -> None:
  """Reads the file's schema (Parquet) or first record (TFRecord).

  Raises:
    flags.ConfigError: see :func:`result_files`.
  """
  if path.endswith(PARQUET_SUFFIXES):
    facts: Optional[Tuple[Set[str], Optional[str]]] = _parquet_facts(path)
  elif path.endswith(TFRECORD_SUFFIXES):
    facts = _tfrecord_facts(path)
  else:
    raise flags.ConfigError(
        f"--skip_existing: expected Parquet or TFRecord result files "
        f"({', '.join(PARQUET_SUFFIXES + TFRECORD_SUFFIXES)}), found {path!r}")
  if facts is None:
    return  # an empty shard: no keys, nothing to check
  names, found_task = facts
  if columns.KEY not in names:
    raise flags.ConfigError(
        f"--skip_existing: {path!r} has no {columns.KEY!r} column (found: "
        f"{', '.join(sorted(names)) or 'none'}); expected a results file")
  if found_task is not None and found_task != task:
    raise flags.ConfigError(
        f"--skip_existing: {path!r} holds {found_task} results, expected "
        f"{task} (this job's --task)")


def _parquet_keys(table) -> Iterable[Tuple[str, bool]]:
  """(key, key_escaped) per row of a table or record batch."""
  names = list(table.schema.names)
  keys = table.column(names.index(columns.KEY)).to_pylist()
  if columns.KEY_ESCAPED not in names:
    return ((key, False) for key in keys)  # written before escaped keys
  return zip(keys, (bool(e) for e in table.column(
      names.index(columns.KEY_ESCAPED)).to_pylist()))


def _example_key(record: bytes) -> Tuple[str, bool]:
  row = examples.example_to_row(record)
  return str(row[columns.KEY]), bool(row.get(columns.KEY_ESCAPED) or False)


def _has_escaped_column(path: str) -> bool:
  names, _ = _parquet_facts(path)
  return columns.KEY_ESCAPED in names


class DoneKeys(beam.PTransform):
  """PBegin -> (key, key_escaped) of every result in ``files`` (False for
  files written before the column existed)."""

  def __init__(self, files: Sequence[str]):
    super().__init__()
    parquet = [f for f in files if f.endswith(PARQUET_SUFFIXES)]
    # Beam's reader wants one column list: files with and without the
    # key_escaped column are read apart.
    self._parquet_groups = {
        "": [f for f in parquet if _has_escaped_column(f)],
        "Old": [f for f in parquet if not _has_escaped_column(f)]}
    self._tfrecord = [f for f in files if f.endswith(TFRECORD_SUFFIXES)]

  def expand(self, pbegin):
    keys = []
    for label, group in self._parquet_groups.items():
      if not group:
        continue
      wanted = [columns.KEY] + ([columns.KEY_ESCAPED] if not label else [])
      keys.append(pbegin
                  | f"ParquetFiles{label}" >> beam.Create(group)
                  | f"ReadKeyColumn{label}" >>
                  beam.io.ReadAllFromParquetBatched(columns=wanted)
                  | f"Keys{label}" >> beam.FlatMap(_parquet_keys))
    if self._tfrecord:
      keys.append(pbegin
                  | "TFRecordFiles" >> beam.Create(self._tfrecord)
                  | "ReadRecords" >> beam.io.ReadAllFromTFRecord(
                      compression_type=CompressionTypes.AUTO)
                  | "ExampleKeys" >> beam.Map(_example_key))
    return tuple(keys) | "AllKeys" >> beam.Flatten(
        pipeline=pbegin.pipeline)
