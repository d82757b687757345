"""Which precision the OpenVINO engine computes in, for ``--precision int8``
and ``--precision auto``, gated on the job's own images.

``int8`` quantizes the converted model with NNCF (or takes it from the
cache), runs the job's check images through it and through float32 in the
same engine, and refuses the job (exit 2, before anything is written or
cleared) when the gate (``gate``) fails, printing the figures and the
threshold. ``auto`` gates bfloat16 (where the CPU computes it natively) and
int8 the same way, times each candidate that passes on a few batches of the
check images, and keeps the fastest; float32 always qualifies. The verdict
is cached per model, settings and CPU model, and the gate still runs on the
verdict's precision in every job.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from transforms.core import flags
from transforms.model import gate
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine
from transforms.model import precision as precision_lib
from transforms.model import settings as model_settings
from transforms.model.description import ImageModelInfo
from transforms.model.openvino.quantization import calibration
from transforms.model.openvino.quantization import quantizer

_LOGGER = logging.getLogger("hub_image_beam")

BATCH = 32
TIMED_BATCHES = 3


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
  """Attributes:
    precision: what the workers compute in.
    gate: the gate's figures for it (None for float32).
    calibration_digest: of the images that calibrated the int8 model.
    quantized_key: the int8 model's key in the OpenVINO cache (workers load
      it), else None.
    reason: what was chosen and why, with the figures.
  """
  precision: str
  gate: Optional[Dict[str, object]] = None
  calibration_digest: str = ""
  quantized_key: Optional[str] = None
  reason: str = ""


def _run(runner, pixels: np.ndarray) -> Dict[str, np.ndarray]:
  parts = [runner.run_uint8(b) for b in calibration.batches(pixels, BATCH)]
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def images_per_second(runner, pixels: np.ndarray) -> float:
  """The runner's rate on up to TIMED_BATCHES batches, after one warm-up."""
  timed = pixels[:BATCH * TIMED_BATCHES]
  runner.run_uint8(timed[:BATCH])
  started = time.perf_counter()
  for batch in calibration.batches(timed, BATCH):
    runner.run_uint8(batch)
  return len(timed) / max(time.perf_counter() - started, 1e-9)


def cpu_model(cpuinfo: str) -> str:
  """The CPU's model name and a digest of its flags."""
  name = next((line.partition(":")[2].strip() for line in cpuinfo.splitlines()
               if line.startswith("model name")), "unknown CPU")
  flag_digest = hashlib.sha256(" ".join(sorted(
      precision_lib.cpu_flags(cpuinfo))).encode()).hexdigest()[:8]
  return f"{name} [{flag_digest}]"


class _Candidates:
  """Builds and gates the reduced precisions for one job."""

  def __init__(self, settings: model_settings.ModelSettings, converted: Any,
               conversion_key: str, info: ImageModelInfo, reference,
               sample: calibration.ImageSample):
    self._settings = settings
    self._converted, self._conversion_key = converted, conversion_key
    self._info, self._reference, self._sample = info, reference, sample
    self._check: Optional[np.ndarray] = None
    self._reference_out: Optional[Dict[str, np.ndarray]] = None
    self.quantized: Optional[quantizer.QuantizedModel] = None

  def check_images(self) -> np.ndarray:
    if self._check is None:
      self._check = self._sample.check()
      if not len(self._check):
        raise flags.ConfigError(
            f"--precision {self._settings.precision}: no check images left "
            "after calibration; the gate needs some of the job's images")
    return self._check

  def _reference_outputs(self) -> Dict[str, np.ndarray]:
    if self._reference_out is None:
      self._reference_out = _run(self._reference, self.check_images())
    return self._reference_out

  def build(self, precision: str):
    if precision == precision_lib.INT8:
      model, self.quantized = quantizer.load_or_quantize(
          self._converted, self._conversion_key,
          self._settings.openvino_cache, self._sample,
          self._settings.quantization)
      return ov_engine.compile_model(model, self._info, precision_lib.FLOAT32)
    return ov_engine.compile_model(self._converted, self._info, precision)

  def gated(self, precision: str) -> Tuple[Any, gate.GateResult]:
    runner = self.build(precision)
    _LOGGER.info("%s: gating on %d of the job's images", precision,
                 len(self.check_images()))
    result = gate.evaluate(self._reference_outputs(),
                           _run(runner, self.check_images()),
                           self._settings.task, precision,
                           self._settings.quantization.thresholds)
    _LOGGER.info("%s", result)
    return runner, result

  def choice(self, precision: str, result: Optional[gate.GateResult],
             reason: str) -> PrecisionChoice:
    quantized = self.quantized if precision == precision_lib.INT8 else None
    return PrecisionChoice(
        precision=precision,
        gate=result.figures() if result is not None else None,
        calibration_digest=quantized.calibration_digest if quantized else "",
        quantized_key=quantized.key if quantized else None, reason=reason)


