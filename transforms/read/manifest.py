"""Source: manifest files (CSV, JSON Lines or Parquet) listing image URIs.

Each row names an image in ``--uri_column`` (any Beam filesystem path); the
key is ``--key_column`` when given, else the URI. ``--passthrough_columns``
are copied, as strings, to the row's result. A row without a URI is a
``read`` failure (``missing_uri``), keyed by ``<manifest>:<row index>``
unless it has a key; a row whose URI carries credentials (``user:pass@``) is
a ``credentials_in_url`` failure keyed the same way, so the secret is never
written anywhere.

Rows are streamed: a CSV or JSON Lines manifest a line at a time, a Parquet
one a row group at a time, so a worker never holds a whole manifest, and
the launch check reads only its first rows (:func:`manifest_head`).
"""
from __future__ import annotations

import csv
import io
import itertools
import json
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes

from transforms.core import credentials
from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage
from transforms.read import text_ranges
MANIFEST_FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json",
                    ".json": "json", ".parquet": "parquet"}
# Rows of a Parquet manifest read at a time.
_PARQUET_BATCH = 8192


def manifest_format(path: str) -> str:
  """The manifest's format from its extension (before any .gz)."""
  name = path[:-3] if path.endswith(".gz") else path
  for suffix, kind in MANIFEST_FORMATS.items():
    if name.lower().endswith(suffix):
      return kind
  raise ValueError(f"manifest {path!r}: expected a file ending in "
                   f"{', '.join(MANIFEST_FORMATS)}")


class BadRow(dict):
  """A row that cannot be read (not a JSON object, a CSV record that is not
  UTF-8 or not CSV): it fails alone, keyed by its file and row."""


class WrongColumns(ValueError):
  """A manifest lacks a column the job names."""


def _csv_fields(record: Optional[bytes]) -> Optional[List[str]]:
  """A CSV record's fields; None when it is not UTF-8 CSV (or was too long
  to hold: ``text_ranges.MAX_RECORD_BYTES``)."""
  if record is None:
    return None
  try:
    rows = list(csv.reader([record.rstrip(b"\r").decode("utf-8")]))
  except (UnicodeDecodeError, csv.Error):
    return None
  return rows[0] if len(rows) == 1 else [] if not rows else None


def _parquet_rows(path: str, columns: Optional[Sequence[str]],
                  piece: text_ranges.Piece) -> Iterator[Tuple[int, Dict]]:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with storage.open_file(path, CompressionTypes.AUTO) as f:
    source = pq.ParquetFile(f)
    names = source.schema_arrow.names
    wanted = [c for c in (columns or names) if c in names]
    groups = (None if piece == text_ranges.WHOLE else
              range(piece.start, piece.end or source.num_row_groups))
    index = piece.first_record
    for batch in source.iter_batches(_PARQUET_BATCH, row_groups=groups,
                                     columns=wanted):
      for row in batch.to_pylist():
        yield index, row
        index += 1


def iter_manifest(path: str, columns: Optional[Sequence[str]] = None,
                  piece: text_ranges.Piece = text_ranges.WHOLE
                  ) -> Iterator[Tuple[int, Dict]]:
  """(row number from 0, row as a dict) of the manifest's rows, or of the
  piece's (``read.text_ranges``; for Parquet, ``start`` and ``end`` count
  row groups), streamed in file order. A row that cannot be read is a
  :class:`BadRow`. Blank lines are skipped, but counted.

  Python's csv keeps every CSV value a string: ids such as 00123 must not
  become numbers on the way to the results.

  Args:
    columns: read only these (Parquet); every row still has each key.
  """
  kind = manifest_format(path)
  if kind == "parquet":
    yield from _parquet_rows(path, columns, piece)
    return
  if kind == "json":
    for index, record in text_ranges.records(path, piece):
      if record is None:   # over text_ranges.MAX_RECORD_BYTES
        yield index, BadRow()
        continue
      if not record.strip():
        continue
      try:
        value = json.loads(record)
      except ValueError:
        value = None
      yield index, value if isinstance(value, dict) else BadRow()
    return
  header: Optional[List[str]] = None if piece.start else []
  for number, record in text_ranges.records(path, piece, text_ranges.QUOTE):
    if header is None:   # a later piece: the header is the file's record 0
      header = csv_header(path)
    if number == 0:
      header = _csv_fields(record)
      if header is None:
        raise ValueError(f"manifest {path!r}: its header is not UTF-8 CSV")
      continue
    fields = _csv_fields(record)
    if fields == []:
      continue
    yield number - 1, (BadRow() if fields is None else {
        name: fields[i] if i < len(fields) else None
        for i, name in enumerate(header)})


