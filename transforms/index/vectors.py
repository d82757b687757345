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


def result_files(output_dir: str,
                 damaged: Optional[List[Tuple[str, str]]] = None
                 ) -> List[str]:
  """The folder's results files that can be read, sorted. A Parquet file
  whose footer does not read (cut short by a half-finished upload, or not
  Parquet at all) is left out, and (path, why) added to ``damaged`` when
  given: an index is built from the rest, and says what it left out."""
  pattern = output_files.results_glob(output_dir.rstrip("/"))
  found = []
  for path in sorted(m.path for m in FileSystems.match(
      [pattern])[0].metadata_list if not output_files.is_temporary(m.path)):
    why = _damage(path)
    if why is None:
      found.append(path)
    elif damaged is not None:
      damaged.append((path, why))
  return found


def _damage(path: str) -> Optional[str]:
  """Why a results file cannot be read, from its footer (Parquet); None
  when it reads, or for TFRecord (framing is checked as it is read)."""
  if not path.endswith(".parquet"):
    return None
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  try:
    with storage.open_file(path) as f:
      pq.read_metadata(f)
  except Exception as e:  # pylint: disable=broad-except
    # Arrow's messages name sizes and offsets, never the file's bytes.
    return f"not a readable Parquet file ({type(e).__name__}: {e})"
  return None


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
  for keys, escaped, vectors in _named(path, _read(path, size, True)):
    assert vectors is not None
    yield keys, escaped, vectors


def file_keys(path: str, size: int = BATCH) -> Iterator[Tuple[List[str],
                                                               List[bool]]]:
  """(keys, key_escaped) batches of one results file, embeddings unread
  where the format allows (Parquet)."""
  for keys, escaped, _ in _named(path, _read(path, size, False)):
    yield keys, escaped


def _named(path: str, batches: Iterator) -> Iterator:
  """``batches``, with damage found past a readable footer (a flipped
  byte in a page, TFRecord framing) named with its file."""
  try:
    yield from batches
  except _NotIndexable:
    raise
  except (OSError, ValueError) as e:   # Arrow's, and the TFRecord reader's
    raise ValueError(
        f"results file {path} is damaged and cannot be indexed "
        f"({type(e).__name__}: {e}); expected whole results files: embed "
        "its inputs again into another folder, or remove it") from None


class _NotIndexable(ValueError):
  """A whole results file that holds no embeddings."""


def _read(path: str, size: int, with_vectors: bool
          ) -> Iterator[Tuple[List[str], List[bool], Optional[np.ndarray]]]:
  """The one reader of results files: (keys, key_escaped, vectors or None)
  batches; Parquet reads only the columns asked for."""
  if not path.endswith(".parquet"):
    yield from _tfrecord_batches(path, size)
    return
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with storage.open_file(path) as f:
    # Pages written with checksums (write.parts) are verified as read.
    source = pq.ParquetFile(f, page_checksum_verification=True)
    names = source.schema_arrow.names
    if columns.EMBEDDING not in names:
      raise _NotIndexable(f"{path} has no {columns.EMBEDDING!r} column: "
                          "only feature-vector results can be indexed")
    wanted = [c for c in (columns.KEY, columns.KEY_ESCAPED) if c in names]
    if with_vectors:
      wanted.append(columns.EMBEDDING)
    for batch in source.iter_batches(batch_size=size, columns=wanted):
      keys = batch.column(columns.KEY).to_pylist()
      escaped = (batch.column(columns.KEY_ESCAPED).to_pylist()
                 if columns.KEY_ESCAPED in batch.schema.names
                 else [False] * len(keys))
      vectors = None
      if with_vectors:
        flat = batch.column(columns.EMBEDDING).flatten().to_numpy(
            zero_copy_only=False)
        vectors = np.asarray(flat, np.float32).reshape(len(keys), -1)
      yield keys, [bool(e) for e in escaped], vectors


def _tfrecord_batches(path: str, size: int) -> Iterator[Batch]:
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
