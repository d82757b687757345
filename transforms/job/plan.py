"""Everything checked and resolved before the pipeline reads any input.

:func:`plan_job` loads the model once in the launching process, checks it
against the contract (static rules plus a probe through the same uint8 entry
point the workers call), resolves the image size, reads the labels, lays out
the result row and checks the inputs and output location, so a bad flag or
model fails in seconds with a clear message instead of on a worker. The
loaded model is offered to same-process workers (``model.handoff``).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional, Sequence, Tuple

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.core import flags
from transforms.core import tasks
from transforms.decode import settings as decode_settings
from transforms.model import contract
from transforms.model import handoff
from transforms.model import loading
from transforms.model import precision
from transforms.model import settings as model_settings
from transforms.read import incremental
from transforms.read import manifest
from transforms.read import settings as read_settings
from transforms.write import columns
from transforms.write import output_files
from transforms.write import rows
from transforms.write import settings as write_settings
from transforms.job import options as options_lib


@dataclasses.dataclass(frozen=True)
class JobPlan:
  """The resolved job: each stage's settings, ready to hand out.

  ``decode.size`` and ``model.image_size`` are resolved here.
  """
  read: read_settings.ReadSettings
  decode: decode_settings.DecodeSettings
  model: model_settings.ModelSettings
  write: write_settings.WriteSettings
  model_info: loading.ImageModelInfo
  layout: columns.RowLayout
  results_schema: pa.Schema
  metadata: Dict[str, str]
  max_failure_rate: Optional[float]
  no_wait: bool = False

  @property
  def image_size(self) -> Tuple[int, int]:
    assert self.decode.size is not None
    return self.decode.size

  @property
  def results_prefix(self) -> str:
    return output_files.results_prefix(self.write.output)

  @property
  def failures_prefix(self) -> str:
    return output_files.failures_prefix(self.write.output)


def plan_job(config: options_lib.JobConfig,
             workers_here: bool = True) -> JobPlan:
  """Validates model, flags, inputs and output; see the module docstring.

  Args:
    config: the job's settings.
    workers_here: the workers run in this process or on this machine (the
      local runners). When they do not (Dataflow), the launcher's own copy
      of the model, which only answers the contract checks, runs in float32:
      the workers' CPUs, not this one, must support ``--precision``.

  Raises:
    loading.ModelError: the model breaks the contract.
    flags.ConfigError: a flag does not fit the model, the inputs or (workers
      here) this CPU.
  """
  model = loading.load_for(config.model if workers_here else
                           dataclasses.replace(config.model,
                                               precision=precision.FLOAT32))
  info = model.info
  bad = contract.failed(contract.static_rules(info))
  if bad:
    raise loading.ModelError(
        f"model {config.model.handle!r} ({info.format}, {info.entry}) does "
        "not follow the TF Hub image contract: " + "; ".join(
            f"expected {r.rule}, {r.detail}" for r in bad))
  image_size = config.model.image_size or info.expected_image_size
  if image_size is None:
    raise flags.ConfigError(
        f"the model accepts any image size (input {info.input}); "
        "--image_size H,W is required")
  probe, outputs = contract.probe_output(model, image_size,
                                         pipeline_entry=True)
  if not probe.passed or outputs is None:
    raise loading.ModelError(
        f"model {config.model.handle!r}: expected {probe.rule}; "
        f"{probe.detail}")
  num_outputs = int(outputs[tasks.DEFAULT_OUTPUT].shape[1])
  extra_shapes = tuple((k, tuple(int(d) for d in outputs[k].shape[1:]))
                       for k in config.model.extra_outputs)
  labels = _labels(config.write, num_outputs)
  if config.model.task == tasks.TASK_CLASSIFICATION and (
      config.write.top_k > num_outputs):
    raise flags.ConfigError(
        f"--top_k {config.write.top_k} is more than the model's "
        f"{num_outputs} classes")
  check_inputs(config.read)
  done_files = incremental.result_files(config.read.skip_existing,
                                        config.model.task) if (
                                            config.read.skip_existing) else ()
  prepare_output(config.write, done_files)
  layout = columns.RowLayout(
      task=config.model.task, num_outputs=num_outputs,
      top_k=config.write.top_k, score=config.write.score, labels=labels,
      extra_shapes=extra_shapes,
      passthrough_columns=config.read.passthrough_columns)
  metadata = columns.job_metadata(config.model.handle, config.model.task,
                                  image_size, info.entry, config.write.score,
                                  config.model.precision)
  model_for_workers = dataclasses.replace(config.model, image_size=image_size)
  if workers_here:
    # Traced and probed for the input shape the workers use, so a worker in
    # this process takes it instead of loading it again.
    handoff.offer(model_for_workers, model)
  return JobPlan(
      read=dataclasses.replace(config.read, done_files=done_files),
      decode=dataclasses.replace(config.decode, size=image_size),
      model=model_for_workers, write=config.write, model_info=info,
      layout=layout, results_schema=columns.results_schema(layout, metadata),
      metadata=metadata, max_failure_rate=config.max_failure_rate, no_wait=config.no_wait)


def _labels(settings: write_settings.WriteSettings,
            num_outputs: int) -> Optional[Tuple[str, ...]]:
  if not settings.labels_file:
    return None
  try:
    labels = rows.read_labels(settings.labels_file)
  except (IOError, OSError) as e:
    raise flags.ConfigError(
        f"--labels_file: cannot read {settings.labels_file!r}: {e}") from None
  if len(labels) != num_outputs:
    raise flags.ConfigError(
        f"--labels_file: {settings.labels_file!r} has {len(labels)} lines, "
        f"but the "
        f"model outputs {num_outputs} classes (expected one label per class)")
  return labels


def check_inputs(settings: read_settings.ReadSettings) -> None:
  """Each input pattern must match at least one file (listing 1 only); a
  manifest's first file must have the named columns."""
  results = FileSystems.match(list(settings.patterns),
                              limits=[1] * len(settings.patterns))
  for pattern, result in zip(settings.patterns, results):
    if not result.metadata_list:
      raise flags.ConfigError(
          f"--input: expected files, but {pattern!r} matches nothing")
    if settings.input_format == read_settings.FORMAT_MANIFEST:
      path = result.metadata_list[0].path
      try:
        table = manifest.read_manifest(path)
        manifest.check_columns(
            table.column_names, settings.uri_column, settings.key_column,
            settings.passthrough_columns, path)
      except ValueError as e:
        raise flags.ConfigError(f"--input: {e}") from None


