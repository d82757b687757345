"""A streaming pipeline: image references arrive as messages, embeddings
are written window by window.

Each Pub/Sub message is a JSON object ``{"id": ..., "uri": ...}`` (a path,
a ``gs://`` object or an http(s) URL). Images are embedded as they arrive
and written every ``--window_seconds`` under ``--output``, one set of files
per window (``results-START-END-pPANE-...parquet``), with every message
that failed in ``failures/`` beside them. A message that is not valid
JSON, or lacks ``id`` or ``uri``, is a failure too: nothing is dropped.

    python examples/streaming_embeddings.py \
        --subscription projects/P/subscriptions/S \
        --model ../shared/models/mobilenet_v2_100_224/feature_vector \
        --output gs://bucket/embeddings --runner DataflowRunner ...

The test suite runs :func:`build` on Beam's ``TestStream`` in place of
Pub/Sub (``tests/test_examples.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Iterator, List, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.transforms import trigger
from apache_beam.transforms import window

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from transforms import api  # pylint: disable=wrong-import-position


class ParseMessage(beam.DoFn):
  """A message -> (id, uri); a bad one -> a failure row, keyed by its
  position in the stream when it has no usable id."""

  def process(self, message: bytes, at=beam.DoFn.TimestampParam
              ) -> Iterator:
    try:
      fields = json.loads(message.decode("utf-8"))
      key, uri = fields["id"], fields["uri"]
      if not isinstance(key, str) or not isinstance(uri, str):
        raise TypeError("id and uri must be strings")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      yield beam.pvalue.TaggedOutput("failures", api.failure_row(
          f"message@{at}", "bad_message",
          f"not a JSON {{id, uri}} message: {type(e).__name__}"))
      return
    yield key, uri


def build(messages: beam.PCollection, infer: api.InferImages, output: str,
          window_seconds: float) -> None:
  """Messages (bytes) -> windowed embeddings and failures under ``output``."""
  windowed = messages | "Windows" >> beam.WindowInto(
      window.FixedWindows(window_seconds),
      trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
      allowed_lateness=window_seconds,
      accumulation_mode=trigger.AccumulationMode.DISCARDING)
  parsed = windowed | "Parse" >> beam.ParDo(ParseMessage()).with_outputs(
      "failures", main="images")
  inferred = parsed.images | "Embed" >> infer
  failures = ((inferred.failures, parsed.failures)
              | "AllFailures" >> beam.Flatten())
  _ = (api.InferOutput(inferred.results, failures)
       | "Write" >> api.WriteResults(output))


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--subscription", required=True)
  parser.add_argument("--model", required=True)
  parser.add_argument("--output", required=True)
  parser.add_argument("--window_seconds", type=float, default=60.0)
  args, beam_args = parser.parse_known_args(argv)
  options = api.pipeline_options(beam_args)
  options.view_as(StandardOptions).streaming = True
  infer = api.InferImages(args.model, task="feature_vector",
                          remote_workers=api.is_dataflow(options))
  with beam.Pipeline(options=options) as pipeline:
    messages = pipeline | "Messages" >> beam.io.ReadFromPubSub(
        subscription=args.subscription)
    build(messages, infer, args.output, args.window_seconds)
  return 0


if __name__ == "__main__":
  sys.exit(main())
