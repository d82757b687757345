"""A finished run's outputs, read back: result rows, failures and metadata.

Results are Parquet (metadata in the file's key-value metadata) or TFRecord
``tf.train.Example``s (metadata in ``run.json``, which the launcher writes
beside them); failures are JSON Lines or the results' format. Any Beam
filesystem (local, ``gs://``).
"""
from __future__ import annotations

import dataclasses
import io
import json
from typing import Dict, List

import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms.core import tasks
from transforms.read import storage
from transforms.write import columns
from transforms.write import examples
from transforms.write import output_files

_META = columns.METADATA_PREFIX.encode()


@dataclasses.dataclass
class RunOutputs:
  """Attributes:
    rows: result rows as dicts (column name -> Python value).
    failures: failure rows (key, stage, reason, message).
    metadata: model, task, image_size, score, entry, ... as strings.
    counts: the run's summary counts when it recorded them.
    fetch_failures_by_host: for URL inputs, the hosts with failures.
    seconds: the run's wall time, when it recorded it.
  """
  rows: List[Dict]
  failures: List[Dict]
  metadata: Dict[str, str]
  counts: Dict[str, int]
  fetch_failures_by_host: Dict[str, int] = dataclasses.field(
      default_factory=dict)
  seconds: float = 0.0

  @property
  def task(self) -> str:
    if "task" in self.metadata:
      return self.metadata["task"]
    found = columns.task_from_columns(self.rows[0]) if self.rows else None
    return found or tasks.TASK_FEATURE_VECTOR

  def summary_counts(self) -> Dict[str, int]:
    """What the run recorded, else what its files hold."""
    return {"results": len(self.rows), "failures": len(self.failures),
            **self.counts}

  def embeddings(self) -> np.ndarray:
    """float32 [rows, N] (feature-vector runs)."""
    return np.asarray([r[columns.EMBEDDING] for r in self.rows],
                      dtype=np.float32)


def _match(pattern: str) -> List[str]:
  return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list
                if not output_files.is_temporary(m.path))


def _parquet(path: str):
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  # Not read_table: see earlier_results._failure_rows.
  return pq.ParquetFile(io.BytesIO(storage.read_bytes(path))).read()


def _tfrecord_rows(path: str) -> List[Dict]:
  return [examples.example_to_row(record)
          for record in storage.iter_records(path)]


def read_run(output_dir: str) -> RunOutputs:
  """Reads everything a run wrote under ``output_dir``.

  Raises:
    FileNotFoundError: no result or failure files there.
  """
  output_dir = output_dir.rstrip("/")
  metadata: Dict[str, str] = {}
  counts: Dict[str, int] = {}
  hosts: Dict[str, int] = {}
  seconds = 0.0
  run_file = FileSystems.join(output_dir, output_files.RUN_FILE)
  if FileSystems.exists(run_file):
    recorded = json.loads(storage.read_bytes(run_file))
    metadata.update({k: str(v) for k, v in recorded.get("metadata",
                                                         {}).items()})
    counts.update(recorded.get("counts", {}))
    hosts.update(recorded.get("fetch_failures_by_host", {}))
    seconds = float(recorded.get("seconds", 0.0))
  rows: List[Dict] = []
  for path in _match(output_files.results_glob(output_dir)):
    if path.endswith(".parquet"):
      table = _parquet(path)
      for key, value in (table.schema.metadata or {}).items():
        if key.startswith(_META):
          metadata.setdefault(key[len(_META):].decode(), value.decode())
      rows += table.to_pylist()
    else:
      rows += _tfrecord_rows(path)
  failures: List[Dict] = []
  for path in _match(output_files.failures_glob(output_dir)):
    if path.endswith(".parquet"):
      failures += _parquet(path).to_pylist()
    elif ".tfrecord" in path:
      failures += _tfrecord_rows(path)
    else:
      text = storage.read_bytes(path)
      if path.endswith(".gz"):
        import gzip  # pylint: disable=g-import-not-at-top
        text = gzip.decompress(text)
      failures += [json.loads(line) for line in text.decode().splitlines()
                   if line.strip()]
  if not rows and not failures:
    raise FileNotFoundError(
        f"no results-* or failures/failures-* files under {output_dir!r}")
  return RunOutputs(rows=rows, failures=failures, metadata=metadata,
                    counts=counts, fetch_failures_by_host=hosts,
                    seconds=seconds)


def sample_rows(rows: List[Dict], limit: int) -> List[int]:
  """Indices of up to ``limit`` rows, the same for the same keys: rows with
  the smallest hash of their key, shown in key order."""
  import hashlib  # pylint: disable=g-import-not-at-top
  ranked = sorted(range(len(rows)), key=lambda i: hashlib.sha1(
      str(rows[i][columns.KEY]).encode()).hexdigest())[:limit]
  return sorted(ranked, key=lambda i: rows[i][columns.KEY])
