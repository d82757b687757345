"""Source: Parquet files holding the images themselves (``--input_format
parquet``), as Hugging Face datasets and img2dataset write them.

``--image_column`` names a binary column, or a struct ``{bytes, path}`` (the
Hugging Face ``Image()`` feature); the struct's ``path`` is passed through as
``<image_column>_path``, never used as the key (it repeats and can be null).
The key is ``--key_column``, else ``FILE:ROW``.

Work is split by row group, so one big file spreads over workers, and only
the columns needed are read. Exactly-once takes two passes over a row group,
the first reading only the key column (cheap in a columnar file) for the
join with earlier results and between repeated keys, the second the image
and pass-through columns of the rows kept, so image bytes never cross the
join. A repeated key fails the later rows with ``duplicate_key``; a null
image fails with ``missing_image``.
"""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam

from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage

PATH_FIELD = "path"
BYTES_FIELD = "bytes"


def path_column(image_column: str) -> str:
  """The pass-through column of a struct image's ``path``."""
  return f"{image_column}_{PATH_FIELD}"


def parquet_file(path: str):
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  # A page that carries a checksum is verified: a flipped byte fails its
  # row group instead of decoding as another image.
  return pq.ParquetFile(storage.open_file(path),
                        page_checksum_verification=True)


def is_image_struct(arrow_type) -> bool:
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  return (pa.types.is_struct(arrow_type) and
          arrow_type.get_field_index(BYTES_FIELD) >= 0)


def image_bytes(value: Any) -> Optional[bytes]:
  """A cell of the image column -> its bytes (None when null)."""
  if isinstance(value, dict):
    value = value.get(BYTES_FIELD)
  return value if value is None else bytes(value)


def _unreadable(error: Exception) -> str:
  """Why a Parquet file or row group could not be read, in our words (no
  byte of the file is copied)."""
  return f"could not be read as Parquet ({type(error).__name__})"


class ListRowGroupsDoFn(beam.DoFn):
  """File -> (file, row group, first row index) per row group; a file that
  is not readable Parquet (cut short, another kind of file in the glob) or
  lacks the columns asked for fails alone, keyed by its path."""

  def __init__(self, image_column: str, key_column: Optional[str],
               passthrough: Sequence[str]):
    self._image_column, self._key_column = image_column, key_column
    self._passthrough = tuple(passthrough)

  def process(self, listed: listing.ListedFile):
    try:
      source = parquet_file(listed.path())
      meta = source.metadata
    except Exception as e:  # pylint: disable=broad-except
      yield failures.failure_output(
          listed.key, failures.STAGE_READ, failures.REASON_BAD_FILE,
          f"{listed.key} {_unreadable(e)}; none of its rows were read",
          listed.escaped)
      return
    try:
      check_file(source, listed.key, self._image_column, self._key_column,
                 self._passthrough)
    except ValueError as e:
      yield failures.failure_output(
          listed.key, failures.STAGE_READ, failures.REASON_WRONG_SCHEMA,
          f"{e}; none of its rows were read", listed.escaped)
      return
    first = 0
    for group in range(meta.num_row_groups):
      yield listed, group, first
      first += meta.row_group(group).num_rows


class ListRowKeysDoFn(beam.DoFn):
  """(file, row group, first row) -> (ImageKey, (file, group, row)) per row:
  pass one, which reads only the key column (or nothing but the count). A
  row group whose keys cannot be read fails each of its rows, keyed
  ``FILE:ROW``."""

  def __init__(self, key_column: Optional[str]):
    self._key_column = key_column

  def process(self, element):
    listed, group, first = element
    rows = 0
    try:
      source = parquet_file(listed.path())
      rows = source.metadata.row_group(group).num_rows
      if self._key_column:
        values = source.read_row_group(
            group, columns=[self._key_column]).column(0).to_pylist()
      else:
        values = [None] * rows
    except Exception as e:  # pylint: disable=broad-except
      for row in range(first, first + rows):
        yield failures.failure_output(
            f"{listed.key}:{row}", failures.STAGE_READ,
            failures.REASON_BAD_FILE,
            f"row {row} of {listed.key}: its row group {group} "
            f"{_unreadable(e)}", listed.escaped)
      return
    for offset, value in enumerate(values):
      row = first + offset
      by_row = value in (None, "")
      key = f"{listed.key}:{row}" if by_row else str(value)
      yield (elements.ImageKey(key, origin=f"{listed.key}\x00{row:012d}",
                               escaped=by_row and listed.escaped),
             (tuple(listed), group, offset))


class ReadKeptRowsDoFn(beam.DoFn):
  """((file, group), [(offset, ImageKey)]) -> ImageInput with the image
  bytes per kept row, or ``missing_image``: pass two. A row group that
  cannot be read fails each kept row."""

  def __init__(self, image_column: str, passthrough: Sequence[str]):
    self._image_column = image_column
    self._passthrough = tuple(passthrough)

  def process(self, element):
    (listed_tuple, group), wanted = element
    listed = listing.ListedFile(*listed_tuple)
    try:
      source = parquet_file(listed.path())
      struct = is_image_struct(
          source.schema_arrow.field(self._image_column).type)
      path_name = path_column(self._image_column)
      read = [self._image_column] + [c for c in self._passthrough
                                     if c != path_name]
      table = source.read_row_group(group, columns=list(dict.fromkeys(read)))
    except Exception as e:  # pylint: disable=broad-except
      for _, image_key in sorted(wanted, key=lambda w: w[0]):
        yield failures.failure_output(
            image_key.key, failures.STAGE_READ, failures.REASON_BAD_FILE,
            f"row group {group} of {listed.key} {_unreadable(e)}",
            image_key.escaped)
      return
    cells = table.column(self._image_column).to_pylist()
    other = {c: table.column(c).to_pylist() for c in table.column_names
             if c != self._image_column}
    for offset, image_key in sorted(wanted, key=lambda w: w[0]):
      cell = cells[offset]
      values = []
      for column in self._passthrough:
        if column == path_name and struct:
          values.append((column, cell.get(PATH_FIELD) if cell else None))
        else:
          values.append((column, other[column][offset]))
      image_key = image_key._replace(passthrough=tuple(values))
      data = image_bytes(cell)
      if data is None:
        yield failures.failure_output(
            image_key.key, failures.STAGE_READ, failures.REASON_MISSING_IMAGE,
            f"row {image_key.origin.rpartition(chr(0))[2].lstrip('0') or 0} "
            f"of {listed.key} has a null {self._image_column!r}",
            image_key.escaped)
        continue
      yield elements.ImageInput(image_key, data=data)


