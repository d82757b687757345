"""Everything checked and resolved before the pipeline reads any input.

:func:`plan_job` asks each stage to resolve its own facts, in the data's
order of dependence, so a bad flag or model fails in seconds with a clear
message instead of on a worker:

1. the model stage loads, checks and probes the model (``model.resolve``);
2. the write stage lays out the result rows from what the model stage
   learned (``write.layout``);
3. the read stage checks the inputs exist (``read.inputs_check``);
4. the write stage checks earlier results for ``--skip_existing``
   (``write.earlier_results``) and clears the output (``write.output_dir``).

The plan holds the job's settings as built once (``config``) and the facts
the stages resolved; it repeats neither.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import pyarrow as pa

from transforms.core import flags
from transforms.job import image_sample
from transforms.job import options as options_lib
from transforms.job import provenance
from transforms.model import precision
from transforms.model import resolve
from transforms.read import inputs_check
from transforms.read import settings as read_settings
from transforms.write import columns
from transforms.write import earlier_results
from transforms.write import layout as layout_lib
from transforms.write import output_dir
from transforms.write import output_files
from transforms.write import parts


@dataclasses.dataclass(frozen=True)
class JobPlan:
  """The job's settings and what the stages resolved from them.

  Attributes:
    config: every stage's settings, as built from the flags.
    model: what the model stage learned (image size, output width, entry).
    earlier_results: result files of earlier runs whose keys are skipped.
    earlier_failures: failures files of earlier runs (URL inputs) whose
      hopeless failures are skipped.
    layout: what each result row holds.
    metadata: the run's facts written beside the results.
    resumed_parts: a killed run's committed parts this run finishes
      (``--resume``); their keys are skipped.
    identity: what identifies the job for ``--resume`` (recorded beside
      the parts by the first commit).
    workers_here: the job runs on the local runner, in this process or on
      this machine.
    resumed_counts: what the resumed parts hold (``write.parts.
      committed_counts``), for the run record.
  """
  config: options_lib.JobConfig
  model: resolve.ModelFacts
  earlier_results: Tuple[str, ...]
  layout: columns.RowLayout
  metadata: Dict[str, str]
  earlier_failures: Tuple[str, ...] = ()
  resumed_parts: Tuple[str, ...] = ()
  identity: Dict[str, object] = dataclasses.field(default_factory=dict)
  workers_here: bool = True
  resumed_counts: Dict[str, int] = dataclasses.field(default_factory=dict)

  @property
  def results_schema(self) -> pa.Schema:
    return columns.results_schema(self.layout, self.metadata)

  @property
  def output(self) -> str:
    return self.config.write.output

  @property
  def results_prefix(self) -> str:
    return output_files.results_prefix(self.output)

  @property
  def failures_prefix(self) -> str:
    return output_files.failures_prefix(self.output)


def plan_job(config: options_lib.JobConfig,
             workers_here: bool = True) -> JobPlan:
  """Validates model, flags, inputs and output; see the module docstring.

  Args:
    config: the job's settings.
    workers_here: the workers run in this process or on this machine (the
      local runners); see ``resolve.resolve_model``.

  Raises:
    description.ModelError: the model breaks the contract.
    flags.ConfigError: a flag does not fit the model, the inputs or (workers
      here) this CPU.
  """
  _check_int8_cache(config, workers_here)

  def sample_for(image_size):
    return image_sample.JobImageSample(config.read, config.decode, image_size,
                                       config.model.quantization, config.fetch)

  model = resolve.resolve_model(config.model, workers_here, sample_for)
  # A watching job may start before its first file lands.
  passthrough = (inputs_check.check_inputs(config.read)
                 if config.read.watch is None else ())
  layout = layout_lib.row_layout(
      config.write, config.model.task, model.num_outputs, model.extra_shapes,
      [name for name, _ in passthrough], [kind for _, kind in passthrough])
  earlier, earlier_failures = (earlier_results.earlier_files(
      config.read.skip_existing, config.model.task,
      config.read.input_format in read_settings.URL_FORMATS)
                               if config.read.skip_existing else ((), ()))
  mixed = provenance.check_earlier(earlier, config, model) if earlier else {}
  metadata = columns.job_metadata(
      config.model.handle, config.model.task, model.image_size, model.entry,
      config.write.top_k.score, model.engine.precision, model.engine.engine,
      model.engine.version)
  metadata.update(provenance.facts(config.decode, model))
  metadata.update(mixed)
  write = config.write
  identity = parts.identity(job_identity(config, metadata))
  resumed = parts.check_resume(write.output, write.resume, write.overwrite,
                               identity)
  output_dir.clear_output(write, earlier)
  return JobPlan(config=config, model=model, earlier_results=earlier,
                 earlier_failures=earlier_failures,
                 layout=layout, metadata=metadata, resumed_parts=resumed,
                 identity=identity, workers_here=workers_here,
                 resumed_counts=(parts.committed_counts(resumed)
                                 if resumed else {}))


# Metadata that may differ between two runs of the same job: the reason
# text carries images/s measured at launch, and the gate's own record.
_RUN_SPECIFIC = (provenance.PRECISION_REASON, provenance.GATE)
# Settings that say how to run or resume, not what the job is.
_NOT_IDENTITY = ("output", "overwrite", "resume", "part_rows",
                 "list_split_bytes")


def job_identity(config: options_lib.JobConfig,
                 metadata: Dict[str, str]) -> Dict[str, object]:
  """What must be the same for ``--resume`` to finish a killed run: the
  model (its content digest, precision, engine, decode: the results'
  metadata, less what each run measures afresh), the inputs and what a row
  holds."""
  facts: Dict[str, object] = {
      k: v for k, v in metadata.items() if k not in _RUN_SPECIFIC}
  for name, value in dataclasses.asdict(config.read).items():
    if name not in _NOT_IDENTITY:
      facts[f"read.{name}"] = value
  for name, value in dataclasses.asdict(config.write).items():
    if name not in _NOT_IDENTITY:
      facts[f"write.{name}"] = value
  return facts


def _check_int8_cache(config: options_lib.JobConfig,
                      workers_here: bool) -> None:
  """A remote job's int8 model must be where its workers can load it.

  Raises:
    flags.ConfigError: int8 with a remote runner and a local (or no)
      ``--openvino_cache``.
  """
  settings = config.model
  if settings.precision != precision.INT8 or workers_here:
    return
  cache = settings.openvino_cache or ""
  if "://" not in cache:
    raise flags.ConfigError(
        "--precision int8 with a remote runner: expected an --openvino_cache "
        f"the workers can read (gs://...), found {cache or 'none'!r}; the "
        "launcher quantizes and gates, the workers load the model from there")
