"""Benchmark corpus: crops and rescales of real photos, re-encoded as JPEG.

    python -m benchmarks.corpus --source ../shared/images/imagenet \
        --count 2000 --out /tmp/corpus
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import List

import numpy as np
from PIL import Image


def photos_in(source_dir: str) -> List[str]:
  """The photos (JPEG, PNG, BMP) directly in ``source_dir``, sorted."""
  return sorted(p for p in glob.glob(os.path.join(source_dir, "*"))
                if p.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))


def make_corpus(source_dir: str, out_dir: str, count: int,
                seed: int = 0) -> List[str]:
  """Writes ``count`` JPEGs (300 to 800 px on the long side) to out_dir."""
  sources = photos_in(source_dir)
  if not sources:
    raise SystemExit(f"no photos under {source_dir}")
  photos = [Image.open(p).convert("RGB") for p in sources]
  rng = np.random.default_rng(seed)
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for i in range(count):
    photo = photos[i % len(photos)]
    width, height = photo.size
    # A random crop keeping 60-100% of each side...
    crop_w = int(width * rng.uniform(0.6, 1.0))
    crop_h = int(height * rng.uniform(0.6, 1.0))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    image = photo.crop((left, top, left + crop_w, top + crop_h))
    # ... rescaled so its long side is 300-800 px.
    scale = rng.uniform(300, 800) / max(image.size)
    image = image.resize((max(1, round(image.size[0] * scale)),
                          max(1, round(image.size[1] * scale))),
                         Image.Resampling.BILINEAR)
    path = os.path.join(out_dir, f"img{i:06d}.jpg")
    image.save(path, format="JPEG", quality=int(rng.integers(80, 96)))
    paths.append(path)
  return paths


def ensure_corpus(out_dir: str, count: int) -> List[str]:
  """The first ``count`` corpus photos under ``out_dir`` (sorted), made
  from the shared photos when there are fewer."""
  if len(photos_in(out_dir)) < count:
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "shared", "images", "imagenet")
    make_corpus(source, out_dir, count)
  return photos_in(out_dir)[:count]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--source", required=True)
  parser.add_argument("--count", type=int, default=2000)
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  make_corpus(args.source, args.out, args.count)
  return 0


if __name__ == "__main__":
  sys.exit(main())
