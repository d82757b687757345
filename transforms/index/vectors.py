"""An output folder's embeddings, streamed in batches (never all at once
beside the index), with the folder's metadata."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms.read import storage
from transforms.write import columns
from transforms.write import examples
from transforms.write import output_files

BATCH = 4096
Batch = Tuple[List[str], List[bool], np.ndarray]
_META = columns.METADATA_PREFIX.encode()


def result_files(output_dir: str) -> List[str]:
  pattern = output_files.results_glob(output_dir.rstrip("/"))
  return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list
                if not output_files.is_temporary(m.path))


def metadata(output_dir: str) -> Dict[str, str]:
  """The run's metadata: its first Parquet file's, else ``run.json``'s."""
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  for path in result_files(output_dir):
    if path.endswith(".parquet"):
      with storage.open_file(path) as f:
        meta = pq.read_schema(f).metadata or {}
      return {k[len(_META):].decode(): v.decode() for k, v in meta.items()
              if k.startswith(_META)}
  run_file = FileSystems.join(output_dir, output_files.RUN_FILE)
  if FileSystems.exists(run_file):
    return {k: str(v) for k, v in json.loads(storage.read_bytes(
        run_file)).get("metadata", {}).items()}
  return {}


def _content_digest(path: str) -> str:
  """What a result file holds, as a digest: a Parquet file's footer (its
  schema and metadata, and every column chunk's offsets, sizes and
  statistics: what a rewrite with other rows changes), read without the
  rest; anything else, its whole content."""
  digest = hashlib.blake2b(digest_size=16)
  with storage.open_file(path) as f:
    if path.endswith(".parquet"):
      f.seek(-8, os.SEEK_END)
      tail = f.read(8)
      length = int.from_bytes(tail[:4], "little")
      f.seek(-(8 + length), os.SEEK_END)
      digest.update(f.read(length + 8))
    else:
      for block in iter(lambda: f.read(2**20), b""):
        digest.update(block)
  return digest.hexdigest()


def fingerprint(output_dir: str) -> List[List[object]]:
  """The folder's result files, each with its size, last update and
  content digest: an unchanged folder gives the same fingerprint; a file
  rewritten, even to the same size, another (its update time, and almost
  always its footer's statistics, differ)."""
  found = []
  for path in result_files(output_dir):
    meta = FileSystems.match([path])[0].metadata_list[0]
    found.append([path, meta.size_in_bytes, _content_digest(path),
                  meta.last_updated_in_seconds])
  return found


def batches(output_dir: str, size: int = BATCH) -> Iterator[Batch]:
  """(keys, key_escaped, float32 [n, dim]) batches of the folder's
  results."""
  for path in result_files(output_dir):
    yield from file_batches(path, size)


def file_batches(path: str, size: int = BATCH) -> Iterator[Batch]:
  """(keys, key_escaped, float32 [n, dim]) batches of one results file
  (Parquet, or TFRecord of examples)."""
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  if path.endswith(".parquet"):
    source = pq.ParquetFile(storage.open_file(path))
    wanted = [c for c in (columns.KEY, columns.KEY_ESCAPED,
                          columns.EMBEDDING) if c in source.schema_arrow.names]
    if columns.EMBEDDING not in wanted:
      raise ValueError(f"{path} has no {columns.EMBEDDING!r} column: only "
                       "feature-vector results can be indexed")
    for batch in source.iter_batches(batch_size=size, columns=wanted):
      keys = batch.column(columns.KEY).to_pylist()
      escaped = (batch.column(columns.KEY_ESCAPED).to_pylist()
                 if columns.KEY_ESCAPED in batch.schema.names
                 else [False] * len(keys))
      flat = batch.column(columns.EMBEDDING).flatten().to_numpy(
          zero_copy_only=False)
      yield keys, [bool(e) for e in escaped], np.asarray(
          flat, np.float32).reshape(len(keys), -1)
    return
  keys, escaped, vectors = [], [], []
  for record in storage.iter_records(path):
    row = examples.example_to_row(record)
    keys.append(str(row[columns.KEY]))
    escaped.append(bool(row.get(columns.KEY_ESCAPED) or False))
    vectors.append(row[columns.EMBEDDING])
    if len(keys) >= size:
      yield keys, escaped, np.asarray(vectors, np.float32)
      keys, escaped, vectors = [], [], []
  if keys:
    yield keys, escaped, np.asarray(vectors, np.float32)


def file_keys(path: str, size: int = BATCH) -> Iterator[Tuple[List[str],
                                                               List[bool]]]:
  """(keys, key_escaped) batches of one results file, embeddings unread
  where the format allows (Parquet)."""
  if not path.endswith(".parquet"):
    for keys, escaped, _ in file_batches(path, size):
      yield keys, escaped
    return
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with storage.open_file(path) as f:
    source = pq.ParquetFile(f)
    wanted = [c for c in (columns.KEY, columns.KEY_ESCAPED)
              if c in source.schema_arrow.names]
    for batch in source.iter_batches(batch_size=size, columns=wanted):
      keys = batch.column(columns.KEY).to_pylist()
      escaped = (batch.column(columns.KEY_ESCAPED).to_pylist()
                 if columns.KEY_ESCAPED in batch.schema.names
                 else [False] * len(keys))
      yield keys, [bool(e) for e in escaped]


def file_rows(path: str) -> Optional[int]:
  """A Parquet results file's row count from its footer (None for
  TFRecord, which only a full read counts)."""
  if not path.endswith(".parquet"):
    return None
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with storage.open_file(path) as f:
    return pq.read_metadata(f).num_rows


def sample_files(paths: Sequence[str], size: int,
                 most_files: int = 64) -> np.ndarray:
  """About ``size`` vectors from at most ``most_files`` of ``paths``
  spread evenly over the list, an equal share from each, evenly spaced in
  a Parquet file (the first rows of a TFRecord file): what a launcher
  reads to train on, whatever the number of files."""
  if not paths:
    return np.zeros((0, 0), np.float32)
  step = max(1.0, len(paths) / most_files)
  chosen = [paths[int(i * step)] for i in range(min(len(paths), most_files))]
  share = -(-size // len(chosen))
  taken: List[np.ndarray] = []
  for path in chosen:
    rows = file_rows(path)
    stride = max(1, (rows or 0) // share)
    held = seen = 0
    for _, _, batch in file_batches(path):
      picked = batch[(-seen) % stride::stride][:share - held]
      if len(picked):
        taken.append(np.array(picked, np.float32))
        held += len(picked)
      seen += len(batch)
      if held >= share:
        break
  return np.concatenate(taken)[:size] if taken else np.zeros((0, 0),
                                                             np.float32)
