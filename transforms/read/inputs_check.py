"""The read stage's part of planning a job: do the inputs exist, and what
do they pass through?

Each input pattern must match at least one file (listing a few only, so a
bucket of millions is not listed at launch). A manifest's or Parquet file's
first file must have the named columns; their Arrow types are the
pass-through columns' types in the results (CSV keeps strings). Nothing
here reads O(inputs): a manifest or URL list is looked at through its first
rows only (``_HEAD_ROWS``); later rows are checked by the job, row by row
(a URL with credentials fails alone as ``credentials_in_url``). Under the
default ``files`` format, a glob whose files are all Parquet files or tar
shards is refused, naming the format that reads them (else each one would
fail as ``not_an_image``).
"""
from __future__ import annotations

import itertools
from typing import Any, List, Optional, Tuple

from transforms.core import credentials
from transforms.core import flags
from transforms.read import listing
from transforms.read import manifest
from transforms.read import parquet_images
from transforms.read import settings as read_settings
from transforms.read import url_list
from transforms.read import webdataset

# Files listed per glob at launch to tell what a glob holds.
_LOOK_AT = 50
# Rows of a glob's first manifest or URL list read at launch.
_HEAD_ROWS = 1000
_CONTAINERS = {".parquet": read_settings.FORMAT_PARQUET}
_CONTAINERS.update({s: read_settings.FORMAT_WEBDATASET
                    for s in webdataset.SHARD_SUFFIXES})

PassthroughTypes = Tuple[Tuple[str, Any], ...]


def _container_format(names: List[str]):
  kinds = {next((f for s, f in _CONTAINERS.items()
                 if n.lower().endswith(s)), None) for n in names}
  return kinds.pop() if len(kinds) == 1 else None


def _webdataset_types(settings: read_settings.ReadSettings
                      ) -> PassthroughTypes:
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  return tuple((c, pa.int64() if c in webdataset.INTEGER_MEMBERS else
                pa.string()) for c in settings.passthrough_columns)


def check_inputs(settings: read_settings.ReadSettings) -> PassthroughTypes:
  """Returns the pass-through columns and their Arrow types.

  Raises:
    flags.ConfigError: naming the pattern or column at fault.
  """
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  types: PassthroughTypes = tuple(
      (c, pa.string()) for c in settings.passthrough_columns)
  for index, pattern in enumerate(settings.patterns):
    matched = listing.match_pattern(pattern, limit=_LOOK_AT)
    if not matched:
      raise flags.ConfigError(
          f"--input: expected files, but {pattern!r} matches nothing")
    path = matched[0].path()
    kind = settings.input_format
    head = None
    if kind == read_settings.FORMAT_FILES:
      container = _container_format([m.key for m in matched])
      if container is not None:
        raise flags.ConfigError(
            f"--input: {pattern!r} matches {container} files "
            f"({matched[0].key}, ...), not images: use --input_format "
            f"{container}")
    elif kind == read_settings.FORMAT_MANIFEST:
      try:
        table = head = manifest.manifest_head(path, _HEAD_ROWS)
        manifest.check_columns(
            table.column_names, settings.uri_column, settings.key_column,
            settings.passthrough_columns, path)
      except ValueError as e:
        raise flags.ConfigError(f"--input: {e}") from None
      if index == 0:
        types = tuple((c, table.schema.field(c).type)
                      for c in settings.passthrough_columns)
    elif kind == read_settings.FORMAT_PARQUET:
      source, path = _first_parquet(matched, pattern)
      try:
        found = parquet_images.check_file(
            source, path, settings.image_column, settings.key_column,
            passthrough_with_path(settings, source))
      except ValueError as e:
        raise flags.ConfigError(f"--input: {e}") from None
      if index == 0:
        types = tuple(found)
    elif kind == read_settings.FORMAT_WEBDATASET and index == 0:
      types = _webdataset_types(settings)
    if kind in read_settings.URL_FORMATS:
      _refuse_credentials(settings, matched[0], head)
  return types


def _first_parquet(matched: List[listing.ListedFile], pattern: str):
  """The first of the listed files that opens as Parquet, and its path: a
  glob may also match a file of another kind (img2dataset's
  ``00000_stats.json``) or a damaged one, which the job fails alone."""
  for listed in matched:
    try:
      source = parquet_images.parquet_file(listed.path())
      _ = source.metadata
      return source, listed.path()
    except Exception:  # pylint: disable=broad-except
      continue
  raise flags.ConfigError(
      f"--input: expected Parquet files, but none of the first "
      f"{len(matched)} that {pattern!r} matches opens as Parquet "
      f"({matched[0].key}, ...)")


def _refuse_credentials(settings: read_settings.ReadSettings,
                        listed: listing.ListedFile,
                        head: Optional[Any] = None) -> None:
  """The first rows of a glob's first list, at launch: a list of URLs with
  secrets in them is refused before any work (keys are written into the
  results). The message names the row, never the secret; later rows fail
  alone in the job. ``head``: a manifest's first rows, when the column
  check read them already (a pyarrow Table)."""
  path = listed.path()
  if settings.input_format == read_settings.FORMAT_URLS:
    rows: Any = itertools.islice(url_list.url_lines(path), _HEAD_ROWS)
  else:
    table = head if head is not None else manifest.manifest_head(
        path, _HEAD_ROWS)
    if settings.uri_column not in table.column_names:
      return
    rows = enumerate(table.column(settings.uri_column).to_pylist(), start=1)
  for number, uri in rows:
    if credentials.has_credentials(uri):
      raise flags.ConfigError(
          "--input: " + credentials.refusal(f"row {number} of {listed.key}"))


def passthrough_with_path(settings: read_settings.ReadSettings,
                          source) -> Tuple[str, ...]:
  """Parquet: the pass-through columns, plus the image struct's ``path``
  (as ``<image_column>_path``) when the image column (of the
  ``pq.ParquetFile`` ``source``) is a struct."""
  columns = tuple(settings.passthrough_columns)
  names = source.schema_arrow.names
  if settings.image_column in names and parquet_images.is_image_struct(
      source.schema_arrow.field(settings.image_column).type):
    extra = parquet_images.path_column(settings.image_column)
    if extra not in columns:
      columns += (extra,)
  return columns
