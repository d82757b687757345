"""The model stage's part of planning a job: load the model once in the
launcher, check it against the contract, and return what was learned.

:func:`resolve_model` runs the static contract rules and a probe through the
same uint8 entry point the workers call, so a bad model fails in seconds
with a clear message instead of on a worker. What it learned (image size,
output width, entry point, extra output shapes) comes back as
:class:`ModelFacts` for the other stages to take as constructor arguments.
The loaded model is offered to same-process workers (``handoff``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Tuple

from transforms.core import flags
from transforms.core import tasks
from transforms.model import contract
from transforms.model import engine_choice
from transforms.model import handoff
from transforms.model import precision
from transforms.model import process_policy
from transforms.model import settings as model_settings
from transforms.model.description import ImageModelInfo, ModelError
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine
from transforms.model.openvino import launch_facts
from transforms.model.openvino.quantization import calibration


@dataclasses.dataclass(frozen=True)
class ModelFacts:
  """What the model stage learned about the job's model.

  Attributes:
    image_size: (height, width) the workers feed: ``--image_size`` or the
      model's own.
    num_outputs: N of the main output [batch, N].
    extra_shapes: (name, shape without batch) per ``--extra_outputs``.
    info: the model's description (format, entry point, tensors).
    engine: the engine the workers run (``--engine`` resolved), its
      version and the faithfulness numbers.
    content_digest: sha256 of the SavedModel's files (what the results
      were computed with).
  """
  image_size: Tuple[int, int]
  num_outputs: int
  extra_shapes: Tuple[Tuple[str, Tuple[int, ...]], ...]
  info: ImageModelInfo
  engine: engine_choice.EngineChoice
  content_digest: str = ""

  @property
  def entry(self) -> str:
    return self.info.entry


def image_size_for(settings: model_settings.ModelSettings,
                   info: ImageModelInfo) -> Tuple[int, int]:
  """``--image_size``, else the model's fixed input size.

  Raises:
    flags.ConfigError: neither is known.
  """
  size = settings.image_size or info.expected_image_size
  if size is None:
    raise flags.ConfigError(
        f"the model accepts any image size (input {info.input}); "
        "--image_size H,W is required")
  return size


SampleFor = Callable[[Tuple[int, int]], calibration.ImageSample]


def resolve_model(settings: model_settings.ModelSettings,
                  workers_here: bool = True,
                  sample_for: Optional[SampleFor] = None) -> ModelFacts:
  """Loads, checks and probes the model; see the module docstring.

  Args:
    settings: the model stage's settings.
    workers_here: the workers run in this process or on this machine (the
      local runners). When they do not (Dataflow), the launcher's own copy
      of the model, which only answers the contract checks and the engine
      choice, runs in float32: the workers' CPUs, not this one, must
      support ``--precision``.
    sample_for: image size -> the job's own images, decoded at that size
      (``--precision int8`` / ``auto`` calibrate and gate on them).

  Raises:
    ModelError: the model breaks the contract.
    flags.ConfigError: a flag does not fit the model or (workers here) this
      CPU.
  """
  cached = launch_facts.key_for(settings)
  if cached is not None:
    facts = _from_launch_facts(settings, workers_here, sample_for, *cached)
    if facts is not None:
      return facts
  # The first load learns the size; a model with a fixed size (or a given
  # --image_size) is traced for it at once, so no second load is needed.
  model = process_policy.load_tensorflow(
      settings, settings.image_size,
      engine_choice.tensorflow_precision(settings, workers_here))
  info = model.info
  bad = contract.failed(contract.static_rules(info))
  if bad:
    raise ModelError(
        f"model {settings.handle!r} ({info.format}, {info.entry}) does "
        "not follow the TF Hub image contract: " + "; ".join(
            f"expected {r.rule}, {r.detail}" for r in bad))
  image_size = image_size_for(settings, info)
  outputs = _probed(settings, model, image_size)
  sample = _job_sample(settings, sample_for, image_size)
  runner, engine = engine_choice.choose(settings, model, image_size,
                                        workers_here, sample)
  if workers_here:
    # Traced (and converted) for the input shape the workers use, so a
    # worker in this process takes it instead of loading it again.
    handoff.offer(settings, image_size, engine.engine, runner)
  facts = ModelFacts(
      image_size=image_size,
      num_outputs=int(outputs[tasks.DEFAULT_OUTPUT].shape[1]),
      extra_shapes=tuple((k, tuple(int(d) for d in outputs[k].shape[1:]))
                         for k in settings.extra_outputs),
      info=info, engine=engine,
      content_digest=model.content_digest())
  if cached is not None and engine.engine == ov_engine.ENGINE:
    launch_facts.store(settings, cached[0], launch_facts.LaunchFacts(
        info=info, image_size=image_size, num_outputs=facts.num_outputs,
        extra_shapes=facts.extra_shapes,
        converted_key=ov_cache.cache_key(model), check=engine.check,
        content_digest=facts.content_digest))
  return facts


def _probed(settings: model_settings.ModelSettings, model,
            image_size: Tuple[int, int]):
  """The probe batch's outputs through the workers' uint8 entry point.

  Raises:
    ModelError: the call failed or its output is not [batch, N] float32.
  """
  probe, outputs = contract.probe_output(model, image_size,
                                         pipeline_entry=True)
  if not probe.passed or outputs is None:
    raise ModelError(
        f"model {settings.handle!r}: expected {probe.rule}; {probe.detail}")
  return outputs


def _job_sample(settings: model_settings.ModelSettings,
                sample_for: Optional[SampleFor],
                image_size: Tuple[int, int]
                ) -> Optional[calibration.ImageSample]:
  """The job's own images, when int8 or auto calibrate and gate on them."""
  if sample_for is None or settings.precision not in precision.OPENVINO_ONLY:
    return None
  return sample_for(image_size)


def _from_launch_facts(settings: model_settings.ModelSettings,
                       workers_here: bool, sample_for: Optional[SampleFor],
                       key: str, digest: str) -> Optional[ModelFacts]:
  """The model stage's facts from an earlier job's TensorFlow load
  (``launch_facts``) and the converted model in the IR cache, without
  TensorFlow; None when either is missing (then TensorFlow loads it).

  The probe still runs, through OpenVINO's entry point the workers call,
  and int8 / auto still calibrate or load, and gate on this job's images.
  """
  known = launch_facts.read(settings, key, digest)
  if known is None:
    return None
  converted = ov_cache.read_cached(settings.openvino_cache or "",
                                   known.converted_key)
  if converted is None:
    return None
  reference = ov_engine.compile_model(converted, known.info,
                                      precision.FLOAT32)
  _probed(settings, reference, known.image_size)
  sample = _job_sample(settings, sample_for, known.image_size)
  runner, chosen = engine_choice.in_precision(
      settings, converted, known.converted_key, known.info, reference,
      workers_here, sample)
  engine = engine_choice.EngineChoice(
      runner.engine, runner.engine_version, known.check,
      chosen.precision if chosen else settings.precision, chosen)
  if workers_here:
    handoff.offer(settings, known.image_size, engine.engine, runner)
  return ModelFacts(image_size=known.image_size,
                    num_outputs=known.num_outputs,
                    extra_shapes=known.extra_shapes, info=known.info,
                    engine=engine, content_digest=known.content_digest)
