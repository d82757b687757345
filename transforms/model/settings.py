"""The model stage's settings and flags: what to load, how to call it, and
how to batch for it."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from transforms.core import flags
from transforms.core import tasks
from transforms.model import gate
from transforms.model import precision as precision_lib
from transforms.model.openvino.quantization import config as quant_config

DEFAULT_BATCH_SIZE = 32

ENGINE_AUTO = "auto"
ENGINE_TENSORFLOW = "tensorflow"
ENGINE_OPENVINO = "openvino"
ENGINES = (ENGINE_AUTO, ENGINE_TENSORFLOW, ENGINE_OPENVINO)


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  """Everything needed to load and call the model on a worker (picklable,
  hashable: the launcher-to-worker hand-off is keyed on it).

  Attributes:
    handle: SavedModel directory (local or gs://) or TF Hub handle.
    task: feature_vector or classification.
    signature: signature to call instead of the task's default entry point.
    extra_outputs: extra signature outputs to return as well.
    image_size: (height, width) fed to the model; None until the plan
      resolves it from the model when ``--image_size`` is not given.
    jit_compile: compile the call with XLA.
    precision: float32, or bfloat16 on CPUs that compute it natively
      (``precision``).
    min_batch_size: smallest batch Beam's BatchElements forms.
    max_batch_size: largest batch.
    model_copies: 0 loads one model per SDK process (Beam's default); N >= 1
      shares N copies among all processes of a machine (Beam's
      ``share_model_across_processes`` / ``model_copies``), for large models.
    gpu_memory_limit_mb: cap each process's GPU memory; None lets it grow.
    engine: auto, tensorflow or openvino (``engine_choice``).
    openvino_cache: folder (local or Beam filesystem) of converted models;
      None converts at every load.
    quantization: int8's calibration, NNCF options and gate
      (``--precision int8`` / ``auto``).
  """
  handle: str
  task: str = tasks.TASK_FEATURE_VECTOR
  signature: Optional[str] = None
  extra_outputs: Tuple[str, ...] = ()
  image_size: Optional[Tuple[int, int]] = None
  jit_compile: bool = False
  precision: str = precision_lib.FLOAT32
  min_batch_size: int = DEFAULT_BATCH_SIZE
  max_batch_size: int = DEFAULT_BATCH_SIZE
  model_copies: int = 0
  gpu_memory_limit_mb: Optional[int] = None
  engine: str = ENGINE_AUTO
  openvino_cache: Optional[str] = None
  quantization: quant_config.QuantizationSettings = (
      quant_config.QuantizationSettings())


def add_flags(parser) -> None:
  add = parser.add_argument
  add("--model", help="SavedModel directory (local or gs://) or TF Hub "
      "handle.")
  add("--task", default=tasks.TASK_FEATURE_VECTOR,
      help=f"One of {', '.join(tasks.TASKS)}.")
  add("--signature", default=None,
      help="Signature to call instead of obj(images) / the task's TF1 "
      "signature.")
  add("--extra_outputs", default="",
      help="Comma-separated extra signature outputs to write as well.")
  add("--image_size", default=None,
      help="H,W (or N for square) to feed the model; required when the "
      "model accepts any size.")
  add("--jit_compile", action="store_true",
      help="Compile the model call with XLA.")
  add("--precision", default=precision_lib.FLOAT32,
      help=f"{precision_lib.FLOAT32} (default), {precision_lib.BFLOAT16} "
      "(convolutions and matrix products in bfloat16, for CPUs with "
      f"avx512_bf16 or amx_bf16), {precision_lib.INT8} (OpenVINO: quantized "
      "with NNCF on the job's first images, gated on the next ones) or "
      f"{precision_lib.AUTO} (OpenVINO: the fastest precision that passes "
      "the gate on this CPU).")
  _add_quantization_flags(parser)
  add("--batch_size", type=int, default=None,
      help=f"Fixed batch size (sets min and max); default "
      f"{DEFAULT_BATCH_SIZE}.")
  add("--min_batch_size", type=int, default=None)
  add("--max_batch_size", type=int, default=None)
  add("--model_copies", type=int, default=0,
      help="0: one model per worker process (default). N >= 1: N copies per "
      "machine, shared by all its worker processes (large models).")
  add("--gpu_memory_limit_mb", type=int, default=None,
      help="Cap each worker process's GPU memory (default: grow as needed, "
      "so several processes share a GPU).")
  add("--engine", default=ENGINE_AUTO,
      help=f"{', '.join(ENGINES)}: {ENGINE_OPENVINO} runs the SavedModel "
      "converted by OpenVINO, used only when it agrees with TensorFlow on a "
      f"probe batch (else {ENGINE_AUTO} falls back to {ENGINE_TENSORFLOW} "
      f"and {ENGINE_OPENVINO} refuses to run). Default {ENGINE_AUTO}.")
  add("--openvino_cache", default=None,
      help="Folder (local or gs://) for converted models, keyed by model "
      "content and OpenVINO version; 'none' converts every time. Default "
      "~/.cache/hub_image_beam/openvino.")


_Q = quant_config.QuantizationSettings()
_T = gate.GateThresholds()


def _add_quantization_flags(parser) -> None:
  add = parser.add_argument
  add("--calibration_images", type=int, default=_Q.calibration_images,
      help="int8: calibrate on N inputs spread over the whole job.")
  add("--int8_check_images", type=int, default=_Q.check_images,
      help="int8/auto: gate on N more inputs of the spread sample.")
  add("--int8_min_top1", type=float, default=_T.min_top1,
      help="Gate (classification): least share with float32's top-1.")
  add("--int8_min_top5", type=float, default=_T.min_top5,
      help="Gate (classification): least share with float32's top-1 in "
      "the top 5.")
  add("--int8_min_mean_cosine", type=float, default=_T.min_mean_cosine,
      help="Gate (feature vectors): least mean cosine to float32.")
  add("--int8_min_p1_cosine", type=float, default=_T.min_p1_cosine,
      help="Gate (feature vectors): least 1st-percentile cosine.")
  add("--int8_preset", default=_Q.preset,
      help=f"NNCF preset: {', '.join(quant_config.PRESETS)}.")
  add("--int8_model_type", default=_Q.model_type,
      help=f"NNCF model type: {', '.join(quant_config.MODEL_TYPES)}.")
  add("--int8_bias_correction", default="auto",
      help="NNCF bias correction: fast, full, or auto (full where the "
      "overflow fix is on every layer: it wins back what 7-bit weights "
      "lose, for ~10 s more of a cold quantization; fast elsewhere).")
  add("--int8_subset_size", type=int, default=None,
      help="Images NNCF's statistics use (default: every calibration "
      "image).")
  add("--int8_overflow_fix", default=quant_config.OVERFLOW_FIX_AUTO,
      help="NNCF's overflow fix (7-bit weights, so u8 x s8 sums cannot "
      f"saturate on CPUs without VNNI): {quant_config.OVERFLOW_FIX_AUTO} "
      "(every layer unless this CPU has VNNI and the job runs here), "
      f"{', '.join(quant_config.OVERFLOW_FIXES)}.")
  add("--requantize", action="store_true",
      help="int8: calibrate afresh on this job's images even when the "
      "OpenVINO cache holds a quantized model.")


def _fraction(name: str, value: float) -> float:
  if not 0 <= value <= 1:
    raise flags.ConfigError(f"--{name}: expected a fraction in [0, 1], "
                            f"found {value}")
  return value


def _quantization(o, remote_workers: bool
                  ) -> quant_config.QuantizationSettings:
  flags.positive("calibration_images", o.calibration_images)
  flags.positive("int8_check_images", o.int8_check_images)
  if o.int8_subset_size is not None:
    flags.positive("int8_subset_size", o.int8_subset_size)
  overflow_fix = quant_config.overflow_fix_for(
      flags.choice("int8_overflow_fix", o.int8_overflow_fix,
                   (quant_config.OVERFLOW_FIX_AUTO,) +
                   quant_config.OVERFLOW_FIXES),
      precision_lib.cpu_flags(precision_lib.read_cpuinfo()), remote_workers)
  bias = flags.choice("int8_bias_correction", o.int8_bias_correction,
                      ("auto", "fast", "full"))
  if bias == "auto":
    bias = "full" if overflow_fix == quant_config.OVERFLOW_FIX_ALL else "fast"
  return quant_config.QuantizationSettings(
      calibration_images=o.calibration_images,
      check_images=o.int8_check_images,
      thresholds=gate.GateThresholds(
          min_top1=_fraction("int8_min_top1", o.int8_min_top1),
          min_top5=_fraction("int8_min_top5", o.int8_min_top5),
          min_mean_cosine=_fraction("int8_min_mean_cosine",
                                    o.int8_min_mean_cosine),
          min_p1_cosine=_fraction("int8_min_p1_cosine",
                                  o.int8_min_p1_cosine)),
      preset=flags.choice("int8_preset", o.int8_preset, quant_config.PRESETS),
      model_type=flags.choice("int8_model_type", o.int8_model_type,
                              quant_config.MODEL_TYPES),
      fast_bias_correction=bias == "fast", subset_size=o.int8_subset_size,
      overflow_fix=overflow_fix,
      requantize=bool(o.requantize))


def from_flags(o, remote_workers: bool = False) -> ModelSettings:
  """Raises flags.ConfigError for a bad value.

  Args:
    o: the parsed flags.
    remote_workers: the job runs on other machines (Dataflow), whose CPUs
      this one cannot see.
  """
  min_batch, max_batch = _batch_sizes(o)
  if o.model_copies < 0:
    raise flags.ConfigError(f"--model_copies: expected 0 (one per process) "
                            f"or a positive count, found {o.model_copies}")
  if o.gpu_memory_limit_mb is not None:
    flags.positive("gpu_memory_limit_mb", o.gpu_memory_limit_mb)
  precision = flags.choice("precision", o.precision,
                           precision_lib.PRECISIONS)
  engine = flags.choice("engine", o.engine, ENGINES)
  if precision in precision_lib.OPENVINO_ONLY and engine == ENGINE_TENSORFLOW:
    raise flags.ConfigError(
        f"--precision {precision} runs on the OpenVINO engine only (NNCF "
        "quantizes OpenVINO's converted model), found --engine tensorflow; "
        "use --engine auto or openvino")
  return ModelSettings(
      handle=o.model, task=flags.choice("task", o.task, tasks.TASKS),
      signature=o.signature or None,
      extra_outputs=flags.csv_values(o.extra_outputs),
      image_size=flags.parse_image_size(o.image_size),
      jit_compile=o.jit_compile,
      precision=precision,
      min_batch_size=min_batch,
      max_batch_size=max_batch, model_copies=o.model_copies,
      gpu_memory_limit_mb=o.gpu_memory_limit_mb,
      engine=engine, openvino_cache=_openvino_cache(o.openvino_cache),
      quantization=_quantization(o, remote_workers))


def _openvino_cache(value: Optional[str]) -> Optional[str]:
  if value is None:
    from transforms.model.openvino import cache as ov_cache  # pylint: disable=g-import-not-at-top
    return ov_cache.default_dir()
  return None if value.strip().lower() in ("", "none") else value


def _batch_sizes(o) -> Tuple[int, int]:
  if o.batch_size is not None:
    flags.positive("batch_size", o.batch_size)
    if o.min_batch_size is not None or o.max_batch_size is not None:
      raise flags.ConfigError(
          "--batch_size sets both bounds; give either it or "
          "--min_batch_size/--max_batch_size, not both")
    return o.batch_size, o.batch_size
  low = (o.min_batch_size if o.min_batch_size is not None
         else DEFAULT_BATCH_SIZE)
  high = (o.max_batch_size if o.max_batch_size is not None
          else max(low, DEFAULT_BATCH_SIZE))
  if low < 1 or high < low:
    raise flags.ConfigError(
        f"batch sizes: expected 1 <= --min_batch_size <= --max_batch_size, "
        f"found {low} and {high}")
  return low, high
