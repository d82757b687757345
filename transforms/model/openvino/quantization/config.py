"""What int8 quantization and its gate are told: frozen settings, built
once from the flags (``model.settings``), hashable (part of the model
stage's settings and of the quantized model's cache key)."""
from __future__ import annotations

import dataclasses
from typing import FrozenSet, Optional, Tuple

from transforms.model.gate import GateThresholds

# NNCF's choices, as ``nncf.quantize`` names them; see benchmarks/README.md
# ("int8: NNCF's options") for what each measured on MobileNet V2 here.
PRESET_PERFORMANCE = "performance"
PRESET_MIXED = "mixed"
PRESETS = (PRESET_PERFORMANCE, PRESET_MIXED)
MODEL_TYPE_NONE = "none"
MODEL_TYPE_TRANSFORMER = "transformer"
MODEL_TYPES = (MODEL_TYPE_NONE, MODEL_TYPE_TRANSFORMER)
# NNCF's OverflowFix: CPUs without VNNI (AVX2 only) multiply u8 x s8 into
# 16-bit sums that saturate; the fix quantizes weights to 7 bits so they
# cannot. NNCF's default fixes the first layer only.
OVERFLOW_FIX_ALL = "enable"
OVERFLOW_FIX_FIRST_LAYER = "first_layer_only"
OVERFLOW_FIX_NONE = "disable"
OVERFLOW_FIXES = (OVERFLOW_FIX_ALL, OVERFLOW_FIX_FIRST_LAYER,
                  OVERFLOW_FIX_NONE)
OVERFLOW_FIX_AUTO = "auto"
# Any one of these CPU flags: int8 dot products with 32-bit sums (VNNI).
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})

# Below this many decoded images in the whole job, int8 is refused: too few
# to calibrate on and to measure the result with.
MIN_IMAGES = 100
# A job smaller than calibration + gate calibrates on this share of its
# images, and checks on the rest.
SMALL_JOB_CALIBRATION_SHARE = 0.6


@dataclasses.dataclass(frozen=True)
class QuantizationSettings:
  """Attributes:
    calibration_images: the first N of the job's spread sample calibrate
      (``--calibration_images``; ``job.image_sample``).
    check_images: the next N gate (``--int8_check_images``): 500 bound a
      share near 0.95 to about +/- 0.02 (``model.gate``).
    thresholds: the gate's thresholds.
    preset: NNCF's QuantizationPreset (performance: symmetric; mixed:
      asymmetric activations).
    model_type: NNCF's ModelType (none, or transformer).
    fast_bias_correction: NNCF's fast (True) or full bias correction.
    subset_size: images NNCF's statistics use (None: all calibration
      images).
    overflow_fix: NNCF's OverflowFix (the flags choose it for this CPU
      with :func:`overflow_fix_for`; NNCF's own default here).
    requantize: calibrate afresh even when the cache holds a quantized
      model.
  """
  calibration_images: int = 300
  check_images: int = 500
  thresholds: GateThresholds = GateThresholds()
  preset: str = PRESET_PERFORMANCE
  model_type: str = MODEL_TYPE_NONE
  fast_bias_correction: bool = True
  subset_size: Optional[int] = None
  overflow_fix: str = OVERFLOW_FIX_FIRST_LAYER
  requantize: bool = False

  def cache_parts(self) -> Tuple[str, ...]:
    """What the quantized graph depends on (not the gate, not requantize)."""
    return (self.preset, self.model_type, str(self.fast_bias_correction),
            str(self.subset_size or self.calibration_images),
            str(self.calibration_images),
            self.overflow_fix)


def overflow_fix_for(requested: str, cpu_flags: FrozenSet[str],
                     remote_workers: bool) -> str:
  """NNCF's OverflowFix for ``--int8_overflow_fix`` (``auto``: every layer
  unless this CPU has VNNI and the model runs here; workers elsewhere may
  be AVX2-only, and a model quantized without the fix saturates there:
  benchmarks/README.md, "int8: NNCF's options")."""
  if requested != OVERFLOW_FIX_AUTO:
    return requested
  if remote_workers or not cpu_flags & VNNI_FLAGS:
    return OVERFLOW_FIX_ALL
  return OVERFLOW_FIX_FIRST_LAYER


def split_sizes(available: int, settings: QuantizationSettings
                ) -> Tuple[int, int]:
  """(calibration, check) image counts for a job with ``available`` decoded
  images: the settings' own when there are enough, else the first 60 %
  calibrate and the rest check.

  Raises:
    ValueError: fewer than :data:`MIN_IMAGES` images.
  """
  wanted = settings.calibration_images + settings.check_images
  if available >= wanted:
    return settings.calibration_images, settings.check_images
  if available < MIN_IMAGES:
    raise ValueError(
        f"int8 needs at least {MIN_IMAGES} decodable images to calibrate "
        f"and check on, found {available} in this job")
  calibration = int(available * SMALL_JOB_CALIBRATION_SHARE)
  return calibration, available - calibration
