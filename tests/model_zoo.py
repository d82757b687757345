"""Architectures TF Hub serves, as SavedModels that follow the TF Hub image
contract, built offline from ``tf_keras.applications`` with random weights
(fixed seed): what can break in another engine is the architecture (hard
swish, SE blocks, swish, factorised convolutions, pre-activation residuals,
dense concatenation, NAS cells), not the accuracy.

Each model takes float32 [batch, H, W, 3] in [0, 1] (its own preprocessing
inside the graph, as TF Hub models have it) and returns logits [batch,
1000] (or features for the dynamic-size one), as ``obj(images)``.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Optional

import tensorflow as tf


def _to_255(x):
  return x * 255.0


def _to_pm1(x):
  return x * 2.0 - 1.0


@dataclasses.dataclass(frozen=True)
class Architecture:
  """Attributes:
    build: (input_shape) -> a tf_keras Model with random weights.
    size: the input size TF Hub serves it at; None for any size.
    preprocess: float [0, 1] -> what the network expects.
    task: classification (logits) or feature_vector.
    slow: minutes on 2 cores to build, convert and run: outside the
      default suite (``HUB_IMAGE_BEAM_SLOW_TESTS=1`` runs them).
  """
  build: Callable
  size: Optional[int]
  preprocess: Optional[Callable] = None
  task: str = "classification"
  slow: bool = False


def _apps():
  import tf_keras  # pylint: disable=g-import-not-at-top
  return tf_keras.applications


def _classifier(name: str) -> Callable:
  """(input_shape) -> ``tf_keras.applications.<name>``, random weights,
  logits out."""
  return lambda shape: getattr(_apps(), name)(
      input_shape=shape, weights=None, classifier_activation=None)


ARCHITECTURES: Dict[str, Architecture] = {
    # Hard swish, SE blocks; preprocessing inside the network.
    "mobilenet_v3_small": Architecture(
        _classifier("MobileNetV3Small"), 224, _to_255),
    # Swish, SE blocks, its own rescaling/normalisation layers.
    "efficientnet_b0": Architecture(
        _classifier("EfficientNetB0"), 224, _to_255),
    # Fused MBConv; TF Hub serves the B2 variant at 260.
    "efficientnet_v2_b2": Architecture(
        _classifier("EfficientNetV2B2"), 260, _to_255, slow=True),
    # Factorised and asymmetric convolutions, 299.
    "inception_v3": Architecture(
        _classifier("InceptionV3"), 299, _to_pm1, slow=True),
    # Pre-activation residual blocks.
    "resnet50_v2": Architecture(
        _classifier("ResNet50V2"), 224, _to_pm1, slow=True),
    # Dense concatenation.
    "densenet121": Architecture(
        _classifier("DenseNet121"), 224, _to_255, slow=True),
    # NAS cells (separable convolutions, many branches).
    "nasnet_mobile": Architecture(
        _classifier("NASNetMobile"), 224, _to_pm1, slow=True),
    # Any input size (the job needs --image_size): global pooling features.
    "mobilenet_v2_dynamic": Architecture(
        lambda s: _apps().MobileNetV2(
            input_shape=s, weights=None, include_top=False, pooling="avg"),
        None, _to_pm1, task="feature_vector"),
}


def save(name: str, folder: str) -> str:
  """Builds architecture ``name`` and saves it under ``folder``; a model
  already there is reused (written to a temporary name, then renamed, so a
  killed build never counts)."""
  path = os.path.join(folder, name)
  if os.path.exists(os.path.join(path, "saved_model.pb")):
    return path
  partial = f"{path}.partial-{os.getpid()}"
  import tf_keras  # pylint: disable=g-import-not-at-top
  arch = ARCHITECTURES[name]
  tf_keras.utils.set_random_seed(0)
  size = arch.size
  network = arch.build((size, size, 3) if size else (None, None, 3))
  module = tf.Module()
  module.network = network
  preprocess = arch.preprocess or (lambda x: x)
  spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="images")
  module.__call__ = tf.function(
      lambda images: network(preprocess(images), training=False),
      input_signature=[spec])
  tf.saved_model.save(module, partial)
  os.replace(partial, path)
  return path
