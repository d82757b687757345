"""Committed parts: how a job's output survives a kill (``--resume``).

Beam's file sinks write into a temporary folder and finalize every shard at
the end, so a job killed at 90 % leaves nothing. Here the write step
commits its rows as it goes instead:

* **Commit.** Results and failures are written in parts of at most
  ``PART_ROWS`` rows or ``PART_SECONDS`` of work, whichever comes first,
  under ``OUTPUT/_parts/``: each part is written to a temporary name and
  renamed (atomic on a local disk; an object store's object appears whole),
  so a reader never sees half a part. A part's name is a digest of its
  keys: a bundle a runner retries writes the same name again, never a
  second copy of its rows.
* **Finalize.** When every part is committed (a global combine waits for
  all of them), one step renames the parts into the output's usual
  shards, ``results-SSSSS-of-NNNNN`` and ``failures/failures-SSSSS-of-
  NNNNN``, and removes ``_parts/``. The renames are planned first and the
  plan written beside the parts, so a retried finalize finishes the same
  plan. The shards have the job's schema and metadata, as a Beam sink's do.
* **Resume.** A killed job leaves its committed parts and ``job.json`` (what
  identifies the job: model digest, precision, inputs, output settings).
  Run again with ``--resume``, the job refuses if any of that differs, and
  otherwise skips every key a committed part holds (results and failures
  alike: ``read.keep_new``), runs the rest and finalizes the old parts
  with the new ones. At most a part's worth per worker is done again.

With ``--num_shards`` the job keeps Beam's sinks (a fixed shard count
needs every row first) and cannot be resumed.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import time
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window
from apache_beam.utils import windowed_value

from transforms.core import flags
from transforms.write import examples
from transforms.write import output_files
from transforms.write import sinks

PARTS_DIR = "_parts"
RESULTS_PARTS = "results"
FAILURES_PARTS = "failures"
JOB_FILE = "job.json"
FINALIZE_FILE = "finalize.json"
_TEMP_MARK = ".tmp-"

# A part is committed at this many rows, or after this long since its first
# row, whichever comes first: what a kill can cost a worker.
PART_ROWS = 2000
PART_SECONDS = 30.0


def parts_folder(output: str, kind: Optional[str] = None) -> str:
  folder = FileSystems.join(output, PARTS_DIR)
  return FileSystems.join(folder, kind) if kind else folder


def _exists(path: str) -> bool:
  return FileSystems.exists(path)


def committed(output: str, kind: str) -> List[str]:
  """The committed parts of ``kind`` under ``output``, sorted."""
  pattern = FileSystems.join(parts_folder(output, kind), "*")
  found = FileSystems.match([pattern])[0].metadata_list
  return sorted(m.path for m in found if _TEMP_MARK not in
                posixpath.basename(m.path))


class PartFormat:
  """How one kind of row is written to a file: the sink's format, schema
  and compression, as a Beam sink of the job would write it."""

  def __init__(self, name: str, schema, compression: str):
    self.name, self.schema, self.compression = name, schema, compression
    self.suffix = sinks.file_suffix(name, compression)

  def _compression_type(self):
    if self.name != sinks.PARQUET and self.compression == "gzip":
      return CompressionTypes.GZIP
    return CompressionTypes.UNCOMPRESSED

  def write(self, path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if self.name == sinks.PARQUET:
      with FileSystems.create(path, mime_type="application/octet-stream",
                              compression_type=CompressionTypes.UNCOMPRESSED
                              ) as f:
        self.write_to(f, rows)
      return
    with FileSystems.create(path, compression_type=self._compression_type()
                            ) as f:
      self._write_records(f, rows)

  def write_to(self, f, rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` as one whole file of this format, into the open binary
    file ``f`` (compressed here when the format's compression asks)."""
    if self.name == sinks.PARQUET:
      import pyarrow as pa  # pylint: disable=g-import-not-at-top
      import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
      arrays = [pa.array([row.get(field.name) for row in rows],
                         type=field.type) for field in self.schema]
      table = pa.Table.from_arrays(arrays, schema=self.schema)
      buffer = io.BytesIO()
      # Page checksums: a flipped byte in a page is found when the file
      # is read back (pipelines.index, --skip_existing), not taken as data.
      pq.write_table(table, buffer, compression=self.compression,
                     write_page_checksum=True)
      f.write(buffer.getvalue())
      return
    if self._compression_type() == CompressionTypes.GZIP:
      with gzip.GzipFile(fileobj=f, mode="wb") as zipped:
        self._write_records(zipped, rows)
      return
    self._write_records(f, rows)

  def _write_records(self, f, rows: Sequence[Mapping[str, Any]]) -> None:
    if self.name == sinks.TFRECORD:
      from apache_beam.io import tfrecordio  # pylint: disable=g-import-not-at-top
      for row in rows:
        tfrecordio._TFRecordUtil.write_record(  # pylint: disable=protected-access
            f, examples.row_to_example(row, self.schema))
    else:
      for row in rows:
        f.write(sinks.row_to_json(dict(row)).encode("utf-8") + b"\n")


