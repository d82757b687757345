"""Which engine runs the job: ``--engine`` resolved against the model.

``tensorflow`` runs TensorFlow. ``openvino`` and ``auto`` convert the model
(``ov_engine``, through the IR cache), run the same probe batch through both
engines and use OpenVINO only if every row agrees (``faithfulness``). When
it does not (a conversion error, an unsupported op, a disagreement),
``auto`` falls back to TensorFlow naming the reason, and ``openvino``
refuses to run with the same reason.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Optional, Tuple

from transforms.core import flags
from transforms.model import contract
from transforms.model import description
from transforms.model import faithfulness
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine
from transforms.model import precision
from transforms.model import precision_choice
from transforms.model import settings as model_settings
from transforms.model.tensorflow import engine as tf_engine
from transforms.model.openvino.quantization import calibration

_LOGGER = logging.getLogger("hub_image_beam")

PROBE_IMAGES = 8
PROBE_SEED = 7
# Ops with which a model refuses inputs at run time. OpenVINO's converter
# drops them, so an image the model would refuse would get a result: a
# difference no probe of ordinary images can see.
RUNTIME_CHECKS = frozenset({"Assert", "CheckNumerics", "CheckNumericsV2"})


@dataclasses.dataclass(frozen=True)
class EngineChoice:
  """Attributes:
    engine: tensorflow or openvino: what the workers run.
    version: that engine's version.
    check: the faithfulness numbers, or why OpenVINO was not used ('' for
      ``--engine tensorflow``).
    precision: what the workers compute in (``--precision`` resolved:
      never auto).
    reduced: for ``--precision int8`` / ``auto``: the gate's figures, the
      calibration digest and the int8 model's cache key.
  """
  engine: str
  version: str
  check: str
  precision: str = precision.FLOAT32
  reduced: Optional[precision_choice.PrecisionChoice] = None

  @property
  def quantized_key(self) -> Optional[str]:
    return self.reduced.quantized_key if self.reduced else None


def tensorflow_precision(settings: model_settings.ModelSettings,
                         workers_here: bool) -> str:
  """TensorFlow's precision in the launcher: the job's when TensorFlow is
  the engine and runs here; float32 when it is only the reference (another
  engine may run) or the workers run elsewhere."""
  if settings.engine == model_settings.ENGINE_TENSORFLOW and workers_here:
    return settings.precision
  return precision.FLOAT32


def choose(settings: model_settings.ModelSettings,
           tf_model: tf_engine.ImageModel, image_size: Tuple[int, int],
           workers_here: bool,
           sample: Optional[calibration.ImageSample] = None
           ) -> Tuple[description.ImageRunner, EngineChoice]:
  """Resolves ``--engine`` (and ``--precision int8`` / ``auto``); returns
  the model to hand to local workers and the choice.

  Args:
    sample: the job's own images, for int8's calibration and the gate.

  Raises:
    flags.ConfigError: ``--engine openvino`` (or int8 / auto) and OpenVINO
      cannot be used (the message says why), int8 failed its gate, or
      ``auto`` fell back to TensorFlow for a bfloat16 job whose launcher
      process already runs TensorFlow in float32.
  """
  if settings.engine == model_settings.ENGINE_TENSORFLOW:
    return tf_model, EngineChoice(tf_model.engine, tf_model.engine_version,
                                  "", settings.precision)
  reduced_job = settings.precision in precision.OPENVINO_ONLY
  refuse_auto_remote(settings, workers_here)
  runner, reason, check, chosen = _try_openvino(
      settings, tf_model, image_size, workers_here, sample)
  if runner is not None:
    _LOGGER.info("engine: openvino %s (agrees with TensorFlow: %s)",
                 runner.engine_version, check)
    return runner, EngineChoice(
        runner.engine, runner.engine_version, check,
        chosen.precision if chosen else settings.precision, chosen)
  if reduced_job:
    raise flags.ConfigError(
        f"--precision {settings.precision} needs the OpenVINO engine, which "
        f"cannot run this model: {reason}")
  if settings.engine == model_settings.ENGINE_OPENVINO:
    raise flags.ConfigError(f"--engine openvino: {reason}; expected a model "
                            "OpenVINO converts and runs faithfully (use "
                            "--engine tensorflow or auto)")
  if workers_here and settings.precision != precision.FLOAT32:
    raise flags.ConfigError(
        f"--engine auto fell back to tensorflow ({reason}), and --precision "
        f"{settings.precision} needs TensorFlow's own precision set before "
        "any model loads: run with --engine tensorflow")
  _LOGGER.warning("engine: tensorflow (--engine auto did not use OpenVINO: "
                  "%s)", reason)
  return tf_model, EngineChoice(tf_model.engine, tf_model.engine_version,
                                f"OpenVINO not used: {reason}",
                                settings.precision)


_Tried = Tuple[Optional[ov_engine.OpenVinoModel], str, str,
               Optional[precision_choice.PrecisionChoice]]


def _try_openvino(settings, tf_model, image_size, workers_here, sample
                  ) -> _Tried:
  """(model, '', numbers, int8/auto's choice or None) when OpenVINO is
  faithful; else (None, reason, numbers or '', None)."""
  checks = sorted(tf_model.op_types() & RUNTIME_CHECKS)
  if checks:
    return None, (f"the model checks its inputs at run time ({', '.join(checks)}"
                  " ops), which OpenVINO's converter drops: an input the "
                  "model refuses would get a result"), "", None
  try:
    converted = ov_cache.load_or_convert(tf_model, settings.openvino_cache)
    reference_engine = ov_engine.compile_model(converted, tf_model.info,
                                               precision.FLOAT32)
  except Exception as e:  # pylint: disable=broad-except
    return None, f"conversion failed: {_first_line(e)}", "", None
  probe = contract.probe_images(image_size, PROBE_IMAGES, PROBE_SEED,
                                "uint8")
  try:
    candidate = reference_engine.run_uint8(probe)
  except Exception as e:  # pylint: disable=broad-except
    return (None, f"the converted model failed to run: {_first_line(e)}", "",
            None)
  agreement = faithfulness.compare(tf_model.run_uint8(probe), candidate,
                                   settings.task)
  if not agreement.passed:
    return (None, f"disagrees with TensorFlow: {agreement}", str(agreement),
            None)
  runner, chosen = in_precision(settings, converted,
                                 ov_cache.cache_key(tf_model), tf_model.info,
                                 reference_engine, workers_here, sample)
  return runner, "", str(agreement), chosen


def refuse_auto_remote(settings: model_settings.ModelSettings,
                       workers_here: bool) -> None:
  """``auto`` times the candidates on this machine: refused when the
  workers run elsewhere, on every path (a fresh load, or the cached launch
  facts).

  Raises:
    flags.ConfigError: ``--precision auto`` with a remote runner.
  """
  if settings.precision == precision.AUTO and not workers_here:
    raise flags.ConfigError(
        "--precision auto times the candidates on this machine's CPU, not "
        "the workers'; with a remote runner give --precision float32, "
        "bfloat16 or int8")


def in_precision(settings: model_settings.ModelSettings, converted,
                 converted_key: str, info: description.ImageModelInfo,
                 reference_engine: ov_engine.OpenVinoModel,
                 workers_here: bool,
                 sample: Optional[calibration.ImageSample]
                 ) -> Tuple[ov_engine.OpenVinoModel,
                            Optional[precision_choice.PrecisionChoice]]:
  """The faithful float32 OpenVINO model in the job's ``--precision``:
  itself, bfloat16 (checked against this CPU), or int8 / auto's choice
  (calibrated, gated), with that choice.

  Raises:
    flags.ConfigError: as :func:`refuse_auto_remote`.
  """
  refuse_auto_remote(settings, workers_here)
  if settings.precision in precision.OPENVINO_ONLY:
    runner, chosen = precision_choice.choose(
        settings, converted, converted_key, info, reference_engine, sample)
    _LOGGER.info("precision: %s", chosen.reason)
    return runner, chosen
  if settings.precision == precision.FLOAT32 or not workers_here:
    return reference_engine, None
  precision.check_supported(settings.precision, precision.read_cpuinfo())
  return ov_engine.compile_model(converted, info, settings.precision), None


def _first_line(e: Exception) -> str:
  """The telling part of an error: OpenVINO's own summary lines ("-- No
  conversion rule found for operations: ...") when it has them, else the
  first line that is not an assertion's location."""
  lines = [line.strip() for line in str(e).splitlines() if line.strip()]
  summary = [line.lstrip("- ").strip() for line in lines
             if line.startswith("--")]
  if summary:
    text = "; ".join(summary)
  else:
    text = next((line for line in lines if not line.startswith("Check '")),
                lines[0] if lines else "")
  return f"{type(e).__name__}: {text[:300]}"
