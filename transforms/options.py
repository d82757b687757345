"""The one options surface: flags, YAML job configs and the frozen JobConfig.

Flags are declared once, on :class:`EmbedOptions` (a Beam
``PipelineOptions`` subclass), so unknown flags such as ``--runner`` or
Dataflow's ``--project`` pass through to Beam. ``--config FILE.yaml`` supplies
defaults for any flag (keys are flag names without ``--``); flags on the
command line override the file. :func:`build_config` turns the parsed options
into a typed, frozen :class:`JobConfig` and rejects contradictions there, not
deep inside a worker.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import List, Optional, Sequence, Tuple

import yaml
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions

from transforms import decode
from transforms import model_loading
from transforms import predictions
from transforms import resize
from transforms import sinks

INPUT_FORMATS = ("files", "tfrecord", "manifest")
FAILURE_FORMATS = ("jsonl", "results")
DEFAULT_RUNNER = "FnApiRunner"
# Two bundles in flight per process: one decodes while the other is in the
# model (both release the GIL). See benchmarks/README.md.
DEFAULT_LOCAL_WORKERS = 2
DEFAULT_LOCAL_MODE = "multi_threading"


class ConfigError(ValueError):
  """A bad flag or config value; the message names expected and found."""


class EmbedOptions(PipelineOptions):
  """Flags of ``python -m pipelines.embed``."""

  @classmethod
  def _add_argparse_args(cls, parser):
    add = parser.add_argument
    add("--config", help="YAML job config; command-line flags override it.")
    # Model.
    add("--model", help="SavedModel directory (local or gs://) or TF Hub "
        "handle.")
    add("--task", default=model_loading.TASK_FEATURE_VECTOR,
        help=f"One of {', '.join(model_loading.TASKS)}.")
    add("--signature", default=None,
        help="Signature to call instead of obj(images) / the task's TF1 "
        "signature.")
    add("--extra_outputs", default="",
        help="Comma-separated extra signature outputs to write as well.")
    add("--image_size", default=None,
        help="H,W (or N for square) to feed the model; required when the "
        "model accepts any size.")
    # Beam's own --labels are Dataflow job labels; ours are class names, so
    # argv is rewritten by expand_config_file (see _rename_flags).
    add("--class_labels", default=None,
        help="(--labels) Class names, one per line, line i = class i.")
    add("--top_k", type=int, default=5)
    add("--score", default="logits",
        help=f"Classification scores: {', '.join(predictions.SCORES)}.")
    add("--jit_compile", action="store_true",
        help="Compile the model call with XLA.")
    # Input.
    add("--input", nargs="+", default=None,
        help="File globs (or TFRecord / manifest files); several allowed.")
    add("--input_format", default="files",
        help=f"One of {', '.join(INPUT_FORMATS)}.")
    add("--image_feature", default="image/encoded",
        help="tfrecord: Example feature holding the encoded image.")
    add("--key_feature", default="image/filename",
        help="tfrecord: Example feature used as the key.")
    add("--uri_column", default="uri", help="manifest: column of image URIs.")
    add("--key_column", default=None,
        help="manifest: column used as key (default: the URI).")
    add("--passthrough_columns", default="",
        help="manifest: comma-separated columns copied to each result.")
    # Decode.
    add("--resize", default="squash",
        help=f"One of {', '.join(resize.RESIZE_MODES)}.")
    add("--max_pixels", type=int, default=decode.DEFAULT_MAX_PIXELS,
        help="Reject images with more pixels than this (checked on the "
        "header).")
    add("--jpeg_draft", type=float, default=1.0,
        help="Decode JPEGs at reduced DCT scale while both sides stay >= "
        "this x the model size; 0 decodes at full size.")
    add("--decode_threads", type=int, default=1,
        help="Decode in this many background threads per worker, ahead of "
        "the model; 0 decodes inline.")
    # Batching.
    add("--batch_size", type=int, default=None,
        help="Fixed batch size (sets min and max); default 32.")
    add("--min_batch_size", type=int, default=None)
    add("--max_batch_size", type=int, default=None)
    # Output.
    add("--output", help="Output directory (local or gs://).")
    add("--output_format", default=sinks.PARQUET,
        help=f"One of {', '.join(sinks.RESULT_FORMATS)}.")
    add("--compression", default=None,
        help="parquet: none|snappy|gzip|zstd|brotli|lz4 (default snappy); "
        "tfrecord: none|gzip (default none).")
    add("--num_shards", type=int, default=0,
        help="Result shards; 0 lets the runner choose.")
    add("--failures_format", default="jsonl",
        help="jsonl, or 'results' for the results' format.")
    add("--overwrite", action="store_true",
        help="Delete earlier results and failures under --output first.")
    add("--max_failure_rate", type=float, default=None,
        help="Exit non-zero when failures / inputs exceed this fraction.")
    add("--verbose", action="store_true",
        help="Show TensorFlow's and Beam's own logging.")


@dataclasses.dataclass(frozen=True)
class JobConfig:
  """Everything the job needs, validated; built once by build_config."""
  model: str
  task: str
  input_patterns: Tuple[str, ...]
  input_format: str
  output: str
  output_format: str
  compression: str
  failures_format: str
  num_shards: int
  signature: Optional[str]
  extra_outputs: Tuple[str, ...]
  image_size: Optional[Tuple[int, int]]
  labels: Optional[str]
  top_k: int
  score: str
  resize: str
  max_pixels: int
  jpeg_draft: Optional[float]
  min_batch_size: int
  max_batch_size: int
  image_feature: str
  key_feature: str
  uri_column: str
  key_column: Optional[str]
  passthrough_columns: Tuple[str, ...]
  max_failure_rate: Optional[float]
  overwrite: bool
  jit_compile: bool
  verbose: bool
  decode_threads: int = 1


def _yaml_to_argv(path: str) -> List[str]:
  try:
    with open(path, encoding="utf-8") as f:
      values = yaml.safe_load(f) or {}
  except OSError as e:
    raise ConfigError(f"--config: cannot read {path!r}: {e}") from e
  if not isinstance(values, dict):
    raise ConfigError(f"--config: expected a mapping of flag names to values "
                      f"in {path!r}, found {type(values).__name__}")
  argv = []
  for key, value in values.items():
    flag = f"--{key}"
    if isinstance(value, bool):
      if value:
        argv.append(flag)
    elif isinstance(value, list):
      if key in ("input",):
        argv += [flag] + [str(v) for v in value]
      else:
        argv += [flag, ",".join(str(v) for v in value)]
    elif value is not None:
      argv += [flag, str(value)]
  return argv


# Our flag name -> the name it is parsed under, and back for Beam's own.
_RENAMED_FLAGS = {"--labels": "--class_labels", "--job_labels": "--labels"}


def _rename_flags(argv: Sequence[str]) -> List[str]:
  """``--labels`` is ours (class names); Dataflow job labels are --job_labels.
  """
  result = []
  for arg in argv:
    name, sep, value = arg.partition("=")
    if name in _RENAMED_FLAGS:
      arg = _RENAMED_FLAGS[name] + sep + value
    result.append(arg)
  return result


def expand_config_file(argv: Sequence[str]) -> List[str]:
  """Puts the YAML file's flags before the command line's, so flags win.

  Also renames ``--labels`` to ``--class_labels`` (see _rename_flags).
  """
  pre = argparse.ArgumentParser(add_help=False)
  pre.add_argument("--config")
  known, _ = pre.parse_known_args(list(argv))
  if not known.config:
    return _rename_flags(argv)
  return _rename_flags(_yaml_to_argv(known.config) + list(argv))


def _csv(value: Optional[str]) -> Tuple[str, ...]:
  return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def parse_image_size(value: Optional[str]) -> Optional[Tuple[int, int]]:
  if value is None or value == "":
    return None
  parts = [p.strip() for p in str(value).replace("x", ",").split(",")]
  try:
    dims = [int(p) for p in parts]
  except ValueError:
    dims = []
  if len(dims) == 1:
    dims = dims * 2
  if len(dims) != 2 or min(dims) <= 0:
    raise ConfigError(f"--image_size: expected H,W (positive integers, e.g. "
                      f"224,224), found {value!r}")
  return dims[0], dims[1]


def _choice(flag: str, value: str, choices: Sequence[str]) -> str:
  if value not in choices:
    raise ConfigError(f"--{flag}: expected one of {', '.join(choices)}, "
                      f"found {value!r}")
  return value


def build_config(options: PipelineOptions) -> JobConfig:
  """Validates the flags and builds the frozen config.

  Raises:
    ConfigError: a flag is missing, malformed or contradicts another.
  """
  o = options.view_as(EmbedOptions)
  for flag in ("model", "input", "output"):
    if not getattr(o, flag):
      raise ConfigError(f"--{flag} is required (give it on the command line "
                        "or in --config)")
  task = _choice("task", o.task, model_loading.TASKS)
  input_format = _choice("input_format", o.input_format, INPUT_FORMATS)
  output_format = _choice("output_format", o.output_format,
                          sinks.RESULT_FORMATS)
  failures_format = _choice("failures_format", o.failures_format,
                            FAILURE_FORMATS)
  score = _choice("score", o.score, predictions.SCORES)
  resize_mode = _choice("resize", o.resize, resize.RESIZE_MODES)
  compression = o.compression or sinks.DEFAULT_COMPRESSION[output_format]
  try:
    sinks.check_sink(output_format, compression)
  except ValueError as e:
    raise ConfigError(f"--compression: {e}") from None
  if o.top_k < 1:
    raise ConfigError(f"--top_k: expected a positive integer, found {o.top_k}")
  if o.max_pixels < 1:
    raise ConfigError(f"--max_pixels: expected a positive integer, found "
                      f"{o.max_pixels}")
  if o.jpeg_draft < 0 or 0 < o.jpeg_draft < 1:
    raise ConfigError(f"--jpeg_draft: expected 0 (off) or a factor >= 1, "
                      f"found {o.jpeg_draft}")
  if o.decode_threads < 0:
    raise ConfigError(f"--decode_threads: expected 0 or more, found "
                      f"{o.decode_threads}")
  if task != model_loading.TASK_CLASSIFICATION and o.class_labels:
    raise ConfigError(f"--labels is only used with --task classification "
                      f"(found --task {task})")
  min_batch, max_batch = _batch_sizes(o)
  if o.max_failure_rate is not None and not 0 <= o.max_failure_rate <= 1:
    raise ConfigError(f"--max_failure_rate: expected a fraction in [0, 1], "
                      f"found {o.max_failure_rate}")
  extra_outputs = _csv(o.extra_outputs)
  passthrough = _csv(o.passthrough_columns)
  clash = sorted(set(extra_outputs + passthrough) &
                 set(predictions.RESERVED_COLUMNS))
  if clash:
    raise ConfigError(f"column name(s) {clash} are reserved for results "
                      f"({', '.join(predictions.RESERVED_COLUMNS)})")
  if passthrough and input_format != "manifest":
    raise ConfigError(f"--passthrough_columns needs --input_format manifest "
                      f"(found {input_format})")
  return JobConfig(
      model=o.model, task=task, input_patterns=tuple(o.input),
      input_format=input_format, output=o.output.rstrip("/"),
      output_format=output_format, compression=compression,
      failures_format=failures_format, num_shards=o.num_shards,
      signature=o.signature or None, extra_outputs=extra_outputs,
      image_size=parse_image_size(o.image_size), labels=o.class_labels,
      top_k=o.top_k, score=score, resize=resize_mode,
      max_pixels=o.max_pixels, jpeg_draft=o.jpeg_draft or None,
      min_batch_size=min_batch, max_batch_size=max_batch,
      image_feature=o.image_feature, key_feature=o.key_feature,
      uri_column=o.uri_column, key_column=o.key_column,
      passthrough_columns=passthrough, max_failure_rate=o.max_failure_rate,
      overwrite=o.overwrite, jit_compile=o.jit_compile, verbose=o.verbose,
      decode_threads=o.decode_threads)


def apply_local_runner_defaults(options: PipelineOptions) -> None:
  """No --runner: the in-process FnApiRunner with two bundles in flight.

  Beam 2.77's DirectRunner would first try Prism, which downloads a binary;
  offline that fails and falls back after a delay. Flags the user gave win.
  """
  standard = options.view_as(StandardOptions)
  if standard.runner is not None:
    return
  standard.runner = DEFAULT_RUNNER
  direct = options.view_as(DirectOptions)
  if not _given(options, "direct_num_workers"):
    direct.direct_num_workers = DEFAULT_LOCAL_WORKERS
  if not _given(options, "direct_running_mode"):
    direct.direct_running_mode = DEFAULT_LOCAL_MODE


def _given(options: PipelineOptions, name: str) -> bool:
  return any(arg == f"--{name}" or arg.startswith(f"--{name}=")
             for arg in options._flags or ())  # pylint: disable=protected-access


def _batch_sizes(o: EmbedOptions) -> Tuple[int, int]:
  if o.batch_size is not None:
    if o.batch_size < 1:
      raise ConfigError(f"--batch_size: expected a positive integer, found "
                        f"{o.batch_size}")
    if o.min_batch_size is not None or o.max_batch_size is not None:
      raise ConfigError("--batch_size sets both bounds; give either it or "
                        "--min_batch_size/--max_batch_size, not both")
    return o.batch_size, o.batch_size
  low = o.min_batch_size if o.min_batch_size is not None else 32
  high = o.max_batch_size if o.max_batch_size is not None else max(low, 32)
  if low < 1 or high < low:
    raise ConfigError(f"batch sizes: expected 1 <= --min_batch_size <= "
                      f"--max_batch_size, found {low} and {high}")
  return low, high
