"""The read stage's settings and flags: which inputs, and how to key them."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from transforms.core import flags

FORMAT_FILES = "files"
FORMAT_TFRECORD = "tfrecord"
FORMAT_MANIFEST = "manifest"
FORMAT_WEBDATASET = "webdataset"
FORMAT_PARQUET = "parquet"
FORMAT_URLS = "urls"
INPUT_FORMATS = (FORMAT_FILES, FORMAT_TFRECORD, FORMAT_MANIFEST,
                 FORMAT_WEBDATASET, FORMAT_PARQUET, FORMAT_URLS)
# Formats whose inputs may be http(s) URLs (the fetch stage runs).
URL_FORMATS = (FORMAT_MANIFEST, FORMAT_URLS)
# Formats whose inputs carry other columns to pass through.
PASSTHROUGH_FORMATS = (FORMAT_MANIFEST, FORMAT_WEBDATASET, FORMAT_PARQUET)
# WebDataset members taken as the image, first match wins: the formats the
# decode step reads.
DEFAULT_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp",
                            "tif", "tiff")


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
  image_column: str = "image"
  image_extensions: Tuple[str, ...] = DEFAULT_IMAGE_EXTENSIONS
  skip_existing: Tuple[str, ...] = ()
  allow_mixed_results: bool = False
  max_member_bytes: int = 64 * 2**20
  list_split_bytes: int = 64 * 2**20
  watch: Optional[float] = None
  window_seconds: float = 60.0
  allowed_lateness: Optional[float] = None

  @property
  def lateness(self) -> float:
    """Seconds a window stays open for late images (default: a window)."""
    return (self.window_seconds if self.allowed_lateness is None
            else self.allowed_lateness)


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
      help="manifest / parquet: column used as key (default: the URI; "
      "parquet: FILE:ROW).")
  add("--passthrough_columns", default="",
      help="manifest / parquet: comma-separated columns copied to each "
      "result (their Arrow types kept); webdataset: members copied as text "
      "(cls as an integer).")
  add("--image_column", default=_DEFAULTS.image_column,
      help="parquet: the column holding the images (binary, or a struct "
      "{bytes, path} as Hugging Face datasets write it).")
  add("--image_extensions", default=",".join(DEFAULT_IMAGE_EXTENSIONS),
      help="webdataset: member suffixes taken as the image, first match "
      "wins.")
  add("--max_member_bytes", type=int, default=_DEFAULTS.max_member_bytes,
      help="webdataset: the most bytes of one tar member read into memory; "
      "an image member over it fails as member_too_large, unread.")
  add("--list_split_bytes", type=int, default=_DEFAULTS.list_split_bytes,
      help="manifest / urls: an uncompressed list (CSV, JSON Lines, URL "
      "text) larger than this is read by several workers in byte ranges of "
      "about this size; a Parquet manifest, by row group. Rows are numbered "
      "and keyed the same however a list is split. Runs whose inputs are on "
      "this machine's disk, on the local runner, read lists in slices "
      "instead.")
  add("--watch", type=float, default=None, metavar="SECONDS",
      help="files: a streaming job: look for new files matching --input "
      "every SECONDS (Beam's MatchContinuously) and embed each new file "
      "once, as it lands; results are written per window "
      "(--window_seconds). Needs a streaming runner (Dataflow).")
  add("--window_seconds", type=float, default=_DEFAULTS.window_seconds,
      help="--watch: results and failures are written once per window of "
      "this many seconds.")
  add("--allowed_lateness", type=float, default=None, metavar="SECONDS",
      help="--watch: a window takes images this late after it closed (in "
      "files of their own, pane p1, p2...); default one window.")
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
  if passthrough and input_format not in PASSTHROUGH_FORMATS:
    raise flags.ConfigError(
        f"--passthrough_columns needs --input_format "
        f"{' or '.join(PASSTHROUGH_FORMATS)} (found {input_format})")
  extensions = tuple(e.lower().lstrip(".")
                     for e in flags.csv_values(o.image_extensions))
  if not extensions:
    raise flags.ConfigError("--image_extensions: expected at least one "
                            "suffix, found none")
  if o.list_split_bytes <= 0:
    raise flags.ConfigError(f"--list_split_bytes: expected a positive number "
                            f"of bytes, found {o.list_split_bytes}")
  if o.max_member_bytes <= 0:
    raise flags.ConfigError(f"--max_member_bytes: expected a positive number "
                            f"of bytes, found {o.max_member_bytes}")
  if o.watch is not None:
    _check_watch(o, input_format)
  return ReadSettings(
      patterns=tuple(o.input), input_format=input_format,
      image_feature=o.image_feature, key_feature=o.key_feature,
      uri_column=o.uri_column, key_column=o.key_column,
      passthrough_columns=passthrough, image_column=o.image_column,
      image_extensions=extensions,
      skip_existing=tuple(g for value in o.skip_existing or ()
                          for g in flags.csv_values(value)),
      allow_mixed_results=bool(o.allow_mixed_results),
      max_member_bytes=o.max_member_bytes,
      list_split_bytes=o.list_split_bytes, watch=o.watch,
      window_seconds=o.window_seconds, allowed_lateness=o.allowed_lateness)


def _check_watch(o, input_format: str) -> None:
  """Raises flags.ConfigError for a watch that cannot work."""
  if input_format != FORMAT_FILES:
    raise flags.ConfigError(f"--watch: expected --input_format "
                            f"{FORMAT_FILES} (new files land one by one), "
                            f"found {input_format}")
  if o.watch <= 0 or o.window_seconds <= 0:
    raise flags.ConfigError(
        f"--watch / --window_seconds: expected positive seconds, found "
        f"{o.watch} / {o.window_seconds}")
  if o.allowed_lateness is not None and o.allowed_lateness < 0:
    raise flags.ConfigError(f"--allowed_lateness: expected seconds >= 0, "
                            f"found {o.allowed_lateness}")
  if o.skip_existing:
    raise flags.ConfigError(
        "--watch with --skip_existing: expected one of them (a watching job "
        "embeds each new file once; it does not read earlier results)")
