"""NNCF's options for int8, measured side by side on one model and corpus.

    python -m benchmarks.int8_options [--model DIR] [--task classification] \
        [--images 500] [--work_dir /tmp/hub_image_beam_int8]

For each option set: quantize on the corpus' first 300 images (decoded as
the job decodes them), gate on the next 200 against float32 in the same
engine (``model.gate``), and time the int8 model alone on batches of 32
against float32 (ratios, in one run). The options: NNCF's preset, model
type, fast vs full bias correction, the statistics subset size, and
``nncf.quantize_with_accuracy_control`` with the gate's top-1 agreement as
its validation function. Prints one table and writes JSON with
``--json_out``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Tuple

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

OPTION_SETS: List[Tuple[str, Dict[str, Any]]] = [
    ("default (performance, fast bias, all 300)", {}),
    ("preset mixed", {"preset": "mixed"}),
    ("model_type transformer", {"model_type": "transformer"}),
    ("full bias correction", {"fast_bias_correction": False}),
    ("subset 100", {"subset_size": 100}),
    ("calibration 100 images", {"calibration_images": 100}),
    ("overflow fix, every layer", {"overflow_fix": "enable"}),
    ("overflow fix, none", {"overflow_fix": "disable"}),
    ("overflow fix + full bias correction",
     {"overflow_fix": "enable", "fast_bias_correction": False}),
    ("overflow fix + preset mixed",
     {"overflow_fix": "enable", "preset": "mixed"}),
]


def _rate(runner, pixels: np.ndarray, repeats: int = 4) -> float:
  batch = pixels[:32]
  runner.run_uint8(batch)
  started = time.perf_counter()
  for _ in range(repeats):
    runner.run_uint8(batch)
  return repeats * len(batch) / (time.perf_counter() - started)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=os.path.join(
      SHARED, "models", "mobilenet_v2_100_224", "classification"))
  parser.add_argument("--task", default="classification")
  parser.add_argument("--images", type=int, default=500)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_int8")
  parser.add_argument("--accuracy_control", action="store_true",
                      help="also run nncf.quantize_with_accuracy_control")
  parser.add_argument("--json_out", default=None)
  args = parser.parse_args(argv)
  import dataclasses  # pylint: disable=g-import-not-at-top
  import nncf  # pylint: disable=g-import-not-at-top
  from benchmarks import corpus  # pylint: disable=g-import-not-at-top
  from transforms.decode import settings as decode_settings  # pylint: disable=g-import-not-at-top
  from transforms.job import image_sample  # pylint: disable=g-import-not-at-top
  from transforms.model import gate  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino import cache as ov_cache  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino import engine as ov_engine  # pylint: disable=g-import-not-at-top
  from transforms.model import process_policy  # pylint: disable=g-import-not-at-top
  from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino.quantization import calibration  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino.quantization import config  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino.quantization import quantizer  # pylint: disable=g-import-not-at-top
  from transforms.read import files as files_lib  # pylint: disable=g-import-not-at-top
  from transforms.read import listing  # pylint: disable=g-import-not-at-top

  paths = corpus.ensure_corpus(os.path.join(args.work_dir, "photos"),
                               args.images)
  settings = model_settings.ModelSettings(handle=args.model, task=args.task,
                                          openvino_cache=None)
  tf_model = process_policy.load_tensorflow(settings, None, "float32")
  size = tf_model.info.expected_image_size or (224, 224)
  items = [files_lib.listed_input(listing.ListedFile(p)) for p in paths]
  pixels = image_sample.decode_all(items, size,
                                   decode_settings.DecodeSettings())
  cal_all, check = pixels[:300], pixels[300:500]
  converted = ov_cache.load_or_convert(tf_model, None)
  f32 = ov_engine.compile_model(converted, tf_model.info)
  reference = f32.run_uint8(check)
  rows: List[Dict] = []
  for name, overrides in OPTION_SETS:
    q = dataclasses.replace(config.QuantizationSettings(), **overrides)
    cal = cal_all[:q.calibration_images]
    started = time.perf_counter()
    model = quantizer.quantize(converted, cal, q)
    seconds = time.perf_counter() - started
    int8 = ov_engine.compile_model(model, tf_model.info)
    result = gate.evaluate(reference, int8.run_uint8(check), args.task,
                           "int8", gate.GateThresholds())
    f32_rate, int8_rate = _rate(f32, check), _rate(int8, check)
    rows.append(dict(result.figures(), option=name,
                     quantize_s=round(seconds, 1),
                     speedup=round(int8_rate / f32_rate, 2)))
    print(json.dumps(rows[-1]), flush=True)
  if args.accuracy_control:
    labels = np.argmax(reference["default"], axis=1)

    def validate(compiled, data) -> float:
      hits = [int(np.argmax(compiled(x)[0], axis=1)[0] == y)
              for x, y in data]
      return float(np.mean(hits))

    validation = nncf.Dataset([(check[i:i + 1], labels[i])
                               for i in range(len(check))])
    started = time.perf_counter()
    model = nncf.quantize_with_accuracy_control(
        converted, calibration.nncf_dataset(cal_all), validation,
        validation_fn=validate, max_drop=0.01)
    seconds = time.perf_counter() - started
    int8 = ov_engine.compile_model(model, tf_model.info)
    result = gate.evaluate(reference, int8.run_uint8(check), args.task,
                           "int8", gate.GateThresholds())
    rows.append(dict(result.figures(), option="accuracy control, max drop "
                     "0.01 (validated on the check images)",
                     quantize_s=round(seconds, 1),
                     speedup=round(_rate(int8, check) / _rate(f32, check),
                                   2)))
    print(json.dumps(rows[-1]), flush=True)
  print()
  print(f"{'option':<44}{'quant s':>8}{'top-1':>7}{'top-5':>7}"
        f"{'cos mean':>10}{'cos p1':>8}{'int8/f32':>9}")
  for r in rows:
    print(f"{r['option'][:43]:<44}{r['quantize_s']:>8}{r['top1']:>7}"
          f"{r['top5']:>7}{r['mean_cosine']:>10}{r['p1_cosine']:>8}"
          f"{r['speedup']:>9}")
  if args.json_out:
    with open(args.json_out, "w") as f:
      json.dump(rows, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
