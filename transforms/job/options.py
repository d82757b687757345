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

import dataclasses
import os
from typing import List, Optional, Sequence

from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import SetupOptions
from apache_beam.options.pipeline_options import StandardOptions

from transforms.core import flags
from transforms.core import storage_emulator
from transforms.core import tasks
from transforms.decode import settings as decode_settings
from transforms.job import dataflow
from transforms.job import local_runner
from transforms.fetch import settings as fetch_settings
from transforms.job import placement as placement_lib
from transforms.model import settings as model_settings
from transforms.read import settings as read_settings
from transforms.write import columns
from transforms.write import settings as write_settings

ConfigError = flags.ConfigError

DEFAULT_RUNNER = "FnApiRunner"
# Two bundles in flight per process: one decodes while the other is in the
# model (both release the GIL). See benchmarks/README.md, "Throughput".
DEFAULT_LOCAL_WORKERS = 2
DEFAULT_LOCAL_MODE = "multi_threading"


class EmbedOptions(PipelineOptions):
  """Flags of ``python -m pipelines.embed``: every stage's, plus the job's."""

  @classmethod
  def _add_argparse_args(cls, parser):
    parser.add_argument(
        "--config", help="YAML job config; command-line flags override it.")
    # One group per stage, as --help shows them (the library's
    # transforms take the same flags as keywords, transforms.api).
    model_settings.add_flags(parser.add_argument_group(
        "model", "The TF Hub model, its engine and precision "
        "(InferImages)."))
    read_settings.add_flags(parser.add_argument_group(
        "read", "Which inputs, and how they are keyed (ReadImages)."))
    decode_settings.add_flags(parser.add_argument_group(
        "decode", "Bytes to the model's pixels (InferImages)."))
    fetch_settings.add_flags(parser.add_argument_group(
        "fetch", "http(s) inputs (InferImages)."))
    write_settings.add_flags(parser.add_argument_group(
        "write", "Result rows and files (WriteResults; labels_file, top_k "
        "and score: InferImages)."))
    parser = parser.add_argument_group("job", "The whole run.")
    parser.add_argument(
        "--max_failure_rate", type=float, default=None,
        help="Exit non-zero when failures / inputs exceed this fraction.")
    parser.add_argument(
        "--no_wait", nargs="?", const=True, type=flags.parse_bool,
        # A Flex Template launcher image sets HUB_IMAGE_BEAM_NO_WAIT=1.
        default=flags.parse_bool(os.environ.get("HUB_IMAGE_BEAM_NO_WAIT",
                                                "false")),
        help="DataflowRunner: print the job id once it is submitted and "
        "exit 0 without waiting (for Flex Template launchers and "
        "schedulers).")
    parser.add_argument(
        "--inference_accelerator", default=None,
        help="Dataflow right fitting: run the inference step on workers "
        "with this accelerator, e.g. 'type:nvidia-l4;count:1;"
        "install-nvidia-driver'; decode stays on CPU workers (see README, "
        "'GPU jobs').")
    parser.add_argument(
        "--inference_min_ram_gb", type=int, default=None,
        help="With --inference_accelerator: the inference workers' minimum "
        "memory in GB.")
    # Read by the command line before anything else (pipelines.cli.quiet),
    # from the flags and the --config file alike; declared here so that
    # Beam and the argv check know it.
    parser.add_argument(
        "--verbose", nargs="?", const=True, default=False,
        type=flags.parse_bool,
        help="Show TensorFlow's and Beam's own logging (also "
        "--verbose=true|false, or verbose: true in --config).")


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
  no_wait: bool = False
  placement: placement_lib.Placement = placement_lib.Placement()
  fetch: fetch_settings.FetchSettings = fetch_settings.FetchSettings()


