"""The model stage's check of what the model returned for one image.

A model that returns NaN/inf or the wrong shape for an image fails that image
(stage ``inference``, reason ``bad_model_output``), not the job.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from transforms.core import failures
from transforms.core import tasks


def check_image_outputs(outputs: Mapping[str, np.ndarray]) -> None:
  """Checks one image's main output is a finite vector [N].

  Args:
    outputs: ``{"default": [N], <extra>: [...]}`` for one image.

  Raises:
    failures.ImageFailure: reason ``bad_model_output``, with what was found.
  """
  main = np.asarray(outputs[tasks.DEFAULT_OUTPUT])
  if main.ndim != 1:
    raise failures.ImageFailure(
        failures.REASON_BAD_OUTPUT,
        f"model output for one image has shape {list(main.shape)}, "
        "expected [N]")
  if not np.all(np.isfinite(main)):
    raise failures.ImageFailure(
        failures.REASON_BAD_OUTPUT,
        f"model output has {int(np.sum(~np.isfinite(main)))} non-finite "
        "values (NaN or inf)")