def _int8(c: _Candidates) -> Tuple[Any, PrecisionChoice]:
  runner, result = c.gated(precision_lib.INT8)
  if not result.passed:
    raise flags.ConfigError(
        f"--precision int8 refused: {result}. Nothing was written or "
        "cleared; run in float32, or loosen the threshold named if the "
        "figures are good enough for this job")
  how = ("quantized now" if c.quantized and c.quantized.quantized_now else
         "quantized model from the cache")
  return runner, c.choice(precision_lib.INT8, result, f"int8 ({how}): "
                          f"{result}")


def _verdict_name(settings: model_settings.ModelSettings,
                  conversion_key: str, cpu: str) -> str:
  parts = [conversion_key, cpu, *settings.quantization.cache_parts(),
           str(settings.quantization.thresholds)]
  return "auto-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[
      :24] + ".json"


def _auto(c: _Candidates, settings: model_settings.ModelSettings,
          conversion_key: str, cpuinfo: str) -> Tuple[Any, PrecisionChoice]:
  cpu = cpu_model(cpuinfo)
  cache = settings.openvino_cache
  name = _verdict_name(settings, conversion_key, cpu)
  verdict = ov_cache.read_record(cache, name) if cache else None
  if verdict and verdict.get("precision") in precision_lib.PRECISIONS:
    chosen = str(verdict["precision"])
    rates = verdict.get("rates", {})
    if chosen == precision_lib.FLOAT32:
      return c.build(chosen), c.choice(
          chosen, None, f"auto: float32, the cached verdict for {cpu} "
          f"(images/s: {rates})")
    runner, result = c.gated(chosen)
    if result.passed:
      return runner, c.choice(chosen, result, (
          f"auto: {chosen}, the cached verdict for {cpu} (images/s: "
          f"{rates}); gate on this job: {result}"))
    _LOGGER.warning("auto: the cached verdict %s fails this job's gate (%s);"
                    " measuring again", chosen, result)
  pixels = c.check_images()
  candidates: List[Tuple[str, Any, Optional[gate.GateResult]]] = [
      (precision_lib.FLOAT32, c.build(precision_lib.FLOAT32), None)]
  native_bf16 = precision_lib.cpu_flags(cpuinfo) & set(
      precision_lib.NATIVE_BFLOAT16_FLAGS)
  tried = [precision_lib.BFLOAT16] if native_bf16 else []
  tried.append(precision_lib.INT8)
  refused = []
  for precision in tried:
    gated_runner, gated = c.gated(precision)
    if gated.passed:
      candidates.append((precision, gated_runner, gated))
    else:
      refused.append(f"{precision} failed the gate ({gated.failed})")
  rates = {p: round(images_per_second(r, pixels), 1)
           for p, r, _ in candidates}
  chosen, best, best_gate = max(candidates, key=lambda c3: rates[c3[0]])
  if not native_bf16:
    refused.append("bfloat16 not tried: this CPU has no native bfloat16")
  if cache:
    ov_cache.store_record(cache, name, {"precision": chosen, "rates": rates,
                                        "cpu": cpu})
  reason = (f"auto: {chosen}, the fastest that passes on {cpu} (images/s "
            f"on the job's images: {rates})" +
            (f"; {'; '.join(refused)}" if refused else "") +
            (f"; gate: {best_gate}" if best_gate is not None else ""))
  return best, c.choice(chosen, best_gate, reason)


def choose(settings: model_settings.ModelSettings, converted: Any,
           conversion_key: str, info: ImageModelInfo, reference,
           sample: Optional[calibration.ImageSample]
           ) -> Tuple[Any, PrecisionChoice]:
  """Resolves ``--precision int8`` or ``auto`` on the OpenVINO engine.

  Args:
    settings: the model stage's settings.
    converted: the converted float32 ``ov.Model``.
    conversion_key: its cache key.
    info: the model's description.
    reference: the float32 compiled model (``ov_engine.OpenVinoModel``).
    sample: the job's own images.

  Returns:
    (the compiled model the workers run, the choice).

  Raises:
    flags.ConfigError: int8 fails the gate, or there is no sample.
  """
  if sample is None:
    raise flags.ConfigError(
        f"--precision {settings.precision}: expected the job's own images "
        "to calibrate and gate on, found none")
  c = _Candidates(settings, converted, conversion_key, info, reference,
                  sample)
  if settings.precision == precision_lib.INT8:
    return _int8(c)
  return _auto(c, settings, conversion_key, precision_lib.read_cpuinfo())
