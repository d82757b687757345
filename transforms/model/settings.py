"""The model stage's settings and flags: what to load, how to call it, and
how to batch for it."""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from transforms.core import flags
from transforms.core import tasks
from transforms.model import precision as precision_lib

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
      help=f"{precision_lib.FLOAT32} (default) or {precision_lib.BFLOAT16}: "
      "convolutions and matrix products in bfloat16 through oneDNN, for "
      "CPUs with avx512_bf16 or amx_bf16 (refused elsewhere).")
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


def from_flags(o) -> ModelSettings:
  """Raises flags.ConfigError for a bad value."""
  min_batch, max_batch = _batch_sizes(o)
  if o.model_copies < 0:
    raise flags.ConfigError(f"--model_copies: expected 0 (one per process) "
                            f"or a positive count, found {o.model_copies}")
  if o.gpu_memory_limit_mb is not None:
    flags.positive("gpu_memory_limit_mb", o.gpu_memory_limit_mb)
  return ModelSettings(
      handle=o.model, task=flags.choice("task", o.task, tasks.TASKS),
      signature=o.signature or None,
      extra_outputs=flags.csv_values(o.extra_outputs),
      image_size=flags.parse_image_size(o.image_size),
      jit_compile=o.jit_compile,
      precision=flags.choice("precision", o.precision,
                             precision_lib.PRECISIONS),
      min_batch_size=min_batch,
      max_batch_size=max_batch, model_copies=o.model_copies,
      gpu_memory_limit_mb=o.gpu_memory_limit_mb,
      engine=flags.choice("engine", o.engine, ENGINES),
      openvino_cache=_openvino_cache(o.openvino_cache))


def _openvino_cache(value: Optional[str]) -> Optional[str]:
  if value is None:
    from transforms.model import ov_cache  # pylint: disable=g-import-not-at-top
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
