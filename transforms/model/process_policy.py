"""Loading the job's model in this process: the process-wide policies first
(GPU memory, ``devices``; precision, ``precision``), then the engine."""
from __future__ import annotations

from typing import Optional, Tuple

from transforms.model import devices
from transforms.model import precision
from transforms.model import settings as model_settings
from transforms.model import tf_engine


def load_for(settings: model_settings.ModelSettings,
             image_size: Optional[Tuple[int, int]]) -> tf_engine.ImageModel:
  """Loads the job's model for images of ``image_size``, after the GPU
  memory policy and the precision are applied.

  Args:
    settings: the model stage's settings.
    image_size: (height, width) the workers feed: ``--image_size``, or the
      model's own, as the model stage resolved it (``resolve``); None
      traces for the model's declared input shape.

  Raises:
    flags.ConfigError: ``--precision bfloat16`` on a CPU without it.
    description.ModelError: the model cannot be loaded or called.
  """
  devices.configure_gpu_memory(settings.gpu_memory_limit_mb)
  precision.apply(settings.precision)
  return tf_engine.load_image_model(settings.handle, settings.task,
                                    signature=settings.signature,
                                    extra_outputs=settings.extra_outputs,
                                    image_size=image_size,
                                    jit_compile=settings.jit_compile)