def _part_name(rows: Sequence[Mapping[str, Any]]) -> str:
  digest = hashlib.sha256()
  for key in sorted(f"{row.get('key')}\x00{row.get('key_escaped')}"
                    for row in rows):
    digest.update(key.encode("utf-8", "surrogateescape") + b"\n")
  return f"part-{digest.hexdigest()[:32]}-{len(rows)}"


def commit(folder: str, part_format: PartFormat,
           rows: Sequence[Mapping[str, Any]]) -> str:
  """Writes ``rows`` as one part under ``folder``, atomically; its path."""
  final = FileSystems.join(folder, _part_name(rows) + part_format.suffix)
  temporary = final + _TEMP_MARK + uuid.uuid4().hex
  part_format.write(temporary, rows)
  FileSystems.rename([temporary], [final])
  return final


class CommitPartsDoFn(beam.DoFn):
  """Rows -> the path of each part committed (see the module docstring).
  Before its first part, a worker makes sure the job's record is beside
  the parts (the launcher writes nothing: a dry run or a template leaves
  the output untouched), so no part is ever without one."""

  def __init__(self, output: str, kind: str, part_format: PartFormat,
               job: Mapping[str, Any], part_rows: int = PART_ROWS,
               part_seconds: float = PART_SECONDS):
    self._output, self._folder = output, parts_folder(output, kind)
    self._format, self._job = part_format, dict(job)
    self._rows, self._seconds = part_rows, part_seconds
    self._buffer: List[Mapping[str, Any]] = []
    self._since = 0.0
    self._recorded = False

  def start_bundle(self):
    self._buffer, self._since = [], 0.0

  def process(self, row):
    if not self._buffer:
      self._since = time.monotonic()
    self._buffer.append(row)
    if (len(self._buffer) >= self._rows or
        time.monotonic() - self._since >= self._seconds):
      yield self._commit()

  def finish_bundle(self):
    if self._buffer:
      yield windowed_value.WindowedValue(
          self._commit(), window.GlobalWindow().max_timestamp(),
          [window.GlobalWindow()])

  def _commit(self) -> str:
    if not self._recorded:
      if read_job_record(self._output) is None:
        write_job_record(self._output, self._job)
      self._recorded = True
    rows, self._buffer = self._buffer, []
    return commit(self._folder, self._format, rows)


def _shard_names(prefix: str, count: int, suffix: str) -> List[str]:
  return [f"{prefix}-{i:05d}-of-{count:05d}{suffix}" for i in range(count)]


