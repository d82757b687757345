"""Loading a TF Hub image model and finding its image entry point.

This is the only module that loads models and calls them. It understands both
forms the spec describes:

  * TF2 Reusable SavedModels: ``obj(images)`` (with ``training=False`` when
    ``__call__`` takes a ``training`` argument, so no dropout on outputs);
  * TF1 Hub format modules (a TF1 SavedModel with an empty tag set plus
    ``tfhub_module.pb``) and SavedModels without ``__call__``: named
    signatures (``image_feature_vector``, ``image_classification``,
    ``default``, ``serving_default``) with input ``images`` and output
    ``default`` plus optional extra outputs.

``tensorflow_hub`` 0.16 no longer ships ``hub.Module`` or
``hub.get_expected_image_size``; :attr:`ImageModelInfo.expected_image_size`
does the latter's job from the input signature.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from transforms.core import tasks
from transforms.model import devices
from transforms.model import fetch
from transforms.model import precision
from transforms.model import settings as model_settings
from transforms.model import tf_import

FORMAT_TF2_CALL = "tf2_call"
FORMAT_TF1_HUB = "tf1_hub_signature"
FORMAT_SIGNATURE = "saved_model_signature"

TASK_SIGNATURES = {
    tasks.TASK_FEATURE_VECTOR: "image_feature_vector",
    tasks.TASK_CLASSIFICATION: "image_classification",
}
FALLBACK_SIGNATURES = ("default", "serving_default")
IMAGE_INPUT_NAME = "images"
DEFAULT_OUTPUT = tasks.DEFAULT_OUTPUT
CALL_ENTRY = "__call__"


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


class ImageModel:
  """A loaded model that maps image batches to named numpy outputs.

  Both entry points return ``{"default": [batch, N], <extra>: [batch, ...]}``.
  The pipeline (workers and the launcher's probe alike) calls
  :meth:`run_uint8`; the contract checks of ``inspect_model`` call the float
  entry point, ``__call__``, with what the model declares.
  """

  def __init__(self, info: ImageModelInfo, fn: Callable, fn_uint8: Callable,
               keepalive: object):
    self.info = info
    self._fn = fn
    self._fn_uint8 = fn_uint8
    self._keepalive = keepalive  # The loaded object owns the variables.

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


def is_remote_handle(handle: str) -> bool:
  return handle.startswith(("http://", "https://")) or handle.startswith(
      ("tfhub.dev/", "kaggle.com/", "www.kaggle.com/"))


def resolve_model_path(handle: str) -> str:
  """Checks a local or gs:// model directory, or downloads a TF Hub handle.

  Raises:
    ModelError: the directory is missing or holds no SavedModel.
  """
  tf = tf_import.import_tensorflow()
  if is_remote_handle(handle):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    try:
      return hub.resolve(handle)
    except Exception as e:  # pylint: disable=broad-except
      raise ModelError(f"could not download model {handle!r}: {e}") from e
  if fetch.is_beam_path(handle):
    try:
      handle = fetch.local_copy(handle)
    except (OSError, ValueError) as e:
      raise ModelError(
          f"--model: expected a SavedModel directory, but {handle!r} cannot "
          f"be read: {e}") from e
  if not tf.io.gfile.isdir(handle):
    raise ModelError(
        f"--model: expected a SavedModel directory, but {handle!r} does not "
        "exist or is not a directory")
  if not any(tf.io.gfile.exists(os.path.join(handle, name))
             for name in ("saved_model.pb", "saved_model.pbtxt")):
    found = sorted(tf.io.gfile.listdir(handle))[:10]
    raise ModelError(
        f"--model: expected a SavedModel (saved_model.pb) in {handle!r}, "
        f"found {found}")
  return handle


def is_tf1_hub_module(path: str) -> bool:
  tf = tf_import.import_tensorflow()
  return tf.io.gfile.exists(os.path.join(path, "tfhub_module.pb"))


def load_saved_model(path: str, tf1_hub: bool):
  """Loads a SavedModel the way ``hub.load`` does (empty tags for TF1 Hub).

  ``tf.saved_model.load`` directly: importing ``tensorflow_hub`` (which
  imports ``tf_keras``) costs about 0.7 s of start-up, and a resolved path
  is all ``hub.load`` would add. ``tensorflow_hub`` is still what downloads
  remote handles (:func:`resolve_model_path`).
  """
  tf = tf_import.import_tensorflow()
  tags: Optional[List[str]] = [] if tf1_hub else None
  try:
    return tf.saved_model.load(path, tags=tags)
  except Exception as e:  # pylint: disable=broad-except
    raise ModelError(f"could not load SavedModel at {path!r}: "
                     f"{type(e).__name__}: {e}") from e


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
  path = resolve_model_path(handle)
  tf1_hub = is_tf1_hub_module(path)
  obj = load_saved_model(path, tf1_hub)
  signatures = _describe_signatures(obj)
  use_call = signature is None and not tf1_hub and callable(obj)
  if use_call:
    if extra_outputs:
      raise ModelError(
          "--extra_outputs needs a signature with named outputs; this model "
          f"is a TF2 SavedModel called as obj(images). Available signatures: "
          f"{_names(signatures) or 'none'} (pick one with --signature)")
    info, raw_fn = _describe_call(handle, obj, signatures)
  else:
    name = signature or _pick_signature(task, signatures, tf1_hub)
    info, raw_fn = _describe_signature(handle, obj, signatures, name,
                                       extra_outputs,
                                       FORMAT_TF1_HUB if tf1_hub
                                       else FORMAT_SIGNATURE)
  fn, fn_uint8 = _trace(raw_fn, info, image_size, jit_compile)
  return ImageModel(info, fn, fn_uint8, obj)


def load_for(settings: model_settings.ModelSettings) -> ImageModel:
  """:func:`load_image_model` for the pipeline's model settings, after the
  GPU memory policy (``devices``) and the precision (``precision``) are
  applied.

  Raises:
    flags.ConfigError: ``--precision bfloat16`` on a CPU without it.
  """
  devices.configure_gpu_memory(settings.gpu_memory_limit_mb)
  precision.apply(settings.precision)
  return load_image_model(settings.handle, settings.task,
                          signature=settings.signature,
                          extra_outputs=settings.extra_outputs,
                          image_size=settings.image_size,
                          jit_compile=settings.jit_compile)


def _names(signatures: Sequence[SignatureInfo]) -> str:
  return ", ".join(sorted(s.name for s in signatures))


def _pick_signature(task: str, signatures: Sequence[SignatureInfo],
                    tf1_hub: bool) -> str:
  available = {s.name for s in signatures}
  for name in (TASK_SIGNATURES[task],) + FALLBACK_SIGNATURES:
    if name in available:
      return name
  kind = "TF1 Hub module" if tf1_hub else "SavedModel without __call__"
  raise ModelError(
      f"{kind} has no signature for task {task!r}: expected one of "
      f"{TASK_SIGNATURES[task]}, {', '.join(FALLBACK_SIGNATURES)}; "
      f"available: {_names(signatures) or 'none'}")


def _tensor_info(name: str, value) -> TensorInfo:
  shape = value.shape
  dims = None if shape.rank is None else tuple(shape.as_list())
  return TensorInfo(name=name, dtype=value.dtype.name, shape=dims)


def _describe_signatures(obj) -> Tuple[SignatureInfo, ...]:
  result = []
  for name, fn in sorted(getattr(obj, "signatures", {}).items()):
    _, kwargs = fn.structured_input_signature
    inputs = {k: _tensor_info(k, v) for k, v in sorted(kwargs.items())}
    outputs = fn.structured_outputs
    if not isinstance(outputs, Mapping):
      outputs = {DEFAULT_OUTPUT: outputs}
    result.append(SignatureInfo(
        name=name, inputs=inputs,
        outputs={k: _tensor_info(k, v) for k, v in sorted(outputs.items())}))
  return tuple(result)


def _pick_tensor(tensors: Mapping[str, TensorInfo], preferred: str,
                 signature: str, kind: str) -> str:
  """The spec's name (``images`` / ``default``), else the only one."""
  if preferred in tensors:
    return preferred
  if len(tensors) == 1:
    return next(iter(tensors))
  raise ModelError(
      f"signature {signature!r} has {kind}s {sorted(tensors)}: expected one "
      f"named {preferred!r} or a single {kind}")


def _describe_signature(handle, obj, signatures, name, extra_outputs,
                        model_format) -> Tuple[ImageModelInfo, Callable]:
  by_name = {s.name: s for s in signatures}
  if name not in by_name:
    raise ModelError(f"unknown signature {name!r} (available: "
                     f"{_names(signatures) or 'none'})")
  sig = by_name[name]
  input_name = _pick_tensor(sig.inputs, IMAGE_INPUT_NAME, name, "input")
  output_name = _pick_tensor(sig.outputs, DEFAULT_OUTPUT, name, "output")
  unknown = [k for k in extra_outputs if k not in sig.outputs]
  if unknown:
    raise ModelError(
        f"unknown extra output(s) {unknown} in signature {name!r} "
        f"(available: {', '.join(sorted(sig.outputs))})")
  concrete = obj.signatures[name]
  wanted = [k for k in extra_outputs if k != output_name]

  def call(images):
    outputs = concrete(**{input_name: images})
    if not isinstance(outputs, Mapping):
      outputs = {output_name: outputs}
    result = {DEFAULT_OUTPUT: outputs[output_name]}
    result.update({k: outputs[k] for k in wanted})
    return result

  info = ImageModelInfo(
      handle=handle, format=model_format, entry=name,
      input=sig.inputs[input_name], output=sig.outputs[output_name],
      extra_outputs={k: sig.outputs[k] for k in wanted},
      accepts_training=False, signatures=signatures)
  return info, call


def _accepts_training(fn) -> bool:
  try:
    spec = fn.function_spec.fullargspec
    return "training" in spec.args or "training" in spec.kwonlyargs
  except AttributeError:
    try:
      return "training" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
      return False


def _describe_call(handle, obj, signatures) -> Tuple[ImageModelInfo, Callable]:
  call_fn = obj.__call__
  accepts_training = _accepts_training(call_fn)
  concretes = list(getattr(call_fn, "concrete_functions", ()) or ())
  image_spec, output = None, None
  # Prefer the inference-mode trace; its output is what we will get.
  for concrete in sorted(concretes, key=lambda c: _is_training_trace(c)):
    args, kwargs = concrete.structured_input_signature
    specs = [a for a in list(args) + list(kwargs.values())
             if hasattr(a, "shape") and hasattr(a, "dtype")]
    if specs:
      image_spec, output = specs[0], concrete.structured_outputs
      break
  if image_spec is None:
    raise ModelError(
        f"model {handle!r} has a __call__ without a traced image input; "
        "expected __call__(images: float32 [batch, height, width, 3])")
  if isinstance(output, Mapping):
    if DEFAULT_OUTPUT not in output:
      raise ModelError(
          f"__call__ returns a dict with keys {sorted(output)}: expected a "
          f"single tensor [batch, N] (or a {DEFAULT_OUTPUT!r} key)")
    output = output[DEFAULT_OUTPUT]
  if not hasattr(output, "shape"):
    raise ModelError(
        f"__call__ returns {type(output).__name__}: expected a single "
        "float32 tensor [batch, N]")

  def call(images):
    value = obj(images, training=False) if accepts_training else obj(images)
    if isinstance(value, Mapping):
      value = value[DEFAULT_OUTPUT]
    return {DEFAULT_OUTPUT: value}

  info = ImageModelInfo(
      handle=handle, format=FORMAT_TF2_CALL, entry=CALL_ENTRY,
      input=_tensor_info(IMAGE_INPUT_NAME, image_spec),
      output=_tensor_info(DEFAULT_OUTPUT, output), extra_outputs={},
      accepts_training=accepts_training, signatures=signatures)
  return info, call


def _is_training_trace(concrete) -> bool:
  args, kwargs = concrete.structured_input_signature
  values = list(args[1:]) + [kwargs.get("training")]
  return any(v is True for v in values)


def _trace(raw_fn: Callable, info: ImageModelInfo,
           image_size: Optional[Tuple[int, int]], jit_compile: bool):
  """Wraps the entry point in tf.functions with fixed input signatures.

  Returns the float entry (what the contract checks call) and the uint8
  entry (what the pipeline calls), which divides by 255 in-graph.
  """
  tf = tf_import.import_tensorflow()
  shape = info.input.shape
  if shape is not None and len(shape) == 4:
    batch, channels = shape[0], shape[3]
    height, width = image_size or (shape[1], shape[2])
  else:
    batch, channels = None, 3
    height, width = image_size or (None, None)
  dtype = tf.as_dtype(info.input.dtype)
  dims = [batch, height, width, channels]
  options = {"jit_compile": jit_compile or None, "reduce_retracing": True}
  fn = tf.function(raw_fn, input_signature=[tf.TensorSpec(dims, dtype)],
                   **options)

  def from_uint8(pixels):
    return raw_fn(tf.cast(pixels, dtype) / tf.constant(255, dtype))

  fn_uint8 = tf.function(from_uint8, input_signature=[
      tf.TensorSpec(dims, tf.uint8)], **options)
  return fn, fn_uint8

