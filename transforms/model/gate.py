"""The gate a reduced precision (int8, bfloat16) must pass on each job's own
images: how far it moves the outputs from float32 in the same engine.

Classification: the share of images with float32's top-1 class, and the
share whose float32 top-1 is within the top 5. Feature vectors: the mean and
the 1st percentile of the cosine to float32. Both kinds report every
figure; only the task's own pair decides. Pure functions on numpy arrays.

Each figure comes with its 95 % interval at the sample's size (issue 35):
Wilson's score interval for the two shares, the normal interval of the
mean for the mean cosine, and order statistics for the 1st percentile.
The point estimate decides, as the thresholds are written; the interval
says how far to trust it. When the deciding figure's interval holds its
threshold the verdict is marked inconclusive, and a refusal names how
many check images would settle it (:func:`images_to_settle`). The default
500 check images bound a share near 0.95 to about +/- 0.02.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Mapping, Optional, Tuple

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


# The normal quantile of a two-sided 95 % interval.
Z95 = 1.959964

Interval = Tuple[float, float]


def wilson(share: float, n: int, z: float = Z95) -> Interval:
  """Wilson's score interval for a share measured on ``n`` images (it stays
  inside [0, 1] and is honest near 0 and 1, where shares like top-1
  agreement live)."""
  if n <= 0:
    return (0.0, 1.0)
  denominator = 1 + z * z / n
  centre = (share + z * z / (2 * n)) / denominator
  half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (
      denominator)
  return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: np.ndarray, z: float = Z95) -> Interval:
  mean = float(np.mean(values))
  if len(values) < 2:
    return (mean, mean)
  half = z * float(np.std(values, ddof=1)) / math.sqrt(len(values))
  return (mean - half, mean + half)


def percentile_interval(values: np.ndarray, q: float,
                        z: float = Z95) -> Interval:
  """A distribution-free interval for the ``q`` quantile: the order
  statistics at n q -/+ z sqrt(n q (1 - q)) (the binomial's normal
  approximation)."""
  ordered = np.sort(values)
  n = len(ordered)
  spread = z * math.sqrt(n * q * (1 - q))
  low = max(0, int(math.floor(n * q - spread)) - 1)
  high = min(n - 1, int(math.ceil(n * q + spread)))
  return (float(ordered[low]), float(ordered[high]))


def images_to_settle(threshold: float, measured: float) -> int:
  """Check images at which a share's 95 % interval no longer holds
  ``threshold`` when the true share is ``measured`` (half-width below
  their distance); 0 when they are equal."""
  distance = abs(measured - threshold)
  if distance == 0:
    return 0
  p = min(max(measured, 1e-3), 1 - 1e-3)
  return int(math.ceil(Z95 * Z95 * p * (1 - p) / (distance * distance)))


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
    intervals: each figure's 95 % interval at this many images, by the
      figure's name.
    inconclusive: the deciding figures whose interval holds their
      threshold (the verdict is within the sample's noise), as
      ``name lo-hi holds threshold``; empty when the sample settles it.
  """
  precision: str
  images: int
  top1: float
  top5: float
  mean_cosine: float
  p1_cosine: float
  min_cosine: float
  failed: Optional[str]
  intervals: Mapping[str, Interval] = dataclasses.field(default_factory=dict)
  inconclusive: Tuple[str, ...] = ()

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
            "interval_95": {name: [round(lo, 5), round(hi, 5)]
                            for name, (lo, hi) in self.intervals.items()},
            "conclusive": not self.inconclusive,
            "passed": self.passed}

  def _with_interval(self, name: str, value: float, digits: int) -> str:
    if name not in self.intervals:
      return f"{value:.{digits}f}"
    lo, hi = self.intervals[name]
    return f"{value:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"

  def __str__(self) -> str:
    verdict = "passed" if self.passed else f"FAILED: {self.failed}"
    if self.inconclusive:
      verdict += ("; inconclusive at this sample's size: " +
                  "; ".join(self.inconclusive))
    return (f"{self.precision} vs float32 on {self.images} of the job's "
            "images (95 % intervals): top-1 "
            f"{self._with_interval('top1', self.top1, 3)}, float32 top-1 in "
            f"top-5 {self._with_interval('top5', self.top5, 3)}, cosine mean "
            f"{self._with_interval('mean_cosine', self.mean_cosine, 4)} / "
            "1st percentile "
            f"{self._with_interval('p1_cosine', self.p1_cosine, 4)} / min "
            f"{self.min_cosine:.4f}; {verdict}")


def _checks(task: str, limits: GateThresholds):
  """(figure, its name in messages, threshold, flag, is a share) for the
  figures that decide ``task``."""
  if task == tasks.TASK_CLASSIFICATION:
    return [("top1", "top-1 agreement", limits.min_top1, "--int8_min_top1",
             True),
            ("top5", "float32 top-1 in top-5", limits.min_top5,
             "--int8_min_top5", True)]
  return [("mean_cosine", "mean cosine", limits.min_mean_cosine,
           "--int8_min_mean_cosine", False),
          ("p1_cosine", "1st percentile cosine", limits.min_p1_cosine,
           "--int8_min_p1_cosine", False)]


def _verdict(task: str, figures: Mapping[str, float],
             intervals: Mapping[str, Interval], images: int,
             limits: GateThresholds) -> Tuple[Optional[str], Tuple[str, ...]]:
  """(the first threshold not met, or None; the deciding figures whose
  interval holds their threshold)."""
  failed, unsure = None, []
  for figure, name, limit, flag, share in _checks(task, limits):
    value = figures[figure]
    lo, hi = intervals[figure]
    if lo < limit <= hi:
      note = f"{name} {lo:.4f}-{hi:.4f} holds {limit}"
      if share:
        needed = images_to_settle(limit, value)
        if needed > images:
          note += (f" (about {needed} check images would settle it: "
                   f"--int8_check_images {needed})")
      unsure.append(note)
    if failed is None and value < limit:
      failed = f"{name} {value:.4f} < {limit} ({flag})"
  return failed, tuple(unsure)


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
  n = len(ref)
  figures = {"top1": top1, "top5": top5, "mean_cosine": mean,
             "p1_cosine": p1}
  intervals = {"top1": wilson(top1, n), "top5": wilson(top5, n),
               "mean_cosine": mean_interval(cosines),
               "p1_cosine": percentile_interval(cosines, 0.01)}
  failed, inconclusive = _verdict(task, figures, intervals, n, limits)
  return GateResult(
      precision=precision, images=n, top1=top1, top5=top5,
      mean_cosine=mean, p1_cosine=p1, min_cosine=float(np.min(cosines)),
      failed=failed, intervals=intervals, inconclusive=inconclusive)