def plan_renames(output: str, formats: Mapping[str, PartFormat]
                 ) -> List[Tuple[str, str]]:
  """(part, shard) for every committed part: the parts of each kind, sorted
  by name, become that kind's shards."""
  prefixes = {RESULTS_PARTS: output_files.results_prefix(output),
              FAILURES_PARTS: output_files.failures_prefix(output)}
  renames: List[Tuple[str, str]] = []
  for kind, part_format in formats.items():
    parts = committed(output, kind)
    if not parts:  # no rows of this kind: one empty shard, as Beam writes
      parts = [commit(parts_folder(output, kind), part_format, [])]
    renames += zip(parts, _shard_names(prefixes[kind], len(parts),
                                       part_format.suffix))
  return renames


def finalize(output: str, formats: Mapping[str, PartFormat]) -> int:
  """Renames the committed parts into the output's shards and removes
  ``_parts/``; the number of shards. Safe to run again after a failure
  part way (it finishes the plan written by the first attempt)."""
  plan_path = FileSystems.join(parts_folder(output), FINALIZE_FILE)
  if _exists(plan_path):
    with FileSystems.open(plan_path) as f:
      renames = [tuple(pair) for pair in json.loads(f.read().decode())]
  else:
    renames = plan_renames(output, formats)
    temporary = plan_path + _TEMP_MARK + uuid.uuid4().hex
    with FileSystems.create(temporary) as f:
      f.write(json.dumps(renames).encode())
    FileSystems.rename([temporary], [plan_path])
  for part, shard in renames:
    if _exists(part):
      if "://" not in shard:
        os.makedirs(os.path.dirname(shard) or ".", exist_ok=True)
      FileSystems.rename([part], [shard])
  remove_parts(output)
  return len(renames)


def remove_parts(output: str) -> None:
  """Deletes ``OUTPUT/_parts/`` and all it holds."""
  folder = parts_folder(output)
  if "://" not in output:
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(folder, ignore_errors=True)
    return
  found = [m.path for result in FileSystems.match(
      [FileSystems.join(folder, "*"), FileSystems.join(folder, "*", "*")])
           for m in result.metadata_list]
  if found:
    FileSystems.delete(sorted(set(found)))


class _FinalizeDoFn(beam.DoFn):

  def __init__(self, output: str, formats: Mapping[str, PartFormat]):
    self._output, self._formats = output, dict(formats)

  def process(self, unused_paths):
    yield finalize(self._output, self._formats)


class WriteInParts(beam.PTransform):
  """{kind: rows} -> committed parts, finalized into the output's shards
  once all are committed."""

  def __init__(self, output: str, formats: Mapping[str, PartFormat],
               job: Mapping[str, Any], part_rows: int = PART_ROWS,
               part_seconds: float = PART_SECONDS):
    super().__init__()
    self._output, self._formats = output, dict(formats)
    self._job = dict(job)
    self._rows, self._seconds = part_rows, part_seconds

  def expand(self, rows_by_kind):
    committed_paths = [
        rows | f"Commit{kind.title()}" >> beam.ParDo(CommitPartsDoFn(
            self._output, kind, self._formats[kind], self._job,
            self._rows, self._seconds))
        for kind, rows in rows_by_kind.items()]
    return (tuple(committed_paths)
            | "AllCommitted" >> beam.Flatten()
            | "WhenAllCommitted" >> beam.combiners.Count.Globally()
            | "Finalize" >> beam.ParDo(_FinalizeDoFn(self._output,
                                                     self._formats)))


# --- what identifies a job, for --resume -------------------------------


def write_job_record(output: str, identity: Mapping[str, Any]) -> None:
  """Records what identifies this job beside its parts (atomically)."""
  path = FileSystems.join(parts_folder(output), JOB_FILE)
  temporary = path + _TEMP_MARK + uuid.uuid4().hex
  with FileSystems.create(temporary) as f:
    f.write(json.dumps(identity, sort_keys=True, indent=1).encode())
  FileSystems.rename([temporary], [path])


def read_job_record(output: str) -> Optional[Dict[str, Any]]:
  path = FileSystems.join(parts_folder(output), JOB_FILE)
  if not _exists(path):
    return None
  with FileSystems.open(path) as f:
    return json.loads(f.read().decode())


