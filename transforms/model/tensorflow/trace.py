"""TensorFlow engine: wrapping an entry point in ``tf.function``s with fixed
input signatures: the float entry the contract checks call, and the uint8
entry the pipeline calls (``x / 255`` in-graph), optionally XLA-compiled."""
from __future__ import annotations

from typing import Callable, Optional, Tuple

from transforms.model.tensorflow import lean_import as tf_import
from transforms.model.description import ImageModelInfo


def trace(raw_fn: Callable, info: ImageModelInfo,
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