def csv_header(path: str) -> List[str]:
  """A CSV manifest's column names (its first record)."""
  for _, record in text_ranges.records(path, quote=text_ranges.QUOTE):
    fields = _csv_fields(record)
    if fields is None:
      raise ValueError(f"manifest {path!r}: its header is not UTF-8 CSV")
    return fields
  return []


def manifest_columns(path: str) -> Optional[List[str]]:
  """The columns a whole manifest is checked against: a CSV's header, a
  Parquet file's schema, a JSON Lines file's first good row (None when it
  has none)."""
  kind = manifest_format(path)
  if kind == "csv":
    return csv_header(path)
  if kind == "parquet":
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with storage.open_file(path, CompressionTypes.AUTO) as f:
      return list(pq.ParquetFile(f).schema_arrow.names)
  for _, row in iter_manifest(path):
    if not isinstance(row, BadRow):
      return list(row)
  return None


def manifest_head(path: str, rows: int) -> pa.Table:
  """The manifest's first ``rows`` rows (a Parquet one's full schema), read
  without reading the rest: what the launch check looks at."""
  if manifest_format(path) == "parquet":
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with storage.open_file(path, CompressionTypes.AUTO) as f:
      source = pq.ParquetFile(f)
      batch = next(source.iter_batches(rows), None)
      if batch is None:
        return source.schema_arrow.empty_table()
      return pa.Table.from_batches([batch]).slice(0, rows)
  head = [row for _, row in itertools.islice(iter_manifest(path), rows)
          if not isinstance(row, BadRow)]
  if not head:
    return pa.table({})
  if manifest_format(path) == "csv":
    return pa.Table.from_pylist(head)
  import pyarrow.json as pa_json  # pylint: disable=g-import-not-at-top
  return pa_json.read_json(io.BytesIO(
      "\n".join(json.dumps(r) for r in head).encode()))


def check_columns(table_columns: Sequence[str], uri_column: str,
                  key_column: Optional[str],
                  passthrough: Sequence[str], path: str) -> None:
  wanted = [uri_column] + ([key_column] if key_column else []) + list(
      passthrough)
  missing = [c for c in wanted if c not in table_columns]
  if missing:
    raise WrongColumns(f"manifest {path!r} lacks column(s) {missing} "
                     f"(found: {', '.join(table_columns)})")


def manifest_rows(path: str, uri_column: str, key_column: Optional[str],
                  passthrough: Sequence[str],
                  piece: text_ranges.Piece = text_ranges.WHOLE
                  ) -> Iterator[Dict]:
  """The named columns of each row of the manifest (or of the piece), with
  ``__index__`` (its row number from 0), streamed; a row that cannot be
  read is ``{"__index__": N, "__bad__": True}``.

  Raises:
    WrongColumns: the manifest lacks a named column (checked against
      :func:`manifest_columns` before any row; an empty manifest has none
      to check).
  """
  wanted: List[str] = list(dict.fromkeys(
      [uri_column] + ([key_column] if key_column else []) + list(passthrough)))
  columns = manifest_columns(path)
  if columns is not None:
    check_columns(columns, uri_column, key_column, passthrough, path)
  for index, row in iter_manifest(path, wanted, piece):
    if isinstance(row, BadRow):
      yield {"__index__": index, "__bad__": True}
      continue
    picked = {c: row.get(c) for c in wanted}
    picked["__index__"] = index
    yield picked


def pieces_of(listed: listing.ListedFile, split_bytes: int
              ) -> Optional[List[text_ranges.Piece]]:
  """A Parquet manifest's pieces (a row group each, numbered from its
  metadata); None for a text manifest (``text_ranges`` splits it)."""
  path = listed.path()
  if manifest_format(path) != "parquet":
    return None
  try:
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with storage.open_file(path, CompressionTypes.AUTO) as f:
      meta = pq.ParquetFile(f).metadata
  except Exception:  # pylint: disable=broad-except
    return [text_ranges.WHOLE]   # damaged: fails as a whole when read
  del split_bytes   # a row group is Parquet's own unit of work
  pieces, first = [], 0
  for group in range(meta.num_row_groups):
    pieces.append(text_ranges.Piece(group, group + 1, first))
    first += meta.row_group(group).num_rows
  return pieces if len(pieces) > 1 else [text_ranges.WHOLE]


def quote_of(path: str) -> Optional[bytes]:
  """The quote character that can hide a newline in the manifest's rows:
  CSV's (a JSON string cannot hold a raw newline)."""
  return text_ranges.QUOTE if manifest_format(path) == "csv" else None


