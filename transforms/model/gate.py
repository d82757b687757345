"""The gate a reduced precision (int8, bfloat16) must pass on each job's own
images: how far it moves the outputs from float32 in the same engine.

Classification: the share of images with float32's top-1 class, and the
share whose float32 top-1 is within the top 5. Feature vectors: the mean and
the 1st percentile of the cosine to float32. Both kinds report every
figure; only the task's own pair decides. Pure functions on numpy arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Optional

import numpy as np

from transforms.core import tasks
from transforms.model import faithfulness


@dataclasses.dataclass(frozen=True)
class GateThresholds:
  """How close int8 (or bfloat16) must stay to float32 on the job's own
  check images. Classification is held to the first two, feature vectors
  to the last two.

  Attributes:
    min_top1: share of images whose top-1 class is float32's.
    min_top5: share of images whose float32 top-1 is in the top 5.
    min_mean_cosine: mean cosine of the outputs to float32's.
    min_p1_cosine: 1st percentile of that cosine.
  """
  min_top1: float = 0.95
  min_top5: float = 0.99
  min_mean_cosine: float = 0.99
  min_p1_cosine: float = 0.95


@dataclasses.dataclass(frozen=True)
class GateResult:
  """Attributes:
    precision: what was gated (int8, bfloat16).
    images: check images compared.
    top1: share with float32's top-1 class.
    top5: share whose float32 top-1 is in the candidate's top 5.
    mean_cosine, p1_cosine, min_cosine: of the main output's rows.
    failed: the first threshold not met, as ``figure value < threshold
      (--flag)``; None when the gate passed.
  """
  precision: str
  images: int
  top1: float
  top5: float
  mean_cosine: float
  p1_cosine: float
  min_cosine: float
  failed: Optional[str]

  @property
  def passed(self) -> bool:
    return self.failed is None

  def figures(self) -> Dict[str, object]:
    """The figures as recorded with the results."""
    return {"precision": self.precision, "images": self.images,
            "top1": round(self.top1, 4), "top5": round(self.top5, 4),
            "mean_cosine": round(self.mean_cosine, 5),
            "p1_cosine": round(self.p1_cosine, 5),
            "min_cosine": round(self.min_cosine, 5),
            "passed": self.passed}

  def __str__(self) -> str:
    verdict = "passed" if self.passed else f"FAILED: {self.failed}"
    return (f"{self.precision} vs float32 on {self.images} of the job's "
            f"images: top-1 {self.top1:.3f}, float32 top-1 in top-5 "
            f"{self.top5:.3f}, cosine mean {self.mean_cosine:.4f} / 1st "
            f"percentile {self.p1_cosine:.4f} / min {self.min_cosine:.4f}; "
            f"{verdict}")


def _first_failure(task: str, top1: float, top5: float, mean: float,
                   p1: float, limits: GateThresholds) -> Optional[str]:
  if task == tasks.TASK_CLASSIFICATION:
    checks = [("top-1 agreement", top1, limits.min_top1, "--int8_min_top1"),
              ("float32 top-1 in top-5", top5, limits.min_top5,
               "--int8_min_top5")]
  else:
    checks = [("mean cosine", mean, limits.min_mean_cosine,
               "--int8_min_mean_cosine"),
              ("1st percentile cosine", p1, limits.min_p1_cosine,
               "--int8_min_p1_cosine")]
  for name, value, limit, flag in checks:
    if value < limit:
      return f"{name} {value:.4f} < {limit} ({flag})"
  return None


def evaluate(reference: Mapping[str, np.ndarray],
             candidate: Mapping[str, np.ndarray], task: str,
             precision: str, limits: GateThresholds) -> GateResult:
  """Gates ``candidate`` against float32's ``reference`` for one batch of
  the job's check images.

  Args:
    reference: float32's ``{"default": [rows, N], ...}``.
    candidate: the reduced precision's, same rows.
    task: classification or feature_vector: which figures decide.
    precision: the candidate's name, for the record.
    limits: the thresholds.
  """
  ref = np.asarray(reference[tasks.DEFAULT_OUTPUT], np.float64)
  got = np.asarray(candidate[tasks.DEFAULT_OUTPUT], np.float64)
  cosines = faithfulness.row_cosines(ref, got)
  top1_ref = np.argmax(ref, axis=1)
  top1 = float(np.mean(top1_ref == np.argmax(got, axis=1)))
  top5_of_got = np.argsort(-got, axis=1)[:, :5]
  top5 = float(np.mean([t in row for t, row in zip(top1_ref, top5_of_got)]))
  mean, p1 = float(np.mean(cosines)), float(np.percentile(cosines, 1))
  return GateResult(
      precision=precision, images=len(ref), top1=top1, top5=top5,
      mean_cosine=mean, p1_cosine=p1, min_cosine=float(np.min(cosines)),
      failed=_first_failure(task, top1, top5, mean, p1, limits))
