"""GPU memory policy, applied before the model loads.

TensorFlow maps all of a GPU's memory in the first process that touches it;
Dataflow starts one SDK process per vCPU on a GPU worker, so the second
process would fail. By default every process lets its allocation grow
(``TF_FORCE_GPU_ALLOW_GROWTH``, read when TensorFlow creates its GPU
devices, and ``set_memory_growth`` where they are not created yet);
``--gpu_memory_limit_mb`` instead caps each process. On a machine without a
GPU the policy is recorded and changes nothing.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from transforms.model.tensorflow import lean_import as tf_import

_LOGGER = logging.getLogger("hub_image_beam")

GROWTH = "memory_growth"
LIMIT = "memory_limit"


def configure_gpu_memory(limit_mb: Optional[int] = None) -> str:
  """Applies the policy; returns which one (``GROWTH`` or ``LIMIT``)."""
  if limit_mb is None:
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
  tf = tf_import.import_tensorflow()
  for gpu in tf.config.list_physical_devices("GPU"):
    try:
      if limit_mb is None:
        tf.config.experimental.set_memory_growth(gpu, True)
      else:
        tf.config.set_logical_device_configuration(
            gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit_mb)])
    except RuntimeError as e:
      # Devices already initialised in this process: the environment
      # variable (growth) still applied if it was set before that.
      _LOGGER.warning("GPU memory policy not applied to %s: %s", gpu.name, e)
  return GROWTH if limit_mb is None else LIMIT
