"""Decode + resize per photo: Pillow (ours today) vs libjpeg-turbo DCT
scaling (simplejpeg) + OpenCV resize, side by side, and how faithful the
fast path is.

    python -m benchmarks.decode_paths [--count 300]

Speed: single thread, best of 3 passes over a generated corpus (300 to 800
px JPEGs). Faithfulness: MobileNet V2 top-1 on the shared photos re-encoded
as JPEG, and cosine between feature vectors of both paths on the corpus.
"""
from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
IMAGES = os.path.join(SHARED, "images", "imagenet")
MODELS = os.path.join(SHARED, "models", "mobilenet_v2_100_224")


def fast_prepare(data: bytes, size, jpeg_draft: float = 1.0) -> np.ndarray:
  """JPEG only: DCT-scaled decode (both sides >= jpeg_draft x size), EXIF
  orientation, then OpenCV area (shrink) / bilinear (grow) resize."""
  import cv2  # pylint: disable=g-import-not-at-top
  import simplejpeg  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  height, width = size
  floor = int(max(size) * jpeg_draft)
  pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False,
                                  fastupsample=False, min_height=floor,
                                  min_width=floor)
  orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
  if orientation != 1:
    pixels = _orient(pixels, orientation)
  shrink = pixels.shape[0] > height or pixels.shape[1] > width
  return cv2.resize(pixels, (width, height),
                    interpolation=cv2.INTER_AREA if shrink else
                    cv2.INTER_LINEAR)


def _turbo_scaled(data: bytes, size) -> np.ndarray:
  """libjpeg-turbo's smallest M/8 scale that keeps both sides >= size."""
  import simplejpeg  # pylint: disable=g-import-not-at-top
  return simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=size[0],
                                min_width=size[1])


def turbo_scaled_pillow(data: bytes, size) -> np.ndarray:
  """M/8 DCT scaling (finer than Pillow's 1/2, 1/4, 1/8 ``draft``), then
  Pillow's BILINEAR: the same filter on a smaller picture."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  return np.asarray(Image.fromarray(_turbo_scaled(data, size)).resize(
      (size[1], size[0]), Image.Resampling.BILINEAR))


def turbo_scaled_linear(data: bytes, size) -> np.ndarray:
  """M/8 DCT scaling, then OpenCV's INTER_LINEAR (no antialiasing; the
  remaining shrink is under 2 x for photos up to 1,800 px)."""
  import cv2  # pylint: disable=g-import-not-at-top
  return cv2.resize(_turbo_scaled(data, size), (size[1], size[0]),
                    interpolation=cv2.INTER_LINEAR)


def pillow_reducing_gap(data: bytes, size) -> np.ndarray:
  """Pillow draft decode, then resize with ``reducing_gap=2`` (an integer
  box reduction first, then bilinear over at most 2x)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from transforms.decode import image as image_lib  # pylint: disable=g-import-not-at-top
  picture = image_lib.decode_image(data, draft_size=max(size))
  return np.asarray(picture.resize((size[1], size[0]),
                                   Image.Resampling.BILINEAR,
                                   reducing_gap=2.0))


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
  ops = {2: lambda p: p[:, ::-1], 3: lambda p: p[::-1, ::-1],
         4: lambda p: p[::-1], 5: lambda p: np.rot90(p[:, ::-1], 1),
         6: lambda p: np.rot90(p, -1), 7: lambda p: np.rot90(p[:, ::-1], -1),
         8: lambda p: np.rot90(p, 1)}
  return np.ascontiguousarray(ops.get(orientation, lambda p: p)(pixels))


def _best_ms(fn, blobs, repeats=3) -> float:
  best = float("inf")
  for _ in range(repeats):
    started = time.perf_counter()
    for data in blobs:
      fn(data)
    best = min(best, (time.perf_counter() - started) / len(blobs))
  return best * 1000


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--count", type=int, default=300)
  args = parser.parse_args(argv)
  import sys  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, ROOT)
  from benchmarks import corpus  # pylint: disable=g-import-not-at-top
  from transforms.decode import resize  # pylint: disable=g-import-not-at-top
  size = (224, 224)
  with tempfile.TemporaryDirectory() as tmp:
    paths = corpus.make_corpus(IMAGES, tmp, args.count)
    blobs = [open(p, "rb").read() for p in paths]
  others = {
      "simplejpeg DCT + cv2 AREA/LINEAR": fast_prepare,
      "Pillow draft + reducing_gap=2": pillow_reducing_gap,
      "simplejpeg M/8 scale + Pillow BILINEAR": turbo_scaled_pillow,
      "simplejpeg M/8 scale + cv2 LINEAR": turbo_scaled_linear,
  }
  ours = _best_ms(lambda d: resize.prepare_image(d, size), blobs)
  print(f"decode+resize per photo (1 thread, best of 3, {len(blobs)} JPEGs "
        "300-800 px):")
  print(f"  {'Pillow draft + BILINEAR (today)':40s} {ours:5.2f} ms")
  for name, other in others.items():
    ms = _best_ms(lambda d, f=other: f(d, size), blobs)
    print(f"  {name:40s} {ms:5.2f} ms ({ours / ms:.2f} x faster)")
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  quiet.configure(False)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  classifier = tf.saved_model.load(os.path.join(MODELS, "classification"))
  features = tf.saved_model.load(os.path.join(MODELS, "feature_vector"))
  names = sorted(n for n in os.listdir(IMAGES) if not n.endswith(".json"))
  jpegs = []
  for name in names:
    buffer = io.BytesIO()
    Image.open(os.path.join(IMAGES, name)).convert("RGB").save(
        buffer, format="JPEG", quality=95)
    jpegs.append(buffer.getvalue())

  def batch(fn, items):
    return np.stack([fn(d) for d in items]).astype(np.float32) / 255.0

  top_ours = np.argmax(classifier(batch(lambda d: resize.prepare_image(
      d, size), jpegs)).numpy(), axis=1)
  chunks = [blobs[start:start + 32] for start in range(0, len(blobs), 32)]
  today = [features(batch(lambda d: resize.prepare_image(d, size),
                          chunk)).numpy() for chunk in chunks]
  for name, other in others.items():
    top = np.argmax(classifier(batch(lambda d, f=other: f(d, size),
                                     jpegs)).numpy(), axis=1)
    cosines = []
    for a, chunk in zip(today, chunks):
      b = features(batch(lambda d, f=other: f(d, size), chunk)).numpy()
      cosines += list(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) /
                      np.linalg.norm(b, axis=1))
    print(f"{name}: top-1 on the {len(jpegs)} shared photos (as JPEG) same "
          f"for {int(np.sum(top == top_ours))}/{len(jpegs)}; feature cosine "
          f"to today's, {len(cosines)} photos: min {min(cosines):.4f}, mean "
          f"{np.mean(cosines):.4f}")


if __name__ == "__main__":
  main()