def expand_config_file(argv: Sequence[str]) -> List[str]:
  """The checked command line with the YAML file's flags (see ``argv``).

  Raises:
    ConfigError: an unknown or repeated flag.
  """
  from transforms.job import argv as argv_lib  # pylint: disable=g-import-not-at-top
  return argv_lib.expand_config_file(argv)


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
  model = model_settings.from_flags(o, dataflow.is_dataflow(options))
  read = read_settings.from_flags(o)
  decode = decode_settings.from_flags(o)
  fetch = fetch_settings.from_flags(
      o, options.view_as(SetupOptions).user_agent or "")
  write = write_settings.from_flags(o)
  check_across_stages(model, write, read.passthrough_columns)
  if o.max_failure_rate is not None and not 0 <= o.max_failure_rate <= 1:
    raise ConfigError(f"--max_failure_rate: expected a fraction in [0, 1], "
                      f"found {o.max_failure_rate}")
  placement = placement_lib.from_flags(
      o.inference_accelerator, o.inference_min_ram_gb,
      options.view_as(GoogleCloudOptions).dataflow_service_options or ())
  dataflow.check_options(options, o.no_wait)
  if read.watch is not None:
    _check_watch(options, write)
  return JobConfig(read=read, decode=decode, model=model, write=write,
                   max_failure_rate=o.max_failure_rate, no_wait=o.no_wait,
                   placement=placement, fetch=fetch)


def check_across_stages(model: model_settings.ModelSettings,
                        write: write_settings.WriteSettings,
                        passthrough: Sequence[str] = ()) -> None:
  """What one stage's settings cannot check alone.

  Raises:
    ConfigError: labels without classification; a model output or a
      pass-through column named as a result column.
  """
  if model.task != tasks.TASK_CLASSIFICATION and write.labels_file:
    raise ConfigError(f"--labels_file is only used with --task classification "
                      f"(found --task {model.task})")
  clash = sorted(set(model.extra_outputs + tuple(passthrough)) &
                 set(columns.RESERVED_COLUMNS))
  if clash:
    raise ConfigError(f"column name(s) {clash} are reserved for results "
                      f"({', '.join(columns.RESERVED_COLUMNS)})")


# Runners that run Beam's MatchContinuously (--watch): Dataflow's, and
# Prism (which fetches its own binary, so not offline).
STREAMING_RUNNERS = ("DataflowRunner", "TestDataflowRunner", "PrismRunner")


def _check_watch(options: PipelineOptions,
                 write: write_settings.WriteSettings) -> None:
  """Raises ConfigError for a ``--watch`` job that cannot run."""
  runner = (options.view_as(StandardOptions).runner or "").split(".")[-1]
  if runner not in STREAMING_RUNNERS:
    raise ConfigError(
        f"--watch: expected a streaming runner ({', '.join(STREAMING_RUNNERS)}"
        f"), found {runner or 'the local runner'}: Beam's in-process "
        "runners cannot run MatchContinuously")
  if write.resume:
    raise ConfigError("--watch with --resume: expected one of them (a "
                      "watching job writes each window once; it has no "
                      "parts to resume)")


def streaming(options: PipelineOptions, config: JobConfig) -> None:
  """A watching job is a streaming one."""
  if config.read.watch is not None:
    options.view_as(StandardOptions).streaming = True


def apply_local_runner_defaults(options: PipelineOptions) -> None:
  """No --runner: the in-process FnApiRunner with two bundles in flight.

  Beam 2.77's DirectRunner would first try Prism, which downloads a binary;
  offline that fails and falls back after a delay. Flags the user gave win.
  In-process workers flush whole elements only, whatever the runner flags
  (``local_runner``).
  """
  local_runner.flush_whole_elements_only()
  standard = options.view_as(StandardOptions)
  if standard.runner is not None:
    return
  standard.runner = DEFAULT_RUNNER
  direct = options.view_as(DirectOptions)
  if not _given(options, "direct_num_workers"):
    direct.direct_num_workers = DEFAULT_LOCAL_WORKERS
  if not _given(options, "direct_running_mode"):
    direct.direct_running_mode = DEFAULT_LOCAL_MODE


def runner_options(argv: Sequence[str]) -> PipelineOptions:
  """Beam's flags for a job besides embed (``pipelines.index --parallel``,
  ``pipelines.search --queries``), taken as embed takes them: Dataflow's
  checked before anything is staged (``dataflow.check_options``), else the
  local runner's defaults.

  Raises:
    flags.ConfigError: a Dataflow flag is missing or wrong.
  """
  storage_emulator.skip_credential_search()
  options = PipelineOptions(list(argv))
  dataflow.check_options(options, no_wait=False)
  apply_local_runner_defaults(options)
  return options


def _given(options: PipelineOptions, name: str) -> bool:
  return any(arg == f"--{name}" or arg.startswith(f"--{name}=")
             for arg in options._flags or ())  # pylint: disable=protected-access
