"""TensorFlow engine: finding a loaded SavedModel's image entry point.

The two forms the spec describes:

  * TF2 Reusable SavedModels: ``obj(images)`` (with ``training=False`` when
    ``__call__`` takes a ``training`` argument, so no dropout on outputs);
  * TF1 Hub format modules and SavedModels without ``__call__``: named
    signatures (``image_feature_vector``, ``image_classification``,
    ``default``, ``serving_default``) with input ``images`` and output
    ``default`` plus optional extra outputs.

Each returns the model's :class:`description.ImageModelInfo` and a raw
Python callable (float images -> ``{"default": ..., <extra>: ...}``) for
``tf_trace`` to wrap.
"""
from __future__ import annotations

import inspect
from typing import Callable, Mapping, Sequence, Tuple

from transforms.core import tasks
from transforms.model.description import (FORMAT_TF2_CALL, ImageModelInfo,
                                          ModelError, SignatureInfo,
                                          TensorInfo)

TASK_SIGNATURES = {
    tasks.TASK_FEATURE_VECTOR: "image_feature_vector",
    tasks.TASK_CLASSIFICATION: "image_classification",
}
FALLBACK_SIGNATURES = ("default", "serving_default")
IMAGE_INPUT_NAME = "images"
DEFAULT_OUTPUT = tasks.DEFAULT_OUTPUT
CALL_ENTRY = "__call__"


def names(signatures: Sequence[SignatureInfo]) -> str:
  return ", ".join(sorted(s.name for s in signatures))


def pick_signature(task: str, signatures: Sequence[SignatureInfo],
                    tf1_hub: bool) -> str:
  available = {s.name for s in signatures}
  for name in (TASK_SIGNATURES[task],) + FALLBACK_SIGNATURES:
    if name in available:
      return name
  kind = "TF1 Hub module" if tf1_hub else "SavedModel without __call__"
  raise ModelError(
      f"{kind} has no signature for task {task!r}: expected one of "
      f"{TASK_SIGNATURES[task]}, {', '.join(FALLBACK_SIGNATURES)}; "
      f"available: {names(signatures) or 'none'}")


def _tensor_info(name: str, value) -> TensorInfo:
  shape = value.shape
  dims = None if shape.rank is None else tuple(shape.as_list())
  return TensorInfo(name=name, dtype=value.dtype.name, shape=dims)


def describe_signatures(obj) -> Tuple[SignatureInfo, ...]:
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


def describe_signature(handle, obj, signatures, name, extra_outputs,
                        model_format) -> Tuple[ImageModelInfo, Callable]:
  by_name = {s.name: s for s in signatures}
  if name not in by_name:
    raise ModelError(f"unknown signature {name!r} (available: "
                     f"{names(signatures) or 'none'})")
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


def describe_call(handle, obj, signatures) -> Tuple[ImageModelInfo, Callable]:
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
