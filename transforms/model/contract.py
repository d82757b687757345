"""The TF Hub image-model contract as checkable rules.

Each rule returns a :class:`RuleResult` (PASS/FAIL and the values found). The
static rules read the model's description; the others call the loaded model
through its engine's wrapper. The job plan (``resolve``) runs the static
rules plus a tiny probe call while the pipeline is built, so a bad model
fails before any input is read; ``pipelines.inspect_model`` runs all of them
and prints the report.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from transforms.core import tasks
from transforms.model import description
from transforms.model.tensorflow import engine as tf_engine

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


def _static_result(rule: str, spec: description.TensorInfo,
                   problems: List[str]) -> RuleResult:
  detail = f"found {spec.name}: {spec}"
  if problems:
    detail += f" ({'; '.join(problems)})"
  return RuleResult(rule, not problems, detail)


def check_input(info: description.ImageModelInfo) -> RuleResult:
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
  return _static_result(RULE_INPUT, spec, problems)


def check_output_static(info: description.ImageModelInfo) -> RuleResult:
  spec = info.output
  shape = spec.shape
  problems = []
  if spec.dtype != "float32":
    problems.append(f"dtype {spec.dtype}")
  if shape is not None and len(shape) != 2:
    problems.append(f"rank {len(shape)}")
  elif shape is not None and shape[0] is not None:
    problems.append(f"fixed batch size {shape[0]}")
  return _static_result(RULE_OUTPUT, spec, problems)


def static_rules(info: description.ImageModelInfo) -> List[RuleResult]:
  return [check_input(info), check_output_static(info)]


def probe_images(size: Tuple[int, int], batch: int, seed: int = 0,
                 dtype: str = "float32") -> np.ndarray:
  """Deterministic test images [batch, h, w, 3]: float in [0, 1], or uint8.

  A model that breaks the input rule (say, uint8 input) is still fed what it
  declares, so the other rules are judged on their own.
  """
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, size=(batch,) + tuple(size) + (3,),
                        dtype=np.uint8)
  if dtype == "uint8":
    return pixels
  return pixels.astype(np.dtype(dtype)) / np.dtype(dtype).type(255)


def _images(model, size, batch, seed):
  return probe_images(size, batch, seed, model.info.input.dtype)


def _first_line(e: Exception) -> str:
  lines = str(e).strip().splitlines()
  return f"{type(e).__name__}: {lines[0] if lines else ''}"


def probe_output(
    model: Union[tf_engine.ImageModel, description.ImageRunner],
    size: Tuple[int, int],
    pipeline_entry: bool = False
) -> Tuple[RuleResult, Optional[Dict[str, np.ndarray]]]:
  """Calls the model on a small batch and checks the output is [B, N] float32.

  The batch is 2, or the model's fixed batch size if it has one.

  Args:
    model: the loaded model (any engine's with ``pipeline_entry``).
    size: (height, width) of the probe images.
    pipeline_entry: call :meth:`~ImageModel.run_uint8` on uint8 pixels,
      exactly what the workers call (the job's pre-run check), instead of
      the float entry point on what the model declares (the inspector).

  Returns:
    The rule result and the outputs (None when the call failed).
  """
  batch = (model.info.input.shape or (None,))[0] or 2
  try:
    if pipeline_entry:
      outputs = model.run_uint8(probe_images(size, batch, 0, "uint8"))
    else:
      assert isinstance(model, tf_engine.ImageModel)  # the float entry
      outputs = model(_images(model, size, batch, 0))
  except Exception as e:  # pylint: disable=broad-except
    return RuleResult(RULE_OUTPUT, False,
                      f"calling the model on [{batch}, {size[0]}, {size[1]}, "
                      f"3] failed: {_first_line(e)}"), None
  out = outputs[tasks.DEFAULT_OUTPUT]
  ok = out.ndim == 2 and out.shape[0] == batch and out.dtype == np.float32
  detail = f"a batch of {batch} gave {out.dtype} {list(out.shape)}"
  return RuleResult(RULE_OUTPUT, ok, detail), outputs


def check_any_batch(model: tf_engine.ImageModel,
                    size: Tuple[int, int]) -> RuleResult:
  images = _images(model, size, 3, 1)
  try:
    batch3 = model(images)[tasks.DEFAULT_OUTPUT]
    singles = np.concatenate([model(images[i:i + 1])[tasks.DEFAULT_OUTPUT]
                              for i in range(3)])
  except Exception as e:  # pylint: disable=broad-except
    return RuleResult(RULE_ANY_BATCH, False, _first_line(e))
  if batch3.shape != singles.shape:
    return RuleResult(RULE_ANY_BATCH, False,
                      f"batch of 3 gave {list(batch3.shape)}, three batches "
                      f"of 1 gave {list(singles.shape)}")
  diff = float(np.max(np.abs(batch3 - singles))) if batch3.size else 0.0
  ok = bool(np.allclose(batch3, singles, atol=AGREEMENT_ATOL,
                        rtol=AGREEMENT_RTOL))
  return RuleResult(RULE_ANY_BATCH, ok, f"max |difference| {diff:.3g}")


def check_deterministic(model: tf_engine.ImageModel,
                        size: Tuple[int, int]) -> RuleResult:
  batch = (model.info.input.shape or (None,))[0] or 3
  images = _images(model, size, batch, 2)
  try:
    first = model(images)[tasks.DEFAULT_OUTPUT]
    second = model(images)[tasks.DEFAULT_OUTPUT]
  except Exception as e:  # pylint: disable=broad-except
    return RuleResult(RULE_DETERMINISTIC, False, _first_line(e))
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
