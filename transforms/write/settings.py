"""The write stage's settings and flags: where and how results and failures
are written, and what a classification row holds."""
from __future__ import annotations

import dataclasses
from typing import Optional

from transforms.core import flags
from transforms.write import top_k as top_k_lib
from transforms.write import sinks

FAILURES_JSONL = "jsonl"
FAILURES_AS_RESULTS = "results"
FAILURE_FORMATS = (FAILURES_JSONL, FAILURES_AS_RESULTS)


@dataclasses.dataclass(frozen=True)
class WriteSettings:
  """Attributes mirror the flags of :func:`add_flags`."""
  output: str
  output_format: str = sinks.PARQUET
  compression: str = sinks.DEFAULT_COMPRESSION[sinks.PARQUET]
  num_shards: int = 0   # 0: committed parts (write.parts), resumable
  failures_format: str = FAILURES_JSONL
  overwrite: bool = False
  resume: bool = False
  part_rows: int = 2000
  top_k: top_k_lib.TopKSettings = top_k_lib.TopKSettings()
  labels_file: Optional[str] = None


_DEFAULTS = WriteSettings(output="")


def add_flags(parser) -> None:
  add = parser.add_argument
  add("--output", help="Output directory (local or gs://).")
  add("--output_format", default=_DEFAULTS.output_format,
      help=f"One of {', '.join(sinks.RESULT_FORMATS)}.")
  add("--compression", default=None,
      help="parquet: none|snappy|gzip|zstd|brotli|lz4 (default snappy); "
      "tfrecord: none|gzip (default none).")
  add("--num_shards", type=int, default=_DEFAULTS.num_shards,
      help="Result shards; 0 lets the runner choose.")
  add("--failures_format", default=_DEFAULTS.failures_format,
      help="jsonl, or 'results' for the results' format.")
  add("--overwrite", nargs="?", const=True, default=False,
      type=flags.parse_bool,
      help="Delete earlier results and failures under --output first "
      "(also --overwrite=true|false).")
  add("--resume", action="store_true",
      help="Finish a killed run into the same --output: its committed "
      "parts are kept and their keys skipped; refused if the flags or "
      "model differ.")
  add("--part_rows", type=int, default=_DEFAULTS.part_rows,
      help="Rows per committed part of the output (also one every 30 s): "
      "what a killed run can lose per worker.")
  # Not --labels: that is Beam's (Dataflow job labels; Airflow's Beam
  # operator always passes it).
  add("--labels_file", default=None,
      help="Class names, one per line, line i = class i (classification).")
  add("--top_k", type=int, default=_DEFAULTS.top_k.k,
      help="Classification: classes per row, best first.")
  add("--score", default=_DEFAULTS.top_k.score,
      help=f"Classification scores: {', '.join(top_k_lib.SCORES)}.")


def from_flags(o) -> WriteSettings:
  """Raises flags.ConfigError for a bad value."""
  output_format = flags.choice("output_format", o.output_format,
                               sinks.RESULT_FORMATS)
  compression = o.compression or sinks.DEFAULT_COMPRESSION[output_format]
  try:
    sinks.check_sink(output_format, compression)
  except ValueError as e:
    raise flags.ConfigError(f"--compression: {e}") from None
  if o.resume and o.num_shards:
    raise flags.ConfigError(
        f"--resume: expected no --num_shards, found {o.num_shards}: a fixed "
        "shard count keeps Beam's sinks, which commit nothing until the end, "
        "so there is nothing to resume from")
  if o.resume and o.overwrite:
    raise flags.ConfigError(
        "--resume and --overwrite: expected one of them (--resume keeps the "
        "killed run's parts, --overwrite deletes them)")
  return WriteSettings(
      output=o.output.rstrip("/"), output_format=output_format,
      compression=compression, num_shards=o.num_shards,
      failures_format=flags.choice("failures_format", o.failures_format,
                                   FAILURE_FORMATS),
      overwrite=o.overwrite, resume=o.resume,
      part_rows=flags.positive("part_rows", o.part_rows),
      top_k=top_k_lib.TopKSettings(
          k=flags.positive("top_k", o.top_k),
          score=flags.choice("score", o.score, top_k_lib.SCORES)),
      labels_file=o.labels_file)
