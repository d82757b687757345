"""Arm (a): the model's own forward pass on ready float32 batches.

    python -m benchmarks.model_bound --model DIR --images N --batch_size 32

Prints one JSON line: {"images": N, "seconds": S}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument("--model", required=True)
  parser.add_argument("--images", type=int, default=2000)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--size", type=int, default=224)
  args = parser.parse_args(argv)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(args.model)
  rng = np.random.default_rng(0)
  batch = tf.constant(rng.random((args.batch_size, args.size, args.size, 3),
                                 dtype=np.float32))
  for _ in range(3):
    model(batch).numpy()  # warm-up: tracing, oneDNN primitive caches
  batches = -(-args.images // args.batch_size)
  start = time.perf_counter()
  for _ in range(batches):
    model(batch).numpy()
  seconds = time.perf_counter() - start
  print(json.dumps({"images": batches * args.batch_size, "seconds": seconds}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
