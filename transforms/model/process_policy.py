"""Loading the job's model in this process: the process-wide policies first
(GPU memory, ``devices``; precision, ``precision``), then the engine.

TensorFlow always loads the model (handles, signatures, the contract); with
the OpenVINO engine it is only the converter's source and runs float32,
while OpenVINO computes in the job's precision.
"""
from __future__ import annotations

from typing import Optional, Tuple

from transforms.model import description
from transforms.model import devices
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine
from transforms.model import precision
from transforms.model import settings as model_settings
from transforms.model.tensorflow import engine as tf_engine


def load_tensorflow(settings: model_settings.ModelSettings,
                    image_size: Optional[Tuple[int, int]],
                    tf_precision: str) -> tf_engine.ImageModel:
  """The TensorFlow engine's model, after the GPU memory policy and with
  TensorFlow's precision set for this process.

  Raises:
    flags.ConfigError: a precision this CPU or process cannot run.
    description.ModelError: the model cannot be loaded or called.
  """
  devices.configure_gpu_memory(settings.gpu_memory_limit_mb)
  precision.apply(tf_precision)
  return tf_engine.load_image_model(settings.handle, settings.task,
                                    signature=settings.signature,
                                    extra_outputs=settings.extra_outputs,
                                    image_size=image_size,
                                    jit_compile=settings.jit_compile)


def openvino_from(tf_model: tf_engine.ImageModel,
                  settings: model_settings.ModelSettings,
                  run_precision: Optional[str] = None
                  ) -> ov_engine.OpenVinoModel:
  """Converts (or takes from the IR cache) and compiles for this CPU."""
  converted = ov_cache.load_or_convert(tf_model, settings.openvino_cache)
  return ov_engine.compile_model(converted, tf_model.info,
                                 run_precision or settings.precision)


def load_for(settings: model_settings.ModelSettings,
             image_size: Optional[Tuple[int, int]],
             engine: str = model_settings.ENGINE_TENSORFLOW,
             run_precision: Optional[str] = None,
             quantized_key: Optional[str] = None
             ) -> description.ImageRunner:
  """Loads the job's model for images of ``image_size`` on ``engine``.

  Args:
    settings: the model stage's settings.
    image_size: (height, width) the workers feed: ``--image_size``, or the
      model's own, as the model stage resolved it (``resolve``); None
      traces for the model's declared input shape.
    engine: tensorflow or openvino, as the plan resolved ``--engine``.
    run_precision: the precision the plan resolved (None: the settings').
    quantized_key: for int8, the gated model's key in the OpenVINO cache.

  Raises:
    flags.ConfigError: ``--precision bfloat16`` on a CPU without it.
    description.ModelError: the model cannot be loaded or called.
  """
  run_precision = run_precision or settings.precision
  if engine == model_settings.ENGINE_TENSORFLOW:
    return load_tensorflow(settings, image_size, run_precision)
  precision.check_supported(run_precision, precision.read_cpuinfo())
  tf_model = load_tensorflow(settings, image_size, precision.FLOAT32)
  if run_precision == precision.INT8:
    if not quantized_key or not settings.openvino_cache:
      raise description.ModelError(
          "--precision int8: expected the launcher's gated int8 model (a "
          f"key and --openvino_cache), found key {quantized_key!r} and "
          f"cache {settings.openvino_cache!r}")
    from transforms.model.openvino.quantization import quantizer  # pylint: disable=g-import-not-at-top
    return ov_engine.compile_model(
        quantizer.load_quantized(settings.openvino_cache, quantized_key),
        tf_model.info, precision.FLOAT32)
  return openvino_from(tf_model, settings, run_precision)
