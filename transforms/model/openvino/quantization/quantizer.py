"""Post-training int8 quantization of the converted model with NNCF, cached.

Quantize once, gate every time. The quantized IR is stored in the OpenVINO
cache (local or ``gs://``) content-addressed: under ``KEY-DIGEST``, where
KEY is made of the converted model's key (model content, entry, extra
outputs, image size, OpenVINO version), the quantization settings and
NNCF's version, and DIGEST of the IR's own bytes. A record under KEY names
the current model and the images that calibrated it (their digest and
count). A later job, whatever its images, loads it from there and gates it
on its own images; NNCF is imported only to quantize, so workers, which
only load, do not need it.

What workers run is what was gated: the launcher hands them the
content-addressed name of the model it gated, and a worker checks the bytes
it loads against that name, failing at set-up if they differ. A
``--requantize`` or another launch writes a new name and never replaces a
model a running job loads. The calibration images are not in KEY (a cache
hit then needs no calibration decode); a model calibrated on another job's
images is used only if it passes this job's gate.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import logging
import time
from typing import Any, Optional, Tuple

from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino.quantization import calibration
from transforms.model.openvino.quantization import config

_LOGGER = logging.getLogger("hub_image_beam")

# Bump when what is quantized changes meaning.
QUANTIZED_FORMAT = "1"

# How many times this process ran NNCF (tests count cache hits with it).
quantizations = 0


@dataclasses.dataclass(frozen=True)
class QuantizedModel:
  """Attributes:
    key: its content-addressed name in the OpenVINO cache (what workers
      load and check).
    calibration_digest: ``calibration.pixels_digest`` of the images that
      calibrated it (in this job or an earlier one).
    calibration_images: how many they were.
    quantized_now: NNCF ran in this process (else: from the cache).
    seconds: NNCF's time, when it ran here.
  """
  key: str
  calibration_digest: str
  calibration_images: int
  quantized_now: bool
  seconds: float = 0.0


def nncf_version() -> str:
  """NNCF's version, from its package metadata: importing NNCF costs about
  a second of start-up, and a cache hit never needs it."""
  try:
    return importlib.metadata.version("nncf")
  except importlib.metadata.PackageNotFoundError:
    import nncf  # pylint: disable=g-import-not-at-top  # says what is missing
    return str(nncf.__version__)


def cache_key(conversion_key: str,
              settings: config.QuantizationSettings) -> str:
  """The quantized model's key: the converted model's, the settings, NNCF."""
  parts = (QUANTIZED_FORMAT, conversion_key, nncf_version()) + \
      settings.cache_parts()
  return "int8-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def quantize(ov_model: Any, pixels, settings: config.QuantizationSettings
             ) -> Any:
  """NNCF's post-training quantization of ``ov_model`` on ``pixels``.

  Args:
    ov_model: the converted float32 ``ov.Model`` (uint8 input).
    pixels: uint8 [n, height, width, 3], the calibration images.
    settings: NNCF's options.
  """
  global quantizations
  import nncf  # pylint: disable=g-import-not-at-top
  from nncf.quantization.advanced_parameters import (  # pylint: disable=g-import-not-at-top
      AdvancedQuantizationParameters, OverflowFix)
  kwargs = {}
  if settings.model_type == config.MODEL_TYPE_TRANSFORMER:
    kwargs["model_type"] = nncf.ModelType.TRANSFORMER
  quantizations += 1
  return nncf.quantize(
      ov_model, calibration.nncf_dataset(pixels),
      preset=(nncf.QuantizationPreset.MIXED
              if settings.preset == config.PRESET_MIXED else
              nncf.QuantizationPreset.PERFORMANCE),
      subset_size=min(settings.subset_size or len(pixels), len(pixels)),
      fast_bias_correction=settings.fast_bias_correction,
      advanced_parameters=AdvancedQuantizationParameters(
          overflow_fix=OverflowFix(settings.overflow_fix)),
      **kwargs)


def _record_name(key: str) -> str:
  return f"{key}.json"


def load_or_quantize(converted: Any, conversion_key: str,
                     cache_dir: Optional[str],
                     sample: calibration.ImageSample,
                     settings: config.QuantizationSettings
                     ) -> Tuple[Any, QuantizedModel]:
  """The int8 model: from the cache unless ``settings.requantize`` or it is
  not there; else quantized on the sample's calibration images and stored.

  Returns:
    (the quantized ``ov.Model``, what it is).
  """
  key = cache_key(conversion_key, settings)
  if cache_dir and not settings.requantize:
    record = ov_cache.read_record(cache_dir, _record_name(key))
    name = str(record.get("model") or "") if record else ""
    cached = None
    if name:
      try:
        cached = ov_cache.read_verified(cache_dir, name)
      except ov_cache.DigestMismatch as e:
        _LOGGER.warning("int8: %s; quantizing again", e)
    if cached is not None and record is not None:
      _LOGGER.info("int8: quantized model %s from the cache (calibrated on "
                   "%s images, digest %s)", name,
                   record.get("calibration_images"),
                   str(record.get("calibration_digest"))[:12])
      return cached, QuantizedModel(
          name, str(record.get("calibration_digest")),
          int(record.get("calibration_images", 0)), quantized_now=False)
  pixels = sample.calibration()
  _LOGGER.info("int8: calibrating on the job's first %d images (NNCF %s)",
               len(pixels), nncf_version())
  started = time.monotonic()
  quantized = quantize(converted, pixels, settings)
  seconds = time.monotonic() - started
  digest = calibration.pixels_digest(pixels)
  name = key
  if cache_dir:
    # Content-addressed: a --requantize, or another launch, writes a new
    # name and never replaces the model a running job's workers load.
    name = ov_cache.store_by_content(quantized, cache_dir, key)
    ov_cache.store_record(cache_dir, _record_name(key), {
        "model": name,
        "calibration_digest": digest, "calibration_images": len(pixels),
        "nncf": nncf_version(), "seconds": round(seconds, 2),
        "settings": list(settings.cache_parts())})
  return quantized, QuantizedModel(name, digest, len(pixels),
                                   quantized_now=True, seconds=seconds)


def load_quantized(cache_dir: str, name: str) -> Any:
  """A worker's load of the model the launcher quantized and gated: the
  content-addressed ``name`` the launcher handed it, its bytes checked
  against the name.

  Raises:
    FileNotFoundError: the cache does not hold it.
    ov_cache.DigestMismatch: the files there are not the gated model.
  """
  model = ov_cache.read_verified(cache_dir, name)
  if model is None:
    raise FileNotFoundError(
        f"the int8 model {name} the launcher gated is not in the OpenVINO "
        f"cache {cache_dir}; workers need the launcher's --openvino_cache")
  return model
