"""The element types that flow between pipeline steps.

An input is one element from listing to the decode step (``ImageInput``):
keys are deduplicated and joined one by one. From the decode step to the
rows it travels in a batch (``DecodedBatch``, then ``BatchResult``), so
decoding, the model and row building pay Beam's per-element cost once per
batch instead of once per image; the rows step emits one row per image.
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np

from transforms.core import file_names


class ImageKey(NamedTuple):
  """Identifies one input through the pipeline.

  Attributes:
    key: the user-visible key (full path, record id or manifest id).
    passthrough: (column, value) pairs copied from a manifest to the result.
    origin: where the input was listed, sortable (``<file>\x00<index>``):
      of several inputs with one key, the lowest origin is processed.
    escaped: ``key`` is an escaped file name (``core.file_names``): the
      name was not UTF-8. Keys are joined on (key, escaped).
  """
  key: str
  passthrough: Tuple[Tuple[str, object], ...] = ()
  origin: str = ""
  escaped: bool = False

  def join_key(self) -> Tuple[str, bool]:
    """What identifies the input: an escaped key never equals a real one."""
    return (self.key, self.escaped)


class ImageInput(NamedTuple):
  """One input as its source lists it: where its encoded bytes are.

  Attributes:
    image_key: the input's key.
    uri: the file to read the bytes from (files, manifests); empty when
      ``data`` holds them. ``uri_path`` is the path to open.
    data: the encoded bytes themselves (a TFRecord's image feature), or
      None when they are read from ``uri`` by the decode step, in its
      threads, next to decoding.
    uri_escaped: ``uri`` is an escaped file name (``core.file_names``).
    listed: ``uri`` was found by listing a glob (so a file that is not
      there when read has vanished since), not named by a manifest.
    content_type: for fetched URLs, the type the server declared (a decode
      failure names it: an HTML error page served with 200).
  """
  image_key: ImageKey
  uri: str = ""
  data: Optional[bytes] = None
  uri_escaped: bool = False
  listed: bool = False
  content_type: str = ""

  def uri_path(self) -> str:
    """The path to open for ``uri``."""
    return file_names.path_of(self.uri, self.uri_escaped)


class InferenceFailure(NamedTuple):
  """Stands in for the model outputs of an element that has none.

  Attributes:
    reason: a ``failures`` reason code (``inference_error`` when the model
      raised, ``bad_model_output`` when what it returned is unusable).
    message: what happened.
  """
  reason: str
  message: str


RowResult = Union[Dict[str, Any], InferenceFailure]


class DecodedBatch(NamedTuple):
  """Decoded inputs of one batch, ready for the model.

  Attributes:
    image_keys: one per image, in the order of ``pixels``.
    pixels: uint8 [n, height, width, 3] at the model's size.
  """
  image_keys: Tuple[ImageKey, ...]
  pixels: np.ndarray


class BatchResult(NamedTuple):
  """The model's outputs for a ``DecodedBatch``.

  Attributes:
    image_keys: as in the decoded batch.
    outputs: one per image: a dict of that image's output rows (numpy), or
      an ``InferenceFailure``.
  """
  image_keys: Tuple[ImageKey, ...]
  outputs: Tuple[RowResult, ...]
