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
from typing import Dict, Iterator, List, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes

from transforms.core import credentials
from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage
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
  """A JSON Lines row that is not a JSON object (malformed, cut): it fails
  alone, keyed by its file and row."""


class WrongColumns(ValueError):
  """A manifest lacks a column the job names."""


def iter_manifest(path: str, columns: Optional[Sequence[str]] = None
                  ) -> Iterator[Dict]:
  """The manifest's rows as dicts, streamed in file order.

  Python's csv keeps every CSV value a string: ids such as 00123 must not
  become numbers on the way to the results.

  Args:
    columns: read only these (Parquet); every row still has each key.
  """
  kind = manifest_format(path)
  if kind in ("csv", "json"):
    with storage.open_text(path, newline="") as text:
      if kind == "csv":
        yield from csv.DictReader(text)
      else:
        for line in text:
          if line.strip():
            try:
              value = json.loads(line)
            except ValueError:
              value = None
            yield value if isinstance(value, dict) else BadRow()
    return
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with storage.open_file(path, CompressionTypes.AUTO) as f:
    source = pq.ParquetFile(f)
    names = source.schema_arrow.names
    wanted = [c for c in (columns or names) if c in names]
    for batch in source.iter_batches(_PARQUET_BATCH, columns=wanted):
      yield from batch.to_pylist()


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
  head = [row for row in itertools.islice(iter_manifest(path), rows)
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
                  passthrough: Sequence[str]) -> Iterator[Dict]:
  """The named columns of each row, with ``__index__`` (its row number
  from 0), streamed; a row that is not a JSON object is ``{"__index__": N,
  "__bad__": True}``.

  Raises:
    WrongColumns: the manifest lacks a named column (found on its first
      good row; an empty manifest has no rows to check).
  """
  wanted: List[str] = list(dict.fromkeys(
      [uri_column] + ([key_column] if key_column else []) + list(passthrough)))
  checked = False
  for index, row in enumerate(iter_manifest(path, wanted)):
    if isinstance(row, BadRow):
      yield {"__index__": index, "__bad__": True}
      continue
    if not checked:
      check_columns(list(row), uri_column, key_column, passthrough, path)
      checked = True
    picked = {c: row.get(c) for c in wanted}
    picked["__index__"] = index
    yield picked


class ListManifestDoFn(beam.DoFn):
  """Manifest path -> (ImageKey, uri) per row, or a missing_uri or
  credentials_in_url failure."""

  def __init__(self, uri_column: str, key_column: Optional[str],
               passthrough: Sequence[str]):
    self._uri, self._key = uri_column, key_column
    self._passthrough = tuple(passthrough)

  def process(self, listed: listing.ListedFile):
    path = listed.key
    number = None
    try:
      for row in manifest_rows(listed.path(), self._uri, self._key,
                               self._passthrough):
        number = row["__index__"]
        yield self._row(listed, row)
    except WrongColumns as e:
      yield failures.failure_output(
          path, failures.STAGE_READ, failures.REASON_WRONG_SCHEMA,
          f"{e}; none of its rows were read", listed.escaped)
    except Exception as e:  # pylint: disable=broad-except
      # Damaged (cut short, not UTF-8, a NUL in a CSV, not Parquet): the
      # rows before were listed; the rest fail as one, keyed by the file.
      after = f" after row {number}" if number is not None else ""
      yield failures.failure_output(
          path, failures.STAGE_READ, failures.REASON_BAD_FILE,
          f"manifest {path} could not be read{after} "
          f"({type(e).__name__}); its later rows, if any, were not listed",
          listed.escaped)

  def _row(self, listed: listing.ListedFile, row: Dict):
    path = listed.key
    if row.get("__bad__"):
      return failures.failure_output(
          f"{path}:{row['__index__']}", failures.STAGE_READ,
          failures.REASON_BAD_RECORD,
          f"row {row['__index__']} of {path} is not a JSON object",
          listed.escaped)
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
               live_job: Optional[str] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._args = (uri_column, key_column, tuple(passthrough))
    self._done = done
    self._live_job = live_job

  def expand(self, pbegin):
    listed = (listing.match_files(pbegin, self._patterns)
              | "ListRows" >> beam.ParDo(ListManifestDoFn(
                  *self._args)).with_outputs(failures.FAILURES_TAG,
                                             main="rows"))
    kept = listed.rows | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job)
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": kept.kept, failures.FAILURES_TAG: failed}
