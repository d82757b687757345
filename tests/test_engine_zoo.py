"""OpenVINO against TensorFlow across the architectures TF Hub serves, not
one network: for each model, a job runs end to end with ``--engine
openvino`` on the 12 shared photos, and every row it wrote must agree with
TensorFlow's own output for the same decoded pixels (cosine >= 0.9999, same
top-1).

The slow architectures (a minute or more each here) run with
``HUB_IMAGE_BEAM_SLOW_TESTS=1``; the default suite keeps the two
``tf_keras`` ones that build fastest, the dynamic-size one, the shared
MobileNets, the demo's EfficientNet-Lite0 and the TF1 Hub module.
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests import conftest
from tests import model_builders
from tests import model_zoo
from transforms.core import tasks
from transforms.decode import resize
from transforms.decode import settings as decode_settings
from transforms.model import faithfulness
from transforms.model import precision
from transforms.model import process_policy
from transforms.model import settings as model_settings

pytestmark = conftest.needs_shared

SLOW = os.environ.get("HUB_IMAGE_BEAM_SLOW_TESTS") == "1"
DYNAMIC_SIZE = (192, 160)


def _zoo_param(name):
  marks = [pytest.mark.skipif(not SLOW, reason="slow architecture: set "
                              "HUB_IMAGE_BEAM_SLOW_TESTS=1")] if (
                                  model_zoo.ARCHITECTURES[name].slow) else []
  return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module")
def zoo_dir():
  """Built once per tf_keras version and kept like .venv (``.cache/``,
  ignored by git): the builds are deterministic and cost most of these
  tests' time."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  folder = os.path.join(conftest.ROOT, ".cache", "test_model_zoo",
                        f"tf_keras-{tf_keras.__version__}-v1")
  os.makedirs(folder, exist_ok=True)
  return folder


def _pixels(size):
  """The 12 photos as the job decodes them (default decode settings)."""
  d = decode_settings.DecodeSettings()
  photos = conftest.photo_paths()
  return photos, np.stack([
      resize.prepare_image(open(p, "rb").read(), size, d.resize,
                           d.max_pixels, d.jpeg_draft) for p in photos])


def _check_job_against_tensorflow(model, tmp_path, task, extra=()):
  """Runs the job with --engine openvino; compares every row with
  TensorFlow on the same pixels."""
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", model, "--task", task,
                      "--input", *conftest.photo_paths(), "--output", out,
                      "--engine", "openvino", *extra])
  (shard, *_) = sorted(p for p in os.listdir(out) if p.endswith(".parquet"))
  meta = pq.read_schema(os.path.join(out, shard)).metadata
  assert meta[b"hub_image_beam.engine"] == b"openvino"
  size = tuple(int(v) for v in
               meta[b"hub_image_beam.image_size"].decode().split(","))
  settings = model_settings.ModelSettings(handle=model, task=task,
                                          image_size=size)
  reference = process_policy.load_tensorflow(settings, size,
                                             precision.FLOAT32)
  photos, pixels = _pixels(size)
  expected = reference.run_uint8(pixels)[tasks.DEFAULT_OUTPUT]
  rows = {r["key"]: r["embedding"] for r in conftest.read_parquet_rows(out)}
  assert sorted(rows) == photos
  written = np.array([rows[p] for p in photos], np.float32)
  agreement = faithfulness.compare(
      {"default": expected}, {"default": written},
      tasks.TASK_CLASSIFICATION if expected.shape[1] >= 1000 else task)
  assert agreement.passed, agreement
  assert agreement.rows == 12
  return expected


@pytest.mark.parametrize("name", [_zoo_param(n)
                                  for n in model_zoo.ARCHITECTURES])
def test_architecture_runs_faithfully_on_openvino(name, zoo_dir, tmp_path):
  arch = model_zoo.ARCHITECTURES[name]
  model = model_zoo.save(name, zoo_dir)
  extra = () if arch.size else ("--image_size",
                                ",".join(map(str, DYNAMIC_SIZE)))
  # feature_vector writes the whole output row (logits for classifiers),
  # so every value is compared, not only the top-k.
  expected = _check_job_against_tensorflow(model, tmp_path, "feature_vector",
                                           extra)
  # Random weights, yet not a constant function of the image.
  assert np.ptp(expected, axis=0).max() > 0


# The classification MobileNet V2 runs on OpenVINO in every end-to-end test
# of the default engine (tests/test_embed_mobilenet.py: the cat is a cat);
# its TF1 rebuild is compared value by value below.
@pytest.mark.parametrize("model", [
    pytest.param(conftest.MOBILENET_FV, id="mobilenet_v2_feature_vector"),
    pytest.param(conftest.MOBILENET_V1_SMALL, id="mobilenet_v1_025_128"),
])
def test_shared_mobilenets_run_faithfully_on_openvino(model, tmp_path):
  _check_job_against_tensorflow(model, tmp_path, "feature_vector")


def test_demo_efficientnet_lite0_runs_faithfully_on_openvino(sample_models,
                                                             tmp_path):
  _check_job_against_tensorflow(sample_models["classification"], tmp_path,
                                "feature_vector")


def test_tf1_hub_module_from_mobilenet_weights_on_openvino(models_dir,
                                                           tmp_path):
  # TF1 Hub format, real MobileNet V2 weights, through its ``default``
  # signature (the logits).
  module = model_builders.save_tf1_from_tf2(
      conftest.MOBILENET_CLS, os.path.join(models_dir, "tf1_zoo"),
      "MobilenetV2")
  _check_job_against_tensorflow(module, tmp_path, "feature_vector")


def test_tf1_hub_signatures_with_an_extra_output_on_openvino(models_dir,
                                                             tmp_path):
  # Both task signatures, each with its extra output: every output the
  # converted model returns lands in the right column.
  module = model_builders.save_tf1_hub_module(
      os.path.join(models_dir, "tf1_zoo_extra"))
  extra = model_builders.EXTRA_OUTPUT
  for task in ("feature_vector", "classification"):
    out = str(tmp_path / task)
    conftest.run_embed(["--model", module, "--task", task, "--extra_outputs",
                        extra, "--input", *conftest.photo_paths(),
                        "--output", out, "--engine", "openvino",
                        "--score", "logits", "--top_k", "4"])
    settings = model_settings.ModelSettings(handle=module, task=task,
                                            extra_outputs=(extra,))
    reference = process_policy.load_tensorflow(settings, None,
                                               precision.FLOAT32)
    photos, pixels = _pixels((32, 32))
    want = reference.run_uint8(pixels)
    rows = {r["key"]: r for r in conftest.read_parquet_rows(out)}
    for i, photo in enumerate(photos):
      np.testing.assert_allclose(rows[photo][extra],
                                 want[extra][i].reshape(-1), rtol=1e-5,
                                 atol=1e-6)
      if task == "feature_vector":
        np.testing.assert_allclose(rows[photo]["embedding"],
                                   want["default"][i], rtol=1e-5, atol=1e-5)
      else:
        assert rows[photo]["top_k_indices"] == list(
            np.argsort(-want["default"][i], kind="stable"))
