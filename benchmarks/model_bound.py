"""Arm (a): the model's own forward pass on ready batches.

    python -m benchmarks.model_bound --model DIR --images N --batch_size 32 \
        [--callers 2] [--precision bfloat16] [--engine openvino]

``--engine tensorflow`` (default) calls the SavedModel on float32 batches;
``--engine openvino`` runs the same model converted and compiled the way
the job's OpenVINO engine does (``process_policy.load_for``), on uint8
batches (the ``/ 255`` is in its graph); with ``--precision int8`` it loads
the int8 model a job quantized and gated (``--quantized_key``,
``--openvino_cache``), as a worker does.

With ``--callers 2``, two threads call the model at once (each its share of
the batches), which fills the gaps one caller leaves in TensorFlow's thread
pool: on 2 cores about 10 % more images/s than one caller. The benchmark's
bound is the best of one and two callers.

Prints one JSON line: {"images": N, "seconds": S, "callers": C}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument("--model", required=True)
  parser.add_argument("--images", type=int, default=2000)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--size", type=int, default=224)
  parser.add_argument("--callers", type=int, default=1)
  parser.add_argument("--precision", default="float32",
                      help="float32 or bfloat16 (transforms.model.precision)")
  parser.add_argument("--engine", default="tensorflow",
                      help="tensorflow or openvino")
  parser.add_argument("--quantized_key", default=None,
                      help="--precision int8: the gated int8 model's key in "
                      "--openvino_cache (a job's quantized_model metadata)")
  parser.add_argument("--openvino_cache", default=None)
  args = parser.parse_args(argv)
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  shape = (args.batch_size, args.size, args.size, 3)
  if args.engine == "openvino":
    from transforms.model import process_policy  # pylint: disable=g-import-not-at-top
    from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
    runner = process_policy.load_for(
        model_settings.ModelSettings(handle=args.model,
                                     precision=args.precision,
                                     openvino_cache=args.openvino_cache),
        (args.size, args.size), model_settings.ENGINE_OPENVINO,
        args.precision, args.quantized_key)
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    forward = lambda: runner.run_uint8(pixels)
  else:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from transforms.model import precision  # pylint: disable=g-import-not-at-top
    precision.apply(args.precision)
    model = tf.saved_model.load(args.model)
    batch = tf.constant(rng.random(shape, dtype=np.float32))
    forward = lambda: model(batch).numpy()
  for _ in range(3):
    forward()  # warm-up: tracing, primitive caches
  per_caller = -(-args.images // (args.batch_size * args.callers))

  def call_model():
    for _ in range(per_caller):
      forward()

  callers = [threading.Thread(target=call_model) for _ in range(args.callers)]
  start = time.perf_counter()
  for caller in callers:
    caller.start()
  for caller in callers:
    caller.join()
  seconds = time.perf_counter() - start
  print(json.dumps({"images": per_caller * args.callers * args.batch_size,
                    "seconds": seconds, "callers": args.callers}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