class RowGroupsLister:
  """The Parquet passes for ``read.slices`` (``KeysFirst``): row groups,
  their keys, then the images of the rows a slice keeps."""

  def __init__(self, image_column: str, key_column: Optional[str],
               passthrough: Sequence[str]):
    self._groups = ListRowGroupsDoFn(image_column, key_column, passthrough)
    self._keys = ListRowKeysDoFn(key_column)
    self._rows = ReadKeptRowsDoFn(image_column, passthrough)

  def units(self, listed: listing.ListedFile):
    return self._groups.process(listed)

  def keys(self, unit):
    return self._keys.process(unit)

  def read(self, unit, kept):
    listed, group, _ = unit
    return self._rows.process(((tuple(listed), group),
                               [(where[2], key) for key, where in kept]))


class ReadParquetImages(beam.PTransform):
  """Parquet globs -> ``images`` (ImageInput with the bytes) and
  ``failures``."""

  def __init__(self, patterns: Sequence[str], image_column: str,
               key_column: Optional[str], passthrough: Sequence[str],
               done: Optional[beam.PCollection] = None,
               live_job: Optional[str] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._image_column, self._key_column = image_column, key_column
    self._passthrough = tuple(passthrough)
    self._done = done
    self._live_job = live_job

  def expand(self, pbegin):
    groups = (listing.match_files(pbegin, self._patterns)
              | "RowGroups" >> beam.ParDo(ListRowGroupsDoFn(
                  self._image_column, self._key_column, self._passthrough)
                                           ).with_outputs(
                      failures.FAILURES_TAG, main="groups"))
    keys = (groups.groups
            | "SpreadRowGroups" >> beam.Reshuffle()
            | "ListRowKeys" >> beam.ParDo(ListRowKeysDoFn(
                self._key_column)).with_outputs(
                    failures.FAILURES_TAG, main="keys"))
    kept = keys.keys | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job)
    images = (kept.kept
              | "ByRowGroup" >> beam.Map(
                  lambda item: ((item[1][0], item[1][1]),
                                (item[1][2], item[0])))
              | "GroupByRowGroup" >> beam.GroupByKey()
              | "ReadKeptRows" >> beam.ParDo(ReadKeptRowsDoFn(
                  self._image_column, self._passthrough)).with_outputs(
                      failures.FAILURES_TAG, main="images"))
    failed = ((groups[failures.FAILURES_TAG], keys[failures.FAILURES_TAG],
               kept[failures.FAILURES_TAG], images[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": images.images, failures.FAILURES_TAG: failed}


_URI_PREFIXES = ("http://", "https://", "gs://", "s3://", "/", "file:")


def uri_like_columns(source) -> List[str]:
  """String columns of a ``pq.ParquetFile`` whose first values all look
  like URIs (read only to word a refusal)."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  strings = [f.name for f in source.schema_arrow
             if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
  if not strings or not source.metadata.num_row_groups:
    return []
  table = source.read_row_group(0, columns=strings).slice(0, 20)
  found = []
  for name in strings:
    values = [v for v in table.column(name).to_pylist() if v]
    if values and all(str(v).startswith(_URI_PREFIXES) for v in values):
      found.append(name)
  return found


def check_file(source, path: str, image_column: str,
               key_column: Optional[str], passthrough: Sequence[str]
               ) -> List[Tuple[str, Any]]:
  """Reads one file's schema at launch (``source``: its
  ``pq.ParquetFile``); returns the pass-through columns' Arrow types.

  Raises:
    ValueError: a column is missing (the message lists the file's columns
      and, when one holds URIs, points to ``manifest --uri_column``), or the
      image column is neither binary nor ``{bytes, path}``.
  """
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  schema = source.schema_arrow
  names = schema.names
  if image_column not in names:
    hint = ""
    uri_like = uri_like_columns(source)
    if uri_like:
      hint = (f"; it has {', '.join(repr(c) for c in uri_like)}, which looks "
              "like URIs: to read images those name, use --input_format "
              f"manifest --uri_column {uri_like[0]}")
    raise ValueError(f"{path!r} has no image column {image_column!r} "
                     f"(found: {', '.join(names)}){hint}")
  kind = schema.field(image_column).type
  if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or
          is_image_struct(kind)):
    raise ValueError(f"--image_column {image_column!r} of {path!r}: expected "
                     f"binary or a struct {{bytes, path}}, found {kind}")
  wanted = [c for c in passthrough if c != path_column(image_column)]
  missing = [c for c in wanted + ([key_column] if key_column else [])
             if c not in names]
  if missing:
    raise ValueError(f"{path!r} lacks column(s) {missing} (found: "
                     f"{', '.join(names)})")
  types = []
  for column in passthrough:
    if column == path_column(image_column) and column not in names:
      types.append((column, pa.string()))
    else:
      types.append((column, schema.field(column).type))
  return types