def prepare_output(settings: write_settings.WriteSettings,
                   done_files: Sequence[str] = ()) -> None:
  """Refuses to mix a new run's shards with an old run's, unless told to.

  With ``--overwrite`` or ``--skip_existing``, a killed run's ``beam-temp-*``
  folders are removed (they are never results).
  """
  patterns = [output_files.results_glob(settings.output),
              output_files.failures_glob(settings.output)]
  existing = [m.path for result in FileSystems.match(patterns)
              for m in result.metadata_list]
  if settings.overwrite or done_files:
    _remove_temporary(settings.output)
  if not existing:
    return
  reused = sorted(set(existing) & set(done_files))
  if reused and settings.overwrite:
    raise flags.ConfigError(
        f"--skip_existing reads {reused[0]}, which --overwrite would delete; "
        "expected the earlier results outside --output (write this run to a "
        "new --output)")
  if not settings.overwrite:
    raise flags.ConfigError(
        f"--output {settings.output!r} already holds {len(existing)} result "
        f"or failure files (e.g. {existing[0]}); expected an empty location. "
        "Pass --overwrite to replace them.")
  FileSystems.delete(existing)


def _remove_temporary(output: str) -> None:
  temp = output_files.TEMP_PREFIX + "*"
  folders = [output, FileSystems.join(output, output_files.FAILURES_DIR)]
  temporary = [m.path for result in FileSystems.match(
      [FileSystems.join(f, temp) for f in folders] +
      [FileSystems.join(f, temp, "*") for f in folders])
               for m in result.metadata_list]
  if temporary:
    FileSystems.delete(temporary)
  if "://" not in output:  # object stores have no folders left to remove
    import glob as glob_lib  # pylint: disable=g-import-not-at-top
    for folder in folders:
      for path in glob_lib.glob(os.path.join(folder, temp)):
        FileSystems.delete([path])