def piece_key(listed: listing.ListedFile, piece: text_ranges.Piece) -> str:
  """The key a piece's read failure goes under: the file's for its first
  piece, ``FILE:from_byte_N`` (or ``from_row_group_N``) for a later one."""
  if not piece.start:
    return listed.key
  unit = ("row_group" if manifest_format(listed.path()) == "parquet"
          else "byte")
  return f"{listed.key}:from_{unit}_{piece.start}"


class ListManifestDoFn(beam.DoFn):
  """Manifest path, or (path, piece) -> (ImageKey, uri) per row, or a
  missing_uri or credentials_in_url failure."""

  def __init__(self, uri_column: str, key_column: Optional[str],
               passthrough: Sequence[str]):
    self._uri, self._key = uri_column, key_column
    self._passthrough = tuple(passthrough)

  def process(self, element):
    listed, piece = text_ranges.as_piece(element)
    path = listed.key
    number = None
    try:
      for row in manifest_rows(listed.path(), self._uri, self._key,
                               self._passthrough, piece):
        number = row["__index__"]
        yield self._row(listed, row)
    except WrongColumns as e:
      if not piece.start:   # the file fails once, from its first piece
        yield failures.failure_output(
            path, failures.STAGE_READ, failures.REASON_WRONG_SCHEMA,
            f"{e}; none of its rows were read", listed.escaped)
    except Exception as e:  # pylint: disable=broad-except
      # Damaged (cut short, not Parquet): the rows before were listed; the
      # rest of the piece fails as one, keyed by the file (or the piece).
      after = (f" after row {number}" if number is not None else
               f" from row {piece.first_record}" if piece.start else "")
      yield failures.failure_output(
          piece_key(listed, piece), failures.STAGE_READ,
          failures.REASON_BAD_FILE,
          f"manifest {path} could not be read{after} "
          f"({type(e).__name__}); its later rows"
          f"{' in this part' if piece.end is not None else ''}, if any, "
          "were not listed", listed.escaped)

  def _row(self, listed: listing.ListedFile, row: Dict):
    path = listed.key
    if row.get("__bad__"):
      return failures.failure_output(
          f"{path}:{row['__index__']}", failures.STAGE_READ,
          failures.REASON_BAD_RECORD,
          f"row {row['__index__']} of {path} cannot be read (not a JSON "
          "object, not UTF-8 CSV, or over "
          f"{text_ranges.MAX_RECORD_BYTES} bytes)", listed.escaped)
    uri = row[self._uri]
    key = row[self._key] if self._key else uri
    secret = credentials.has_credentials(uri)
    by_row = key in (None, "") or (secret and not self._key)
    key = f"{path}:{row['__index__']}" if by_row else str(key)
    escaped = by_row and listed.escaped
    image_key = elements.ImageKey(
        key, tuple((c, row[c]) for c in self._passthrough),
        origin=f"{path}\x00{row['__index__']:012d}", escaped=escaped)
    if uri in (None, ""):
      return failures.failure_output(
          key, failures.STAGE_READ, failures.REASON_MISSING_URI,
          f"row {row['__index__']} of {path} has no {self._uri!r}", escaped)
    if secret:
      return failures.failure_output(
          key, failures.STAGE_READ, failures.REASON_CREDENTIALS,
          credentials.refusal(f"row {row['__index__'] + 1} of {path}"),
          escaped)
    return elements.ImageInput(image_key, uri=str(uri))


class ReadManifestImages(beam.PTransform):
  """Manifest globs -> ``images`` (ImageInput with the row's URI) and
  ``failures`` (rows without one; files fail when the decode step reads
  them)."""

  def __init__(self, patterns: Sequence[str], uri_column: str,
               key_column: Optional[str], passthrough: Sequence[str],
               done: Optional[beam.PCollection] = None,
               live_job: Optional[str] = None,
               split_bytes: int = text_ranges.DEFAULT_SPLIT_BYTES):
    super().__init__()
    self._patterns = list(patterns)
    self._args = (uri_column, key_column, tuple(passthrough))
    self._done = done
    self._live_job = live_job
    self._split_bytes = split_bytes

  def expand(self, pbegin):
    listed = (listing.match_files(pbegin, self._patterns)
              | "Pieces" >> text_ranges.SplitLists(
                  self._split_bytes, quote_of, pieces_of)
              | "ListRows" >> beam.ParDo(ListManifestDoFn(
                  *self._args)).with_outputs(failures.FAILURES_TAG,
                                             main="rows"))
    kept = listed.rows | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job)
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": kept.kept, failures.FAILURES_TAG: failed}
