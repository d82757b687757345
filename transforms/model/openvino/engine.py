"""The OpenVINO engine: the job's model, converted in-process and compiled
for this machine's CPU.

What is converted is the TensorFlow engine's traced uint8 entry point
(``tf_engine.ImageModel.uint8_function``), so OpenVINO runs exactly what the
TensorFlow workers would call: the same signature or ``obj(images)`` with
``training=False``, the same extra outputs, ``x / 255`` inside the graph.
TensorFlow stays what resolves, loads and checks the model.

The compiled model runs with the THROUGHPUT hint: OpenVINO makes several
streams (on 2 cores, 2), and each batch is split across that many inference
requests run at once, so every core is busy on every batch. The precision is
explicit (``INFERENCE_PRECISION_HINT``): f32 unless the job asks for
bfloat16, since OpenVINO's own default on a CPU with native bfloat16 is
bf16.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from transforms.core import tasks
from transforms.model import precision as precision_lib
from transforms.model.description import ImageModelInfo

ENGINE = "openvino"
DEVICE = "CPU"
_PRECISION_HINTS = {precision_lib.FLOAT32: "f32",
                    precision_lib.BFLOAT16: "bf16"}


def import_openvino():
  import openvino  # pylint: disable=g-import-not-at-top
  return openvino


def version() -> str:
  """OpenVINO's version, e.g. ``2026.4.1-...``."""
  return str(import_openvino().get_version())


def output_keys(info: ImageModelInfo) -> List[str]:
  """The entry point's output keys, in the order ``tf.nest`` flattens the
  returned dict (sorted): the order of the converted model's outputs."""
  return sorted([tasks.DEFAULT_OUTPUT] + list(info.extra_outputs))


def convert(tf_model) -> Any:
  """Converts a ``tf_engine.ImageModel``'s uint8 entry to an ``ov.Model``.

  Raises:
    Exception: whatever OpenVINO's TensorFlow frontend raises for an op or
      graph it cannot convert (the caller names it in its fall-back).
  """
  ov = import_openvino()
  concrete = tf_model.uint8_function().get_concrete_function()
  # A copy of the weights: by default the converted model's constants share
  # TensorFlow's buffers, and once TensorFlow lets go of them the model
  # computes garbage (every image one class), though a probe made at once
  # agrees.
  return ov.convert_model(concrete, share_weights=False)


class OpenVinoModel:
  """A compiled model that maps uint8 image batches to named numpy outputs
  (the same contract as ``tf_engine.ImageModel.run_uint8``)."""

  engine = ENGINE

  def __init__(self, info: ImageModelInfo, compiled: Any,
               keys: Sequence[str]):
    self.info = info
    self._compiled = compiled
    self._outputs = list(zip(keys, compiled.outputs))
    ov = import_openvino()
    self._requests = max(1, int(compiled.get_property(
        "OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    self._queue = ov.AsyncInferQueue(compiled, self._requests)
    self._queue.set_callback(self._collect)
    # One batch at a time uses every stream; callers take turns.
    self._lock = threading.Lock()

  @property
  def engine_version(self) -> str:
    return version()

  @property
  def requests(self) -> int:
    """Inference requests a batch is split across (OpenVINO's optimum)."""
    return self._requests

  def _collect(self, request, userdata) -> None:
    results, index = userdata
    results[index] = {key: np.array(request.get_tensor(port).data)
                      for key, port in self._outputs}

  def run_uint8(self, images: np.ndarray) -> Dict[str, np.ndarray]:
    """Runs the model on uint8 [batch, height, width, 3] pixels.

    Returns:
      ``{"default": [batch, N], <extra>: [batch, ...]}``.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    chunks = np.array_split(images, min(self._requests, len(images)))
    results: List[Optional[Dict[str, np.ndarray]]] = [None] * len(chunks)
    with self._lock:
      for index, chunk in enumerate(chunks):
        self._queue.start_async({0: chunk}, (results, index))
      self._queue.wait_all()
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
      raise RuntimeError(f"OpenVINO returned no output for part(s) {missing} "
                         f"of a batch of {len(images)}")
    return {key: np.concatenate([r[key] for r in results if r is not None])
            for key, _ in self._outputs}


def compile_model(ov_model: Any, info: ImageModelInfo,
                  precision: str = precision_lib.FLOAT32) -> OpenVinoModel:
  """Compiles a converted model for this CPU (THROUGHPUT hint).

  Args:
    ov_model: from :func:`convert` (or the IR cache).
    info: the model's description (from TensorFlow).
    precision: float32 or bfloat16 (``--precision``); the caller has checked
      that this CPU computes bfloat16 natively.
  """
  ov = import_openvino()
  core = ov.Core()
  compiled = core.compile_model(ov_model, DEVICE, {
      "PERFORMANCE_HINT": "THROUGHPUT",
      "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[precision]})
  return OpenVinoModel(info, compiled, output_keys(info))
