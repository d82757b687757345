"""The read stage's part of planning a job: do the inputs exist?

Each input pattern must match at least one file (listing one only, so a
bucket of millions is not listed at launch); a manifest's first file must
have the named columns.
"""
from __future__ import annotations

from transforms.core import flags
from transforms.read import listing
from transforms.read import manifest
from transforms.read import settings as read_settings


def check_inputs(settings: read_settings.ReadSettings) -> None:
  """Raises flags.ConfigError naming the pattern or column at fault."""
  for pattern in settings.patterns:
    matched = listing.match_pattern(pattern, limit=1)
    if not matched:
      raise flags.ConfigError(
          f"--input: expected files, but {pattern!r} matches nothing")
    if settings.input_format == read_settings.FORMAT_MANIFEST:
      path = matched[0].path()
      try:
        table = manifest.read_manifest(path)
        manifest.check_columns(
            table.column_names, settings.uri_column, settings.key_column,
            settings.passthrough_columns, path)
      except ValueError as e:
        raise flags.ConfigError(f"--input: {e}") from None