def differences(recorded: Mapping[str, Any],
                now: Mapping[str, Any]) -> List[str]:
  """``name: killed run's value vs this run's`` per fact that differs."""
  return [f"{name}: {recorded.get(name)!r} in the killed run, "
          f"{now.get(name)!r} now"
          for name in sorted(set(recorded) | set(now))
          if recorded.get(name) != now.get(name)]


def check_resume(output: str, resume: bool, overwrite: bool,
                 identity: Mapping[str, Any]) -> Tuple[str, ...]:
  """At launch: the parts a resumed job keeps (none for a new job).

  Raises:
    flags.ConfigError: parts are there and neither --resume nor
      --overwrite was given; or --resume, and the job differs from the
      killed one.
  """
  recorded = read_job_record(output)
  parts = tuple(committed(output, RESULTS_PARTS) +
                committed(output, FAILURES_PARTS))
  if overwrite:
    remove_parts(output)
    return ()
  if resume and _exists(FileSystems.join(parts_folder(output),
                                         FINALIZE_FILE)):
    # Killed while renaming its parts into shards: every part was in, so
    # finishing the renames finishes the job.
    shards = finalize(output, {})
    raise flags.ConfigError(
        f"--resume: the killed run had committed all its parts and was "
        f"renaming them; that is now done, and {output!r} holds its "
        f"{shards} shards. Nothing was left to run")
  if not resume:
    # A job.json alone is a run that committed nothing (or a template's
    # launch): nothing to lose, so a new run may start here.
    if parts:
      raise flags.ConfigError(
          f"--output {output!r} holds a killed run's committed parts "
          f"({len(parts)} in {parts_folder(output)}); expected --resume to "
          "finish that run, or --overwrite to start again")
    return ()
  if recorded is None:
    if parts:
      raise flags.ConfigError(
          f"--resume: {parts_folder(output)} holds parts but no {JOB_FILE}, "
          "so what wrote them is unknown; expected --overwrite")
    return ()
  differ = differences(recorded, identity)
  if differ:
    raise flags.ConfigError(
        "--resume: this run differs from the killed one, whose parts it "
        f"would finish: {'; '.join(differ)}. Expected the same flags and "
        "model (or --overwrite to start again)")
  return parts


def identity(facts: Mapping[str, Any]) -> Dict[str, Any]:
  """JSON-safe copy of ``facts``, the way the job record holds them."""
  return json.loads(json.dumps(dict(facts), sort_keys=True, default=str))


def rows_in(path: str) -> int:
  """Rows in one committed part (Parquet from its footer, TFRecord and
  JSON Lines by reading it)."""
  if path.endswith(".parquet"):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with FileSystems.open(path, compression_type=(
        CompressionTypes.UNCOMPRESSED)) as f:
      return pq.ParquetFile(io.BytesIO(f.read())).metadata.num_rows
  if ".tfrecord" in path:
    from transforms.read import storage  # pylint: disable=g-import-not-at-top
    return sum(1 for _ in storage.iter_records(path))
  with FileSystems.open(path) as f:
    return sum(1 for line in f.read().splitlines() if line.strip())


def committed_counts(parts: Sequence[str]) -> Dict[str, int]:
  """{"parts", "results", "failures"}: what a killed run committed."""
  results, failures_parts = part_keys_files(parts)
  return {"parts": len(parts),
          "results": sum(rows_in(p) for p in results),
          "failures": sum(rows_in(p) for p in failures_parts)}


def part_keys_files(parts: Iterable[str]) -> Tuple[Tuple[str, ...],
                                                    Tuple[str, ...]]:
  """(results parts, failures parts) of ``parts``."""
  parts = list(parts)
  marker = "/" + PARTS_DIR + "/"
  results = tuple(p for p in parts
                  if f"{marker}{RESULTS_PARTS}/" in p.replace("\\", "/"))
  return results, tuple(p for p in parts if p not in results)
