"""The TF Hub image-model contract as checkable rules.

Each rule returns a :class:`RuleResult` (PASS/FAIL and the values found). The
pipeline runs the static rules plus a tiny probe call while it is built, so a
bad model fails before any input is read; ``pipelines.inspect_model`` runs
all of them and prints the report.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from transforms import model_loading

RULE_INPUT = "input is float32 [batch, height, width, 3] with a free batch"
RULE_OUTPUT = "output is float32 [batch, N] with N fixed"
RULE_ANY_BATCH = "any batch size works (batch of 1 and of 3 agree)"
RULE_DETERMINISTIC = "outputs are deterministic in inference mode"
RULE_LABELS = "label count equals N"

# Batched and single-image runs of the same picture differ only by kernel
# choice and summation order in float32.
AGREEMENT_ATOL = 1e-3
AGREEMENT_RTOL = 1e-3


@dataclasses.dataclass(frozen=True)
class RuleResult:
  rule: str
  passed: bool
  detail: str

  def __str__(self) -> str:
    return f"{'PASS' if self.passed else 'FAIL'}  {self.rule}: {self.detail}"


def check_input(info: model_loading.ImageModelInfo) -> RuleResult:
  spec = info.input
  shape = spec.shape
  problems = []
  if spec.dtype != "float32":
    problems.append(f"dtype {spec.dtype}")
  if shape is None or len(shape) != 4:
    problems.append(f"rank {None if shape is None else len(shape)}")
  else:
    if shape[0] is not None:
      problems.append(f"fixed batch size {shape[0]}")
    if shape[3] != 3:
      problems.append(f"{shape[3]} channels")
  detail = f"found {spec.name}: {spec}"
  if problems:
    detail += f" ({'; '.join(problems)})"
  return RuleResult(RULE_INPUT, not problems, detail)


def check_output_static(info: model_loading.ImageModelInfo) -> RuleResult:
  spec = info.output
  shape = spec.shape
  problems = []
  if spec.dtype != "float32":
    problems.append(f"dtype {spec.dtype}")
  if shape is not None and len(shape) != 2:
    problems.append(f"rank {len(shape)}")
  elif shape is not None and shape[0] is not None:
    problems.append(f"fixed batch size {shape[0]}")
  detail = f"found {spec.name}: {spec}"
  if problems:
    detail += f" ({'; '.join(problems)})"
  return RuleResult(RULE_OUTPUT, not problems, detail)


def static_rules(info: model_loading.ImageModelInfo) -> List[RuleResult]:
  return [check_input(info), check_output_static(info)]


def probe_images(size: Tuple[int, int], batch: int, seed: int = 0) -> np.ndarray:
  """Deterministic float32 [batch, h, w, 3] test images in [0, 1]."""
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, size=(batch,) + tuple(size) + (3,),
                        dtype=np.uint8)
  return pixels.astype(np.float32) / 255.0


def probe_output(
    model: model_loading.ImageModel, size: Tuple[int, int]
) -> Tuple[RuleResult, Optional[Dict[str, np.ndarray]]]:
  """Calls the model on a batch of 2 and checks the output is [2, N] float32.

  Returns:
    The rule result and the outputs (None when the call failed).
  """
  try:
    outputs = model(probe_images(size, 2))
  except Exception as e:  # pylint: disable=broad-except
    lines = str(e).strip().splitlines()
    return RuleResult(RULE_OUTPUT,
                      False, f"calling the model on float32 [2, {size[0]}, "
                      f"{size[1]}, 3] failed: {type(e).__name__}: "
                      f"{lines[0] if lines else ''}"), None
  out = outputs[model_loading.DEFAULT_OUTPUT]
  ok = out.ndim == 2 and out.shape[0] == 2 and out.dtype == np.float32
  detail = f"a batch of 2 gave {out.dtype} {list(out.shape)}"
  return RuleResult(RULE_OUTPUT, ok, detail), outputs


def check_any_batch(model: model_loading.ImageModel,
                    size: Tuple[int, int]) -> RuleResult:
  images = probe_images(size, 3, seed=1)
  try:
    batch3 = model(images)["default"]
    singles = np.concatenate([model(images[i:i + 1])["default"]
                              for i in range(3)])
  except Exception as e:  # pylint: disable=broad-except
    return RuleResult(RULE_ANY_BATCH, False,
                      f"{type(e).__name__}: {str(e).splitlines()[0]}")
  if batch3.shape != singles.shape:
    return RuleResult(RULE_ANY_BATCH, False,
                      f"batch of 3 gave {list(batch3.shape)}, three batches "
                      f"of 1 gave {list(singles.shape)}")
  diff = float(np.max(np.abs(batch3 - singles))) if batch3.size else 0.0
  ok = bool(np.allclose(batch3, singles, atol=AGREEMENT_ATOL,
                        rtol=AGREEMENT_RTOL))
  return RuleResult(RULE_ANY_BATCH, ok, f"max |difference| {diff:.3g}")


def check_deterministic(model: model_loading.ImageModel,
                        size: Tuple[int, int]) -> RuleResult:
  images = probe_images(size, 3, seed=2)
  try:
    first = model(images)["default"]
    second = model(images)["default"]
  except Exception as e:  # pylint: disable=broad-except
    return RuleResult(RULE_DETERMINISTIC, False,
                      f"{type(e).__name__}: {str(e).splitlines()[0]}")
  diff = float(np.max(np.abs(first - second))) if first.size else 0.0
  ok = bool(np.allclose(first, second, atol=AGREEMENT_ATOL,
                        rtol=AGREEMENT_RTOL))
  detail = f"two calls on the same batch differ by at most {diff:.3g}"
  if not ok:
    detail += " (dropout or other randomness active in inference mode?)"
  return RuleResult(RULE_DETERMINISTIC, ok, detail)


def check_labels(num_labels: int, width: Optional[int]) -> RuleResult:
  ok = width is not None and num_labels == width
  return RuleResult(RULE_LABELS, ok,
                    f"{num_labels} labels, model output N = {width}")


def failed(results: Sequence[RuleResult]) -> List[RuleResult]:
  return [r for r in results if not r.passed]
