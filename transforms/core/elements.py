"""The element types that flow between pipeline steps."""
from __future__ import annotations

from typing import NamedTuple, Tuple


class ImageKey(NamedTuple):
  """Identifies one input through the pipeline.

  Attributes:
    key: the user-visible key (full path, record id or manifest id).
    passthrough: (column, value) pairs copied from a manifest to the result.
    origin: where the input was listed, sortable (``<file>\x00<index>``):
      of several inputs with one key, the lowest origin is processed.
  """
  key: str
  passthrough: Tuple[Tuple[str, object], ...] = ()
  origin: str = ""


class EncodedImage(NamedTuple):
  """An input's encoded bytes, as read from its source."""
  image_key: ImageKey
  data: bytes


class InferenceFailure(NamedTuple):
  """Stands in for the model outputs of an element that has none.

  Attributes:
    reason: a ``failures`` reason code (``inference_error`` when the model
      raised, ``bad_model_output`` when what it returned is unusable).
    message: what happened.
  """
  reason: str
  message: str
