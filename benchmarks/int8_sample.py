"""What the spread int8 sample changes, against the job's first inputs.

    python -m benchmarks.int8_sample [--images 2048] [--model DIR] \
        [--work_dir /tmp/hub_image_beam_int8_sample]

One corpus of real-photo crops (``benchmarks.corpus``) in two layouts:
interleaved (the corpus as written) and class-sorted (``train/<photo>/``,
hard links, how labelled sets are laid out). For each layout and each way
of drawing the sample (``first``: the first 300 inputs in listing order
calibrate and the next 500 gate, as before issue 35; ``spread``: the job's
sample, ``job.image_sample.spread_inputs``): quantize on the calibration
part, gate on the check part, and measure the same int8 model against
float32 on every image of the corpus (what the gate tries to predict).
Prints, per row, the source photos and float32 classes each part covers,
the gate's figures with their 95 % intervals, the whole corpus' figures,
and whether the interval holds the whole corpus' top-1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def _class_sorted(paths: List[str], sources: int, folder: str) -> List[str]:
  """Hard links of ``paths`` under ``folder/train/photo_NN/`` (the corpus
  cycles through its source photos, so path i is a crop of photo i mod
  sources)."""
  linked = []
  for i, path in enumerate(paths):
    target = os.path.join(folder, "train", f"photo_{i % sources:02d}",
                          f"{i:05d}.jpg")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not os.path.exists(target):
      os.link(path, target)
    linked.append(target)
  return linked


def _outputs(runner, pixels: np.ndarray, batch: int = 64) -> np.ndarray:
  """The model's main output for every image, a batch at a time."""
  return np.concatenate([runner.run_uint8(pixels[i:i + batch])["default"]
                         for i in range(0, len(pixels), batch)])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=os.path.join(
      SHARED, "models", "mobilenet_v2_100_224", "classification"))
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_int8_sample")
  parser.add_argument("--json_out", default=None)
  args = parser.parse_args(argv)
  from benchmarks import corpus  # pylint: disable=g-import-not-at-top
  from transforms.decode import settings as decode_settings  # pylint: disable=g-import-not-at-top
  from transforms.job import image_sample  # pylint: disable=g-import-not-at-top
  from transforms.model import gate  # pylint: disable=g-import-not-at-top
  from transforms.model import process_policy  # pylint: disable=g-import-not-at-top
  from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino import cache as ov_cache  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino import engine as ov_engine  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino.quantization import config  # pylint: disable=g-import-not-at-top
  from transforms.model.openvino.quantization import quantizer  # pylint: disable=g-import-not-at-top
  from transforms.read import files as files_lib  # pylint: disable=g-import-not-at-top
  from transforms.read import listing  # pylint: disable=g-import-not-at-top
  from transforms.read import settings as read_settings  # pylint: disable=g-import-not-at-top

  q = config.QuantizationSettings()
  n_cal, n_check = q.calibration_images, q.check_images
  paths = corpus.ensure_corpus(os.path.join(args.work_dir, "photos"),
                               args.images)
  sources = len(corpus.photos_in(os.path.join(SHARED, "images", "imagenet")))
  settings = model_settings.ModelSettings(handle=args.model,
                                          task="classification",
                                          openvino_cache=None)
  tf_model = process_policy.load_tensorflow(settings, None, "float32")
  size = tf_model.info.expected_image_size or (224, 224)
  converted = ov_cache.load_or_convert(tf_model, None)
  f32 = ov_engine.compile_model(converted, tf_model.info)
  layouts = {
      "interleaved": (os.path.join(args.work_dir, "photos", "*.jpg"), paths),
      "class-sorted": (os.path.join(args.work_dir, "sorted", "train", "*",
                                    "*.jpg"),
                       _class_sorted(paths, sources,
                                     os.path.join(args.work_dir, "sorted"))),
  }
  rows: List[Dict] = []
  for layout, (pattern, layout_paths) in layouts.items():
    listed = sorted(layout_paths)
    items = [files_lib.listed_input(listing.ListedFile(p)) for p in listed]
    pixels = image_sample.decode_all(items, size,
                                     decode_settings.DecodeSettings())
    where = {p: i for i, p in enumerate(listed)}
    reference = _outputs(f32, pixels)
    f32_top1 = np.argmax(reference, axis=1)
    read = read_settings.ReadSettings(patterns=(pattern,))
    spread = [i.image_key.key for i in
              image_sample.spread_inputs(read, n_cal + n_check)]
    draws = {"first": (list(range(n_cal)),
                       list(range(n_cal, n_cal + n_check))),
             "spread": ([where[k] for k in spread[:n_cal]],
                        [where[k] for k in spread[n_cal:]])}
    for draw, (cal, check) in draws.items():
      model = quantizer.quantize(converted, pixels[cal], q)
      int8 = ov_engine.compile_model(model, tf_model.info)
      got = _outputs(int8, pixels)
      sample = gate.evaluate({"default": reference[check]},
                             {"default": got[check]}, "classification",
                             "int8", q.thresholds)
      whole = gate.evaluate({"default": reference}, {"default": got},
                            "classification", "int8", q.thresholds)

      def photos(part):
        return len({os.path.basename(os.path.dirname(listed[i]))
                    if layout == "class-sorted" else i % sources
                    for i in part})

      lo, hi = sample.intervals["top1"]
      rows.append({
          "layout": layout, "draw": draw,
          "cal_photos": photos(cal), "check_photos": photos(check),
          "check_f32_classes": len(set(f32_top1[check].tolist())),
          "gate_top1": round(sample.top1, 3),
          "gate_top1_95": [round(lo, 3), round(hi, 3)],
          "gate_top5": round(sample.top5, 3),
          "gate_passed": sample.passed,
          "gate_conclusive": not sample.inconclusive,
          "whole_top1": round(whole.top1, 3),
          "whole_top5": round(whole.top5, 3),
          "whole_in_interval": bool(lo <= whole.top1 <= hi),
          "images": len(listed)})
      print(json.dumps(rows[-1]), flush=True)
  print()
  print("| layout | sample | photos in calibration / check | float32 classes "
        "in check | gate top-1 (95 %) | gate top-5 | whole corpus top-1 / "
        "top-5 | whole in interval |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    lo, hi = r["gate_top1_95"]
    print(f"| {r['layout']} | {r['draw']} | {r['cal_photos']} / "
          f"{r['check_photos']} of {sources} | {r['check_f32_classes']} | "
          f"{r['gate_top1']} ({lo}-{hi}) | {r['gate_top5']} | "
          f"{r['whole_top1']} / {r['whole_top5']} | "
          f"{'yes' if r['whole_in_interval'] else 'no'} |")
  if args.json_out:
    with open(args.json_out, "w") as f:
      json.dump(rows, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
