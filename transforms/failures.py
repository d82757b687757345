"""The failure record: what every stage emits instead of raising on bad data.

A bad record is data, not an exception. Each stage that can reject an input
emits a :class:`Failure` to a tagged side output; the pipeline flattens them
into the failures sink so every input key appears exactly once, in results or
in failures.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

FAILURES_TAG = "failures"

# Stages, in pipeline order.
STAGE_READ = "read"
STAGE_DECODE = "decode"
STAGE_INFERENCE = "inference"
STAGE_WRITE = "write"

# Reason codes. Stable strings: they are counter names and a column in the
# failures output that users filter on.
REASON_READ_ERROR = "read_error"
REASON_EMPTY = "empty_file"
REASON_NOT_AN_IMAGE = "not_an_image"
REASON_TRUNCATED = "truncated"
REASON_CORRUPT = "corrupt"
REASON_TOO_LARGE = "too_many_pixels"
REASON_MISSING_FEATURE = "missing_feature"
REASON_INFERENCE_ERROR = "inference_error"
REASON_BAD_OUTPUT = "bad_model_output"


@dataclasses.dataclass(frozen=True)
class Failure:
  """One input that did not produce a result.

  Attributes:
    key: the input's key (a file path, record id or manifest id).
    stage: where it failed: read, decode, inference or write.
    reason: a stable reason code, e.g. ``truncated``.
    message: a human-readable explanation.
  """
  key: str
  stage: str
  reason: str
  message: str

  def as_row(self) -> dict:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.as_row(), ensure_ascii=False, sort_keys=True)


class ImageFailure(Exception):
  """Raised by pure functions for a bad input; carries the reason code."""

  def __init__(self, reason: str, message: str,
               key: Optional[str] = None):
    super().__init__(message)
    self.reason = reason
    self.message = message
    self.key = key  # Set when the failing function learned the input's key.
