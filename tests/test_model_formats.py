"""Every model form the spec describes (issue 3): TF1 Hub format modules,
signatures, extra outputs, expected image size, serving_default fallback."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests import conftest
from tests import model_builders
from transforms.core import tasks
from transforms.decode import resize
from transforms.model import description
from transforms.model.tensorflow import engine as tf_engine


@pytest.fixture(scope="module")
def tf1_module(models_dir):
  return model_builders.save_tf1_hub_module(os.path.join(models_dir, "tf1"))


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp("photos")
  rng = np.random.default_rng(3)
  for i in range(4):
    pixels = rng.integers(0, 256, size=(50 + 7 * i, 40 + 5 * i, 3),
                          dtype=np.uint8)
    Image.fromarray(pixels).save(folder / f"noise{i}.png")
  return folder


def _direct_signature_call(module_path, signature, paths, size):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(module_path, tags=[])
  images = np.stack([resize.prepare_image(open(p, "rb").read(), size)
                     for p in paths]).astype(np.float32) / 255.0
  outputs = loaded.signatures[signature](images=tf.constant(images))
  return {k: v.numpy() for k, v in outputs.items()}


@pytest.mark.parametrize("task, signature", [
    ("feature_vector", "image_feature_vector"),
    ("classification", "image_classification"),
])
def test_tf1_module_pipeline_matches_direct_signature_call(
    tf1_module, photos_dir, tmp_path, task, signature):
  out = str(tmp_path / task)
  conftest.run_embed(["--model", tf1_module, "--task", task, "--top_k", "4",
                      "--extra_outputs", model_builders.EXTRA_OUTPUT,
                      "--input", str(photos_dir / "*"), "--output", out])
  rows = sorted(conftest.read_parquet_rows(out), key=lambda r: r["key"])
  paths = [r["key"] for r in rows]
  direct = _direct_signature_call(tf1_module, signature, paths, (32, 32))
  extra = np.array([r[model_builders.EXTRA_OUTPUT] for r in rows])
  np.testing.assert_allclose(extra, direct[model_builders.EXTRA_OUTPUT]
                             .reshape(len(rows), -1), rtol=1e-5, atol=1e-6)
  if task == "feature_vector":
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]),
                               direct["default"], rtol=1e-5, atol=1e-5)
  else:
    for row, logits in zip(rows, direct["default"]):
      assert row["top_k_indices"] == list(np.argsort(-logits, kind="stable"))
      np.testing.assert_allclose(row["top_k_scores"], np.sort(logits)[::-1],
                                 rtol=1e-5, atol=1e-5)
  schema = pq.read_schema(glob.glob(os.path.join(out, "*.parquet"))[0])
  meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
  assert json.loads(meta["hub_image_beam.extra_output_shapes"]) == {
      model_builders.EXTRA_OUTPUT: [2, 2, 3]}
  assert meta["hub_image_beam.entry"] == signature


def test_tf1_module_falls_back_to_default_signature(models_dir):
  path = model_builders.save_tf1_hub_module(
      os.path.join(models_dir, "tf1_default_only"), size=(24, 24),
      with_task_signatures=False)
  for task in tasks.TASKS:
    model = tf_engine.load_image_model(path, task)
    assert (model.info.format, model.info.entry) == (
        description.FORMAT_TF1_HUB, "default")
    assert model.info.expected_image_size == (24, 24)


def test_signature_override_and_unknown_names(tf1_module):
  model = tf_engine.load_image_model(tf1_module, "classification",
                                         signature="image_feature_vector")
  assert model.info.entry == "image_feature_vector"
  assert model.info.output.shape == (None, model_builders.NUM_OUTPUTS)
  with pytest.raises(description.ModelError,
                     match=r"unknown signature 'nope' \(available: default, "
                     r"image_classification, image_feature_vector\)"):
    tf_engine.load_image_model(tf1_module, "classification",
                                   signature="nope")
  with pytest.raises(description.ModelError,
                     match=r"unknown extra output.*'InceptionV3/Mixed_5c'.*"
                     r"available: TestNet/pooled_2x2, default"):
    tf_engine.load_image_model(tf1_module, "classification",
                                   extra_outputs=("InceptionV3/Mixed_5c",))


def test_unknown_signature_fails_the_job_before_reading(tf1_module,
                                                        photos_dir, tmp_path):
  with pytest.raises(description.ModelError, match="available"):
    conftest.run_embed(["--model", tf1_module, "--signature", "nope",
                        "--input", str(photos_dir / "*"),
                        "--output", str(tmp_path / "out")])
  assert not (tmp_path / "out").exists()


def test_image_size_override_for_tf1_module(tf1_module):
  model = tf_engine.load_image_model(tf1_module, "feature_vector",
                                         image_size=(32, 32))
  assert model(np.zeros((1, 32, 32, 3), np.float32))["default"].shape == (
      1, model_builders.NUM_OUTPUTS)


def test_serving_default_only_savedmodel(models_dir, photos_dir, tmp_path):
  path = model_builders.save_serving_default_only(
      os.path.join(models_dir, "serving"))
  model = tf_engine.load_image_model(path, "feature_vector")
  assert (model.info.format, model.info.entry) == (
      description.FORMAT_SIGNATURE, "serving_default")
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", path, "--input", str(photos_dir / "*"),
                      "--output", out])
  rows = conftest.read_parquet_rows(out)
  assert len(rows) == 4
  pixels = np.stack([resize.prepare_image(open(r["key"], "rb").read(),
                                          (32, 32)) for r in rows])
  np.testing.assert_allclose(
      np.array([r["embedding"] for r in rows]),
      model_builders.reference_features(pixels.astype(np.float32) / 255.0),
      rtol=1e-5, atol=1e-5)


def test_extra_outputs_need_a_signature(simple_model):
  with pytest.raises(description.ModelError, match="--signature"):
    tf_engine.load_image_model(simple_model, "feature_vector",
                                   extra_outputs=("x",))


@conftest.needs_shared
def test_tf1_module_from_mobilenet_weights_matches_tf2_top1(models_dir,
                                                            tmp_path):
  tf1_path = model_builders.save_tf1_from_tf2(
      conftest.MOBILENET_CLS, os.path.join(models_dir, "mobilenet_tf1"),
      "MobilenetV2")
  top1 = {}
  for name, model in (("tf2", conftest.MOBILENET_CLS), ("tf1", tf1_path)):
    out = str(tmp_path / name)
    conftest.run_embed(["--model", model, "--task", "classification",
                        "--top_k", "1", "--input", *conftest.photo_paths(),
                        "--output", out])
    top1[name] = {os.path.basename(r["key"]): r["top_k_indices"][0]
                  for r in conftest.read_parquet_rows(out)}
  assert len(top1["tf1"]) == 12
  assert top1["tf1"] == top1["tf2"]
  expected = conftest.expected_top5()
  assert sum(top1["tf1"][n] == ref["top5_index"][0]
             for n, ref in expected.items()) >= 11
