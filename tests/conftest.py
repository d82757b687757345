"""Shared fixtures: paths to ../shared, tiny models, and a pipeline runner."""
from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Hugging Face datasets build fixtures here; nothing may reach a hub.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, ROOT)

from tests import model_builders  # pylint: disable=wrong-import-position

MOBILENET_CLS = os.path.join(SHARED, "models", "mobilenet_v2_100_224",
                             "classification")
MOBILENET_FV = os.path.join(SHARED, "models", "mobilenet_v2_100_224",
                            "feature_vector")
MOBILENET_V1_SMALL = os.path.join(SHARED, "models", "mobilenet_v1_025_128",
                                  "classification")
IMAGENET_LABELS = os.path.join(SHARED, "models", "imagenet_labels.txt")
IMAGENET_DIR = os.path.join(SHARED, "images", "imagenet")

needs_shared = pytest.mark.skipif(
    not os.path.isdir(SHARED), reason="../shared (models, photos) not present")


def photo_paths():
  return sorted(p for p in glob.glob(os.path.join(IMAGENET_DIR, "*"))
                if not p.endswith(".json"))


def expected_top5():
  with open(os.path.join(IMAGENET_DIR, "expected_top5.json")) as f:
    return json.load(f)


MANY_IMAGES = 4000


@pytest.fixture(scope="session")
def many_images(tmp_path_factory):
  """4,000 small PNGs (distinct colours) and one file that is not an
  image, so a job has failures to commit too (``--resume`` tests)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp("many")
  rng = np.random.default_rng(0)
  for i in range(MANY_IMAGES):
    pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / f"img_{i:05d}.png")
  (folder / "broken.png").write_bytes(b"this is not an image")
  return str(folder)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def simple_model(models_dir):
  return model_builders.save_simple(os.path.join(models_dir, "simple"))


@pytest.fixture(scope="session")
def dynamic_model(models_dir):
  return model_builders.save_simple(os.path.join(models_dir, "dynamic"),
                                    size=None)


@pytest.fixture(scope="session")
def training_model(models_dir):
  return model_builders.save_with_training(
      os.path.join(models_dir, "training"))


def read_parquet_rows(output_dir):
  files = sorted(glob.glob(os.path.join(output_dir, "results-*.parquet")))
  assert files, f"no Parquet results under {output_dir}"
  rows = []
  for path in files:
    rows += pq.read_table(path).to_pylist()
  return rows


def read_failures(output_dir):
  rows = []
  for path in sorted(glob.glob(os.path.join(output_dir, "failures",
                                            "failures-*.jsonl"))):
    with open(path) as f:
      rows += [json.loads(line) for line in f if line.strip()]
  return rows


# Two runs of the same model on the same image may batch it with different
# neighbours, which changes kernel choice and summation order: float32
# outputs then differ by ~1e-7 (seen on AMD EPYC). Dropout, a wrong image or
# a wrong record moves values by orders of magnitude more than this.
SAME_RUN_ATOL = 1e-5
SAME_RUN_RTOL = 1e-5


def assert_same_vectors(first, second):
  """Asserts two runs gave the same vectors for the same keys.

  Args:
    first, second: key -> float vector (list or numpy array).
  """
  assert sorted(first) == sorted(second)
  for key in first:
    np.testing.assert_allclose(first[key], second[key], rtol=SAME_RUN_RTOL,
                               atol=SAME_RUN_ATOL, err_msg=str(key))


def run_embed(argv):
  """Runs pipelines.embed on the local runner and waits for it."""
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  result = embed.run(list(argv))
  result.wait_until_finish()
  return result


@pytest.fixture(scope="session")
def mobilenet_classified(tmp_path_factory):
  """The command's run over the shared photos with the MobileNet V2
  classifier (top 5, labels, Parquet): shared by the tests that read it
  (test_embed_mobilenet) and compare the library with it (test_api)."""
  out = str(tmp_path_factory.mktemp("cls") / "preds")
  run_embed([
      "--model", MOBILENET_CLS, "--task", "classification",
      "--labels_file", IMAGENET_LABELS, "--top_k", "5",
      "--input", os.path.join(IMAGENET_DIR, "*"),
      "--output", out, "--output_format", "parquet"])
  return out


@pytest.fixture(autouse=True, scope="session")
def _own_cache_dirs(tmp_path_factory):
  """Converted-model caches and the like go to a folder of this run, never
  the user's ~/.cache (a stale entry there would hide a conversion)."""
  os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory):
  """The demo's EfficientNet-Lite0 (real ImageNet weights), built once."""
  from pipelines.sample_models import builder  # pylint: disable=g-import-not-at-top
  return builder.build_sample_models(str(tmp_path_factory.mktemp("cache")))
