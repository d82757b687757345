"""Everything checked and resolved before the pipeline reads any input.

:func:`plan_job` loads the model once in the launching process, checks it
against the contract (static rules plus a probe call), resolves the image
size, reads the labels and checks the inputs and output location, so a bad
flag or model fails in seconds with a clear message instead of on a worker.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms import manifest_source
from transforms import model_contract
from transforms import model_handler
from transforms import model_loading
from transforms import options as options_lib
from transforms import predictions
from transforms import schema as schema_lib

RESULTS_DIR_PREFIX = "results"
FAILURES_DIR = "failures"


@dataclasses.dataclass(frozen=True)
class JobPlan:
  config: options_lib.JobConfig
  model_config: model_handler.ModelConfig
  model_info: model_loading.ImageModelInfo
  image_size: Tuple[int, int]
  num_outputs: int
  extra_shapes: Dict[str, Tuple[int, ...]]
  row_spec: predictions.RowSpec
  results_schema: pa.Schema

  @property
  def results_prefix(self) -> str:
    return FileSystems.join(self.config.output, RESULTS_DIR_PREFIX)

  @property
  def failures_prefix(self) -> str:
    return FileSystems.join(self.config.output, FAILURES_DIR, "failures")


def plan_job(config: options_lib.JobConfig) -> JobPlan:
  """Validates model, flags, inputs and output; see the module docstring.

  Raises:
    model_loading.ModelError: the model breaks the contract.
    options_lib.ConfigError: a flag does not fit the model or the inputs.
  """
  model = model_loading.load_image_model(
      config.model, config.task, signature=config.signature,
      extra_outputs=config.extra_outputs, image_size=config.image_size,
      jit_compile=config.jit_compile)
  info = model.info
  bad = model_contract.failed(model_contract.static_rules(info))
  if bad:
    raise model_loading.ModelError(
        f"model {config.model!r} ({info.format}, {info.entry}) does not "
        "follow the TF Hub image contract: " + "; ".join(
            f"expected {r.rule}, {r.detail}" for r in bad))
  image_size = config.image_size or info.expected_image_size
  if image_size is None:
    raise options_lib.ConfigError(
        f"the model accepts any image size (input {info.input}); "
        "--image_size H,W is required")
  probe, outputs = model_contract.probe_output(model, image_size)
  if not probe.passed or outputs is None:
    raise model_loading.ModelError(
        f"model {config.model!r}: expected {probe.rule}; {probe.detail}")
  num_outputs = int(outputs[model_loading.DEFAULT_OUTPUT].shape[1])
  extra_shapes = {k: tuple(int(d) for d in outputs[k].shape[1:])
                  for k in config.extra_outputs}
  labels = _labels(config, num_outputs)
  if config.task == model_loading.TASK_CLASSIFICATION and (
      config.top_k > num_outputs):
    raise options_lib.ConfigError(
        f"--top_k {config.top_k} is more than the model's {num_outputs} "
        "classes")
  check_inputs(config)
  prepare_output(config)
  row_spec = predictions.RowSpec(
      task=config.task, top_k=config.top_k, score=config.score,
      labels=labels, extra_outputs=tuple(extra_shapes),
      passthrough_columns=config.passthrough_columns)
  metadata = schema_lib.job_metadata(config.model, config.task, image_size,
                                     info.entry, config.score)
  schema = schema_lib.results_schema(row_spec, num_outputs, extra_shapes,
                                     metadata)
  model_config = model_handler.ModelConfig(
      handle=config.model, task=config.task, signature=config.signature,
      extra_outputs=config.extra_outputs, image_size=image_size,
      jit_compile=config.jit_compile)
  # Already traced for the input shape the workers use (image_size is the
  # model's own when not given), so an in-process worker can reuse it.
  model_loading.offer_preloaded(model, **dataclasses.asdict(model_config))
  return JobPlan(config=config, model_config=model_config, model_info=info,
                 image_size=image_size, num_outputs=num_outputs,
                 extra_shapes=extra_shapes, row_spec=row_spec,
                 results_schema=schema)


def _labels(config: options_lib.JobConfig,
            num_outputs: int) -> Optional[Tuple[str, ...]]:
  if not config.labels:
    return None
  try:
    labels = predictions.read_labels(config.labels)
  except (IOError, OSError) as e:
    raise options_lib.ConfigError(
        f"--labels: cannot read {config.labels!r}: {e}") from None
  if len(labels) != num_outputs:
    raise options_lib.ConfigError(
        f"--labels: {config.labels!r} has {len(labels)} lines, but the model "
        f"outputs {num_outputs} classes (expected one label per class)")
  return labels


def check_inputs(config: options_lib.JobConfig) -> None:
  """Each input pattern must match at least one file (listing 1 only); a
  manifest's first file must have the named columns."""
  results = FileSystems.match(list(config.input_patterns),
                              limits=[1] * len(config.input_patterns))
  for pattern, result in zip(config.input_patterns, results):
    if not result.metadata_list:
      raise options_lib.ConfigError(
          f"--input: expected files, but {pattern!r} matches nothing")
    if config.input_format == "manifest":
      path = result.metadata_list[0].path
      try:
        table = manifest_source.read_manifest(path)
        manifest_source.check_columns(
            table.column_names, config.uri_column, config.key_column,
            config.passthrough_columns, path)
      except ValueError as e:
        raise options_lib.ConfigError(f"--input: {e}") from None


def prepare_output(config: options_lib.JobConfig) -> None:
  """Refuses to mix a new run's shards with an old run's, unless told to."""
  patterns = [
      FileSystems.join(config.output, RESULTS_DIR_PREFIX + "-*"),
      FileSystems.join(config.output, FAILURES_DIR, "failures-*"),
  ]
  existing = [m.path for result in FileSystems.match(patterns)
              for m in result.metadata_list]
  if not existing:
    return
  if not config.overwrite:
    raise options_lib.ConfigError(
        f"--output {config.output!r} already holds {len(existing)} result or "
        f"failure files (e.g. {existing[0]}); expected an empty location. "
        "Pass --overwrite to replace them.")
  FileSystems.delete(existing)

