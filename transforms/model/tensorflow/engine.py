"""The TensorFlow engine: a loaded TF Hub image model and how it is called.

:func:`load_image_model` resolves the handle (``handles``), loads the
SavedModel (``tf_savedmodel``), finds the image entry point (``tf_entry``)
and traces it (``tf_trace``). :class:`ImageModel` is the runtime wrapper the
model handler, the job's probe and the contract checks call.
``tensorflow_hub`` 0.16 no longer ships ``hub.Module`` or
``hub.get_expected_image_size``;
:attr:`description.ImageModelInfo.expected_image_size` does the latter's job.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, FrozenSet, Optional, Sequence, Tuple

import numpy as np

from transforms.core import tasks
from transforms.model import handles
from transforms.model.tensorflow import entry as tf_entry
from transforms.model.tensorflow import savedmodel as tf_savedmodel
from transforms.model.tensorflow import trace as tf_trace
from transforms.model.description import (FORMAT_SIGNATURE, FORMAT_TF1_HUB,
                                          ImageModelInfo, ModelError)

ENGINE = "tensorflow"


class ImageModel:
  """A loaded model that maps image batches to named numpy outputs.

  Both entry points return ``{"default": [batch, N], <extra>: [batch, ...]}``.
  The pipeline (workers and the launcher's probe alike) calls
  :meth:`run_uint8`; the contract checks of ``inspect_model`` call the float
  entry point, ``__call__``, with what the model declares.
  """

  engine = ENGINE

  def __init__(self, info: ImageModelInfo, fn: Callable, fn_uint8: Callable,
               keepalive: object, path: str = ""):
    self.info = info
    self.path = path  # the resolved local SavedModel directory
    self._fn = fn
    self._fn_uint8 = fn_uint8
    self._keepalive = keepalive  # The loaded object owns the variables.
    self._content_digest: Optional[str] = None

  def content_digest(self) -> str:
    """sha256 of every file's relative path and bytes under ``path``: what
    the results were computed with, and part of the converted model's cache
    key. Hashed once per loaded model (the launcher asks several times)."""
    if self._content_digest is None:
      self._content_digest = handles.folder_digest(self.path)
    return self._content_digest

  @property
  def engine_version(self) -> str:
    from transforms.model.tensorflow import lean_import as tf_import  # pylint: disable=g-import-not-at-top
    return str(tf_import.import_tensorflow().__version__)

  def op_types(self) -> FrozenSet[str]:
    """Every op type in the traced uint8 entry, nested functions included."""
    concrete = self.uint8_function().get_concrete_function()
    graph_def = concrete.graph.as_graph_def()
    found = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
      found.update(node.op for node in function.node_def)
    return frozenset(found)

  def uint8_function(self):
    """The traced uint8 entry (``tf.function``): what another engine
    converts, so it runs exactly what the workers would call here."""
    return self._fn_uint8

  def run_uint8(self, images: np.ndarray) -> Dict[str, np.ndarray]:
    """Runs the model on uint8 [batch, height, width, 3] pixels.

    The conversion to float32 in [0, 1] happens inside the traced graph.
    """
    outputs = self._fn_uint8(images)
    return {name: value.numpy() for name, value in outputs.items()}

  def __call__(self, images: np.ndarray) -> Dict[str, np.ndarray]:
    """Runs the model.

    Args:
      images: float32 [batch, height, width, 3] in [0, 1].

    Returns:
      Output name to numpy array with leading dimension batch.
    """
    outputs = self._fn(images)
    return {name: value.numpy() for name, value in outputs.items()}


def load_image_model(handle: str,
                     task: str,
                     signature: Optional[str] = None,
                     extra_outputs: Sequence[str] = (),
                     image_size: Optional[Tuple[int, int]] = None,
                     jit_compile: bool = False) -> ImageModel:
  """Loads a model and returns a callable for its image entry point.

  Args:
    handle: local directory, gs:// directory or TF Hub handle.
    task: ``feature_vector`` or ``classification``; picks the TF1 signature.
    signature: a signature name that overrides the choice.
    extra_outputs: extra output keys of the signature to return as well.
    image_size: (height, width) the caller will feed; used to give the traced
      function a fixed input signature.
    jit_compile: compile the call with XLA.

  Raises:
    ModelError: the model has no usable entry point, or the signature or an
      extra output does not exist.
  """
  if task not in tasks.TASKS:
    raise ModelError(f"unknown task {task!r} (expected one of "
                     f"{tasks.TASKS})")
  path = handles.resolve_model_path(handle)
  tf1_hub = tf_savedmodel.is_tf1_hub_module(path)
  obj = tf_savedmodel.load_saved_model(path, tf1_hub)
  signatures = tf_entry.describe_signatures(obj)
  use_call = signature is None and not tf1_hub and callable(obj)
  if use_call:
    if extra_outputs:
      raise ModelError(
          "--extra_outputs needs a signature with named outputs; this model "
          f"is a TF2 SavedModel called as obj(images). Available signatures: "
          f"{tf_entry.names(signatures) or 'none'} (pick one with --signature)")
    info, raw_fn = tf_entry.describe_call(handle, obj, signatures)
  else:
    name = signature or tf_entry.pick_signature(task, signatures, tf1_hub)
    info, raw_fn = tf_entry.describe_signature(handle, obj, signatures, name,
                                       extra_outputs,
                                       FORMAT_TF1_HUB if tf1_hub
                                       else FORMAT_SIGNATURE)
  fn, fn_uint8 = tf_trace.trace(raw_fn, info, image_size, jit_compile)
  return ImageModel(info, fn, fn_uint8, obj, path)
