"""Beam ``ModelHandler`` for TF Hub image models.

Elements are ``core.elements.DecodedBatch``: the decode step already
formed the batch (uint8 [n, height, width, 3], resized), so RunInference
hands them over one at a time. The handler gives the pixels to the model's
uint8 entry point, whose traced call converts them to float32 in [0, 1]
(``x / 255``) in-graph, and yields a ``BatchResult`` with, per image, a
dict of numpy rows or a ``core.elements.InferenceFailure``. A batch that
raises is split in halves until the failing image is found, so one bad
image never costs its neighbours; an image whose output is unusable (NaN,
wrong shape: ``outputs``) fails alone.
"""
from __future__ import annotations

from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from transforms.core import elements
from transforms.core import failures
from transforms.core.elements import InferenceFailure
from transforms.model import description
from transforms.model import handoff
from transforms.model import outputs as outputs_lib
from transforms.model import process_policy
from transforms.model import settings as model_settings

METRICS_NAMESPACE = "hub_image_inference"

RowOutputs = Dict[str, np.ndarray]
RowResult = elements.RowResult


def infer_isolating_failures(
    fn: Callable[[np.ndarray], RowOutputs],
    images: np.ndarray) -> List[RowResult]:
  """Runs ``fn`` on a batch; on error, bisects to fail only the bad elements.

  Args:
    fn: maps float32 [batch, ...] to a dict of [batch, ...] arrays.
    images: the batch.

  Returns:
    One entry per image: a dict of that image's output rows, or an
    InferenceFailure with the error.
  """
  try:
    outputs = fn(images)
    rows = _split_rows(outputs, len(images))
  except Exception as e:  # pylint: disable=broad-except
    if len(images) == 1:
      return [InferenceFailure(failures.REASON_INFERENCE_ERROR,
                               describe_error(e))]
    middle = len(images) // 2
    return (infer_isolating_failures(fn, images[:middle]) +
            infer_isolating_failures(fn, images[middle:]))
  return rows


def describe_error(e: Exception, limit: int = 600) -> str:
  """One line: TF's errors put the useful part after a generic first line."""
  text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
  if len(text) > limit:
    text = text[:limit] + "..."
  return f"{type(e).__name__}: {text}"


def _split_rows(outputs: RowOutputs, batch: int) -> List[RowResult]:
  for name, value in outputs.items():
    if value.ndim < 1 or value.shape[0] != batch:
      raise ValueError(f"model output {name!r} has shape {list(value.shape)}; "
                       f"expected leading dimension {batch} (the batch)")
  return [_checked({name: value[i] for name, value in outputs.items()})
          for i in range(batch)]


def _checked(row: RowOutputs) -> RowResult:
  try:
    outputs_lib.check_image_outputs(row)
  except failures.ImageFailure as e:
    return InferenceFailure(e.reason, e.message)
  return row


class HubImageModelHandler(ModelHandler[elements.DecodedBatch,
                                        elements.BatchResult,
                                        description.ImageRunner]):
  """Runs a TF Hub image model (TF2 ``obj(images)`` or TF1 signatures) on
  the engine the plan chose (TensorFlow or OpenVINO)."""

  def __init__(self, settings: model_settings.ModelSettings,
               image_size: Tuple[int, int],
               engine: str = model_settings.ENGINE_TENSORFLOW,
               run_precision: Optional[str] = None,
               quantized_key: Optional[str] = None):
    """Creates the handler.

    Args:
      settings: what to load and how to call it (its batch bounds are the
        decode step's: elements arrive batched).
      image_size: (height, width) of the elements, as the model stage
        resolved it (``resolve.ModelFacts.image_size``).
      engine: tensorflow or openvino, as the model stage resolved
        ``--engine`` (``resolve.ModelFacts.engine``).
      run_precision: the precision it resolved (``--precision auto``
        resolved); None: ``settings.precision``.
      quantized_key: the int8 model the launcher gated, in the OpenVINO
        cache (workers load it; they never quantize).
    """
    # One element is one batch already.
    super().__init__(min_batch_size=1, max_batch_size=1)
    self._settings = settings
    self._image_size: Tuple[int, int] = (int(image_size[0]),
                                          int(image_size[1]))
    self._engine = engine
    self._run_precision = run_precision
    self._quantized_key = quantized_key

  def load_model(self) -> description.ImageRunner:
    # The launcher's model when this process planned the job; else load.
    return (handoff.take(self._settings, self._image_size, self._engine) or
            process_policy.load_for(self._settings, self._image_size,
                                    self._engine, self._run_precision,
                                    self._quantized_key))

  def share_model_across_processes(self) -> bool:
    return self._settings.model_copies > 0

  def model_copies(self) -> int:
    return max(1, self._settings.model_copies)

  def validate_inference_args(self,
                              inference_args: Optional[Dict[str, Any]]):
    # Beam calls this while the pipeline is built, before any input.
    if inference_args:
      raise ValueError(f"inference_args are not supported, got "
                       f"{sorted(inference_args)}")

  def run_inference(
      self,
      batch: Sequence[elements.DecodedBatch],
      model: description.ImageRunner,
      inference_args: Optional[Dict[str, Any]] = None
  ) -> Iterable[elements.BatchResult]:
    # uint8 all the way into the graph: the float conversion runs there, on
    # the engine's threads, once per batch.
    for decoded in batch:
      yield elements.BatchResult(
          decoded.image_keys,
          tuple(infer_isolating_failures(model.run_uint8, decoded.pixels)))

  def get_num_bytes(self, batch: Sequence[elements.DecodedBatch]) -> int:
    return sum(decoded.pixels.nbytes for decoded in batch)

  def get_metrics_namespace(self) -> str:
    return METRICS_NAMESPACE
