"""The one options surface: flags, YAML job configs and the frozen JobConfig.

Each stage declares its own flags and builds its own frozen settings
(``read.settings``, ``decode.settings``, ``model.settings``,
``write.settings``); :class:`EmbedOptions` (a Beam ``PipelineOptions``
subclass) gathers them, so unknown flags such as ``--runner`` or Dataflow's
``--project`` pass through to Beam. ``--config FILE.yaml`` supplies defaults
for any flag (keys are flag names without ``--``); flags on the command line
override the file. :func:`build_config` builds every stage's settings once
and rejects contradictions between stages there, not deep inside a worker.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import List, Optional, Sequence

import yaml
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions

from transforms.core import flags
from transforms.core import tasks
from transforms.decode import settings as decode_settings
from transforms.model import settings as model_settings
from transforms.read import settings as read_settings
from transforms.write import columns
from transforms.write import settings as write_settings

ConfigError = flags.ConfigError

DEFAULT_RUNNER = "FnApiRunner"
# Two bundles in flight per process: one decodes while the other is in the
# model (both release the GIL). See benchmarks/README.md.
DEFAULT_LOCAL_WORKERS = 2
DEFAULT_LOCAL_MODE = "multi_threading"


class EmbedOptions(PipelineOptions):
  """Flags of ``python -m pipelines.embed``: every stage's, plus the job's."""

  @classmethod
  def _add_argparse_args(cls, parser):
    parser.add_argument(
        "--config", help="YAML job config; command-line flags override it.")
    model_settings.add_flags(parser)
    read_settings.add_flags(parser)
    decode_settings.add_flags(parser)
    write_settings.add_flags(parser)
    parser.add_argument(
        "--max_failure_rate", type=float, default=None,
        help="Exit non-zero when failures / inputs exceed this fraction.")
    parser.add_argument(
        "--verbose", action="store_true",
        help="Show TensorFlow's and Beam's own logging.")


@dataclasses.dataclass(frozen=True)
class JobConfig:
  """Every stage's settings, validated together; built once by build_config.

  Each stage is handed only its own part.
  """
  read: read_settings.ReadSettings
  decode: decode_settings.DecodeSettings
  model: model_settings.ModelSettings
  write: write_settings.WriteSettings
  max_failure_rate: Optional[float] = None
  verbose: bool = False


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


def build_config(options: PipelineOptions) -> JobConfig:
  """Validates the flags and builds every stage's frozen settings.

  Raises:
    ConfigError: a flag is missing, malformed or contradicts another.
  """
  o = options.view_as(EmbedOptions)
  for flag in ("model", "input", "output"):
    if not getattr(o, flag):
      raise ConfigError(f"--{flag} is required (give it on the command line "
                        "or in --config)")
  model = model_settings.from_flags(o)
  read = read_settings.from_flags(o)
  decode = decode_settings.from_flags(o)
  write = write_settings.from_flags(o)
  if model.task != tasks.TASK_CLASSIFICATION and write.labels:
    raise ConfigError(f"--labels is only used with --task classification "
                      f"(found --task {model.task})")
  clash = sorted(set(model.extra_outputs + read.passthrough_columns) &
                 set(columns.RESERVED_COLUMNS))
  if clash:
    raise ConfigError(f"column name(s) {clash} are reserved for results "
                      f"({', '.join(columns.RESERVED_COLUMNS)})")
  if o.max_failure_rate is not None and not 0 <= o.max_failure_rate <= 1:
    raise ConfigError(f"--max_failure_rate: expected a fraction in [0, 1], "
                      f"found {o.max_failure_rate}")
  return JobConfig(read=read, decode=decode, model=model, write=write,
                   max_failure_rate=o.max_failure_rate, verbose=o.verbose)


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
