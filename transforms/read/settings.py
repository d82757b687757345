"""The read stage's settings and flags: which inputs, and how to key them."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from transforms.core import flags

FORMAT_FILES = "files"
FORMAT_TFRECORD = "tfrecord"
FORMAT_MANIFEST = "manifest"
INPUT_FORMATS = (FORMAT_FILES, FORMAT_TFRECORD, FORMAT_MANIFEST)


@dataclasses.dataclass(frozen=True)
class ReadSettings:
  """Attributes mirror the flags of :func:`add_flags`."""
  patterns: Tuple[str, ...]
  input_format: str = FORMAT_FILES
  image_feature: str = "image/encoded"
  key_feature: str = "image/filename"
  uri_column: str = "uri"
  key_column: Optional[str] = None
  passthrough_columns: Tuple[str, ...] = ()
  skip_existing: Tuple[str, ...] = ()
  allow_mixed_results: bool = False


_DEFAULTS = ReadSettings(patterns=())


def add_flags(parser) -> None:
  add = parser.add_argument
  add("--input", nargs="+", action="extend", default=None,
      help="File globs (or TFRecord / manifest files); several after one "
      "--input, and repeated --input flags add up.")
  add("--input_format", default=_DEFAULTS.input_format,
      help=f"One of {', '.join(INPUT_FORMATS)}.")
  add("--image_feature", default=_DEFAULTS.image_feature,
      help="tfrecord: Example feature holding the encoded image.")
  add("--key_feature", default=_DEFAULTS.key_feature,
      help="tfrecord: Example feature used as the key.")
  add("--uri_column", default=_DEFAULTS.uri_column,
      help="manifest: column of image URIs.")
  add("--key_column", default=None,
      help="manifest: column used as key (default: the URI).")
  add("--passthrough_columns", default="",
      help="manifest: comma-separated columns copied to each result.")
  add("--allow_mixed_results", action="store_true",
      help="--skip_existing: accept earlier results computed in another "
      "precision or with other decode settings (refused otherwise).")
  add("--skip_existing", action="append", default=None,
      help="GLOB[,GLOB...]: result files of earlier runs (Parquet or "
      "TFRecord); inputs whose key has a result there are skipped. "
      "Repeatable.")


def from_flags(o) -> ReadSettings:
  """Raises flags.ConfigError for a bad value."""
  input_format = flags.choice("input_format", o.input_format, INPUT_FORMATS)
  passthrough = flags.csv_values(o.passthrough_columns)
  if passthrough and input_format != FORMAT_MANIFEST:
    raise flags.ConfigError(
        f"--passthrough_columns needs --input_format manifest (found "
        f"{input_format})")
  return ReadSettings(
      patterns=tuple(o.input), input_format=input_format,
      image_feature=o.image_feature, key_feature=o.key_feature,
      uri_column=o.uri_column, key_column=o.key_column,
      passthrough_columns=passthrough,
      skip_existing=tuple(g for value in o.skip_existing or ()
                          for g in flags.csv_values(value)),
      allow_mixed_results=bool(o.allow_mixed_results))
