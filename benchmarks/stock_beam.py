"""Arm (c): stock Beam, the approach of Beam's and Dataflow's TF Hub examples.

Per-element PIL decode + resize + /255, then
``RunInference(TFModelHandlerTensor(model_uri))``. Needs
``TF_USE_LEGACY_KERAS=1`` (the handler loads with ``tf.keras``).

    TF_USE_LEGACY_KERAS=1 python -m benchmarks.stock_beam --model DIR \
        --input 'corpus/*.jpg' --output /tmp/stock [--runner FnApiRunner]
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def preprocess(path: str, size: int):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with FileSystems.open(path) as f:
    image = Image.open(f).convert("RGB").resize((size, size))
  return tf.convert_to_tensor(np.asarray(image, np.float32) / 255.0)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument("--model", required=True)
  parser.add_argument("--input", required=True)
  parser.add_argument("--output", required=True)
  parser.add_argument("--size", type=int, default=224)
  args, beam_args = parser.parse_known_args(argv)
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.ml.inference.base import RunInference  # pylint: disable=g-import-not-at-top
  from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  handler = TFModelHandlerTensor(args.model)
  with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
    _ = (p
         | "Match" >> beam.io.fileio.MatchFiles(args.input)
         | "Paths" >> beam.Map(lambda m: m.path)
         | "Preprocess" >> beam.Map(preprocess, args.size)
         | "RunInference" >> RunInference(handler)
         | "Top1" >> beam.Map(lambda r: str(int(r.inference.numpy().argmax())))
         | "Write" >> beam.io.WriteToText(args.output))
  return 0


if __name__ == "__main__":
  sys.exit(main())
