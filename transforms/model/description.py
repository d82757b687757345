"""What a model is, described engine-neutrally: its format, entry point,
input and output tensors, and the error a bad model raises.

The TensorFlow engine fills these in (``tf_entry``); the contract rules, the
inspector and the job plan read them.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Optional, Protocol, Tuple

import numpy as np

FORMAT_TF2_CALL = "tf2_call"
FORMAT_TF1_HUB = "tf1_hub_signature"
FORMAT_SIGNATURE = "saved_model_signature"


class ModelError(ValueError):
  """The model cannot be used; the message says what was expected and found."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
  """Name, dtype and shape of one model input or output (None = unknown)."""
  name: str
  dtype: str
  shape: Optional[Tuple[Optional[int], ...]]

  def __str__(self) -> str:
    if self.shape is None:
      return f"{self.dtype} <unknown rank>"
    dims = ", ".join("None" if d is None else str(d) for d in self.shape)
    return f"{self.dtype} [{dims}]"


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
  name: str
  inputs: Mapping[str, TensorInfo]
  outputs: Mapping[str, TensorInfo]


@dataclasses.dataclass(frozen=True)
class ImageModelInfo:
  """What the pipeline learned about a model before reading any input.

  Attributes:
    handle: what the user passed (path, gs:// path or TF Hub handle).
    format: one of FORMAT_TF2_CALL, FORMAT_TF1_HUB, FORMAT_SIGNATURE.
    entry: ``__call__`` or the signature name used.
    input: the image input (``images: float32 [batch, height, width, 3]``).
    output: the main output (``[batch, N]``).
    extra_outputs: the other outputs requested with ``--extra_outputs``.
    accepts_training: whether ``__call__`` takes ``training=``.
    signatures: every signature the model has (for the inspector).
  """
  handle: str
  format: str
  entry: str
  input: TensorInfo
  output: TensorInfo
  extra_outputs: Mapping[str, TensorInfo]
  accepts_training: bool
  signatures: Tuple[SignatureInfo, ...]

  @property
  def expected_image_size(self) -> Optional[Tuple[int, int]]:
    """(height, width) from the input signature, None when not fixed."""
    shape = self.input.shape
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
      return None
    return int(shape[1]), int(shape[2])

  @property
  def output_width(self) -> Optional[int]:
    shape = self.output.shape
    if shape is None or len(shape) != 2:
      return None
    return shape[1]


class ImageRunner(Protocol):
  """What every engine's loaded model offers the pipeline (the model
  handler, the launcher's probe, the faithfulness check).

  Attributes:
    info: the model's description (from the TensorFlow load).
    engine: the engine's name (``tensorflow``, ``openvino``).
  """
  info: ImageModelInfo
  engine: str

  @property
  def engine_version(self) -> str:
    ...

  def run_uint8(self, images: np.ndarray) -> Dict[str, np.ndarray]:
    """uint8 [batch, height, width, 3] -> ``{"default": [batch, N], ...}``."""
    ...
