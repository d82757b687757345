"""Source: manifest files (CSV, JSON Lines or Parquet) listing image URIs.

Each row names an image in ``--uri_column`` (any Beam filesystem path); the
key is ``--key_column`` when given, else the URI. ``--passthrough_columns``
are copied, as strings, to the row's result. A row without a URI is a
``read`` failure (``missing_uri``), keyed by ``<manifest>:<row index>``
unless it has a key.
"""
from __future__ import annotations

import csv
import io
from typing import Dict, Iterator, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes

from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage
MANIFEST_FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json",
                    ".json": "json", ".parquet": "parquet"}


def manifest_format(path: str) -> str:
  """The manifest's format from its extension (before any .gz)."""
  name = path[:-3] if path.endswith(".gz") else path
  for suffix, kind in MANIFEST_FORMATS.items():
    if name.lower().endswith(suffix):
      return kind
  raise ValueError(f"manifest {path!r}: expected a file ending in "
                   f"{', '.join(MANIFEST_FORMATS)}")


def read_manifest(path: str) -> pa.Table:
  kind = manifest_format(path)
  with storage.open_file(path, CompressionTypes.AUTO) as f:
    data = f.read()
  if kind == "csv":
    # Python's csv keeps every value a string: ids such as 00123 must not
    # become numbers on the way to the results.
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    if not rows:
      return pa.table({})
    return pa.Table.from_pylist(rows)
  if kind == "json":
    import pyarrow.json as pa_json  # pylint: disable=g-import-not-at-top
    return pa_json.read_json(io.BytesIO(data))
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  return pq.read_table(io.BytesIO(data))


def check_columns(table_columns: Sequence[str], uri_column: str,
                  key_column: Optional[str],
                  passthrough: Sequence[str], path: str) -> None:
  wanted = [uri_column] + ([key_column] if key_column else []) + list(
      passthrough)
  missing = [c for c in wanted if c not in table_columns]
  if missing:
    raise ValueError(f"manifest {path!r} lacks column(s) {missing} "
                     f"(found: {', '.join(table_columns)})")


def manifest_rows(path: str, uri_column: str, key_column: Optional[str],
                  passthrough: Sequence[str]) -> Iterator[Dict]:
  table = read_manifest(path)
  check_columns(table.column_names, uri_column, key_column, passthrough, path)
  for index, row in enumerate(table.select(
      list(dict.fromkeys([uri_column] + ([key_column] if key_column else [])
                         + list(passthrough)))).to_pylist()):
    row["__index__"] = index
    yield row


class ListManifestDoFn(beam.DoFn):
  """Manifest path -> (ImageKey, uri) per row, or a missing_uri failure."""

  def __init__(self, uri_column: str, key_column: Optional[str],
               passthrough: Sequence[str]):
    self._uri, self._key = uri_column, key_column
    self._passthrough = tuple(passthrough)

  def process(self, listed: listing.ListedFile):
    path = listed.key
    for row in manifest_rows(listed.path(), self._uri, self._key,
                             self._passthrough):
      uri = row[self._uri]
      key = row[self._key] if self._key else uri
      by_row = key in (None, "")
      key = f"{path}:{row['__index__']}" if by_row else str(key)
      escaped = by_row and listed.escaped
      image_key = elements.ImageKey(
          key, tuple((c, row[c]) for c in self._passthrough),
          origin=f"{path}\x00{row['__index__']:012d}", escaped=escaped)
      if uri in (None, ""):
        yield failures.failure_output(
            key, failures.STAGE_READ, failures.REASON_MISSING_URI,
            f"row {row['__index__']} of {path} has no {self._uri!r}", escaped)
        continue
      yield elements.ImageInput(image_key, uri=str(uri))


class ReadManifestImages(beam.PTransform):
  """Manifest globs -> ``images`` (ImageInput with the row's URI) and
  ``failures`` (rows without one; files fail when the decode step reads
  them)."""

  def __init__(self, patterns: Sequence[str], uri_column: str,
               key_column: Optional[str], passthrough: Sequence[str],
               done: Optional[beam.PCollection] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._args = (uri_column, key_column, tuple(passthrough))
    self._done = done

  def expand(self, pbegin):
    listed = (listing.match_files(pbegin, self._patterns)
              | "ListRows" >> beam.ParDo(ListManifestDoFn(
                  *self._args)).with_outputs(failures.FAILURES_TAG,
                                             main="rows"))
    kept = listed.rows | "KeepNewOnce" >> keep_new.KeepNewOnce(self._done)
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": kept.kept, failures.FAILURES_TAG: failed}
