"""The failure record: what every stage emits instead of raising on bad data.

A bad record is data, not an exception. Each stage that can reject an input
emits a :class:`Failure` with :func:`failure_output` to its ``failures``
output; the job flattens them into the failures sink so every input key
appears exactly once, in results or in failures. Every reason code the tool
writes is declared here.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import apache_beam as beam

FAILURES_TAG = "failures"

# Stages, in pipeline order.
STAGE_READ = "read"
STAGE_FETCH = "fetch"
STAGE_DECODE = "decode"
STAGE_INFERENCE = "inference"
STAGES = (STAGE_READ, STAGE_FETCH, STAGE_DECODE, STAGE_INFERENCE)

# Reason codes. Stable strings: they are counter names and a column in the
# failures output that users filter on.
REASON_READ_ERROR = "read_error"            # read: the file cannot be read
REASON_DANGLING_SYMLINK = "dangling_symlink"  # read: a link to nothing
REASON_PERMISSION = "permission_denied"     # read: not readable by us
REASON_VANISHED = "vanished"                # read: gone since it was listed
REASON_NOT_FOUND = "not_found"              # read: a manifest's URI is not there
REASON_MISSING_URI = "missing_uri"          # read: a manifest row has no URI
REASON_MISSING_IMAGE = "missing_image"      # read: a sample or row has none
REASON_DUPLICATE_KEY = "duplicate_key"      # read: an earlier input has the key
REASON_BAD_ARCHIVE = "bad_archive"          # read: a shard unreadable from here
REASON_BAD_RECORD = "bad_record"            # read: TFRecord framing/Example
REASON_MEMBER_TOO_LARGE = "member_too_large"  # read: a tar member over the cap
REASON_BAD_FILE = "bad_file"                # read: not readable as its format
REASON_WRONG_SCHEMA = "wrong_schema"        # read: lacks the columns asked for
REASON_MISSING_FEATURE = "missing_feature"  # read: no image bytes feature
REASON_BLOCKED_ADDRESS = "blocked_address"  # fetch: private, metadata, ...
REASON_REDIRECT = "redirect"                # fetch: a loop or too many
REASON_HTTP_STATUS = "http"                 # fetch: not 200 (after retries)
REASON_OPTED_OUT = "opted_out"              # fetch: X-Robots-Tag noai, ...
REASON_ROBOTS = "robots"                    # fetch: robots.txt disallows it
REASON_ROBOTS_UNREACHABLE = "robots_unreachable"  # fetch: robots.txt 5xx/down
REASON_RESPONSE_TOO_LARGE = "response_too_large"  # fetch: above --max_bytes
REASON_TIMEOUT = "timeout"                  # fetch: connect/read/deadline
REASON_CONNECTION_ERROR = "connection"     # fetch: after retries
REASON_UNSUPPORTED_URL = "unsupported_url"  # fetch: scheme, no host
REASON_BAD_URL = "bad_url"                  # read/fetch: not a valid URL
REASON_CREDENTIALS = "credentials_in_url"  # read: user:pass@ in a URL
REASON_EMPTY = "empty_file"                 # decode
REASON_NOT_AN_IMAGE = "not_an_image"        # decode
REASON_TRUNCATED = "truncated"              # decode
REASON_CORRUPT = "corrupt"                  # decode
REASON_TOO_LARGE = "too_many_pixels"        # decode
REASON_INFERENCE_ERROR = "inference_error"  # inference: the model raised
REASON_BAD_OUTPUT = "bad_model_output"      # inference: NaN/inf or bad shape
REASONS = (REASON_READ_ERROR, REASON_DANGLING_SYMLINK, REASON_PERMISSION,
           REASON_VANISHED, REASON_NOT_FOUND, REASON_MISSING_URI,
           REASON_MISSING_IMAGE, REASON_DUPLICATE_KEY, REASON_BAD_ARCHIVE,
           REASON_BLOCKED_ADDRESS, REASON_REDIRECT, REASON_HTTP_STATUS,
           REASON_OPTED_OUT, REASON_ROBOTS, REASON_ROBOTS_UNREACHABLE,
           REASON_RESPONSE_TOO_LARGE,
           REASON_TIMEOUT, REASON_CONNECTION_ERROR, REASON_UNSUPPORTED_URL,
           REASON_BAD_URL,
           REASON_CREDENTIALS,
           REASON_BAD_RECORD, REASON_BAD_FILE, REASON_WRONG_SCHEMA,
           REASON_MEMBER_TOO_LARGE,
           REASON_MISSING_FEATURE, REASON_EMPTY,
           REASON_NOT_AN_IMAGE,
           REASON_TRUNCATED, REASON_CORRUPT, REASON_TOO_LARGE,
           REASON_INFERENCE_ERROR, REASON_BAD_OUTPUT)


@dataclasses.dataclass(frozen=True)
class Failure:
  """One input that did not produce a result.

  Attributes:
    key: the input's key (a file path, record id or manifest id).
    stage: where it failed: read, decode or inference.
    reason: a stable reason code, e.g. ``truncated``.
    message: a human-readable explanation.
    key_escaped: ``key`` is an escaped file name (``core.file_names``).
  """
  key: str
  stage: str
  reason: str
  message: str
  key_escaped: bool = False

  def as_row(self) -> dict:
    return dataclasses.asdict(self)


class ImageFailure(Exception):
  """Raised by pure functions for a bad input; carries the reason code."""

  def __init__(self, reason: str, message: str,
               key: Optional[str] = None):
    super().__init__(message)
    self.reason = reason
    self.message = message
    self.key = key  # Set when the failing function learned the input's key.


def tagged(failure: Failure) -> beam.pvalue.TaggedOutput:
  """The one way a DoFn emits a failure: tagged for the failures output."""
  return beam.pvalue.TaggedOutput(FAILURES_TAG, failure)


def failure_output(key: str, stage: str, reason: str, message: str,
                   escaped: bool = False) -> beam.pvalue.TaggedOutput:
  """:func:`tagged` for a failure made here."""
  return tagged(Failure(key, stage, reason, message, escaped))


def failure_record(key: str, stage: str, error: ImageFailure,
                   escaped: bool = False) -> Failure:
  """The Failure for a pure function's ImageFailure (the key it learned,
  if any, wins over ``key``; such a key is never escaped)."""
  if error.key:
    return Failure(error.key, stage, error.reason, error.message)
  return Failure(key, stage, error.reason, error.message, escaped)


def failure_from(key: str, stage: str, error: ImageFailure,
                 escaped: bool = False) -> beam.pvalue.TaggedOutput:
  """:func:`tagged` for a pure function's ImageFailure."""
  return tagged(failure_record(key, stage, error, escaped))
