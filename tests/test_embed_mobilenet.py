"""End to end with the real ImageNet MobileNets and real photos."""
from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import conftest
from tests.conftest import needs_shared

pytestmark = needs_shared


@pytest.fixture(scope="module")
def classification_output(mobilenet_classified):
  return mobilenet_classified


def test_top1_matches_reference_for_at_least_11_of_12(classification_output):
  rows = {os.path.basename(r["key"]): r
          for r in conftest.read_parquet_rows(classification_output)}
  expected = conftest.expected_top5()
  assert set(rows) == set(expected)
  agree = [name for name, ref in expected.items()
           if rows[name]["top_k_indices"][0] == ref["top5_index"][0]]
  assert len(agree) >= 11, f"top-1 agrees only for {sorted(agree)}"
  labels = open(conftest.IMAGENET_LABELS).read().splitlines()
  for name in expected:
    assert rows[name]["top_k_labels"] == [
        labels[i] for i in rows[name]["top_k_indices"]]
  assert rows["cat.bmp"]["top_k_labels"][0] == "Egyptian cat"


def test_every_input_key_once_and_json_is_a_failure(classification_output):
  rows = conftest.read_parquet_rows(classification_output)
  failures = conftest.read_failures(classification_output)
  inputs = set(glob.glob(os.path.join(conftest.IMAGENET_DIR, "*")))
  keys = [r["key"] for r in rows] + [f["key"] for f in failures]
  assert sorted(keys) == sorted(inputs)
  assert [(os.path.basename(f["key"]), f["stage"], f["reason"])
          for f in failures] == [("expected_top5.json", "decode",
                                  "not_an_image")]


def test_parquet_schema_in_pyarrow_and_pandas(classification_output):
  path = glob.glob(os.path.join(classification_output, "*.parquet"))[0]
  schema = pq.read_schema(path)
  assert schema.field("key").type == pa.string()
  assert schema.field("top_k_indices").type == pa.list_(pa.int32())
  assert schema.field("top_k_scores").type == pa.list_(pa.float32())
  assert schema.field("top_k_labels").type == pa.list_(pa.string())
  meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
  assert meta["hub_image_beam.model"] == conftest.MOBILENET_CLS
  assert meta["hub_image_beam.task"] == "classification"
  assert meta["hub_image_beam.image_size"] == "224,224"
  # The default engine (auto) found OpenVINO faithful on this model: the
  # top-1 checks above ran on it.
  import openvino  # pylint: disable=g-import-not-at-top
  assert meta["hub_image_beam.engine"] == "openvino"
  assert meta["hub_image_beam.engine_version"] == openvino.get_version()
  frame = pd.concat(pd.read_parquet(f) for f in glob.glob(
      os.path.join(classification_output, "results-*.parquet")))
  assert len(frame) == 12
  assert all(len(v) == 5 for v in frame["top_k_scores"])
  # Logits, best first.
  assert all(np.all(np.diff(v) <= 0) for v in frame["top_k_scores"])


def test_softmax_scores_are_probabilities(tmp_path):
  out = str(tmp_path / "soft")
  conftest.run_embed([
      "--model", conftest.MOBILENET_V1_SMALL, "--task", "classification",
      "--score", "softmax", "--top_k", "3",
      "--input", os.path.join(conftest.IMAGENET_DIR, "cat*"),
      "--output", out])
  rows = conftest.read_parquet_rows(out)
  assert len(rows) == 2
  for row in rows:
    scores = np.array(row["top_k_scores"])
    assert np.all((scores > 0) & (scores <= 1)) and scores.sum() <= 1.0001
    assert "top_k_labels" not in row


def test_feature_vectors_in_tfrecord_cats_closer_than_hot_dog(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / "fv")
  conftest.run_embed([
      "--model", conftest.MOBILENET_FV, "--task", "feature_vector",
      "--input", os.path.join(conftest.IMAGENET_DIR, "*.jpg"),
      os.path.join(conftest.IMAGENET_DIR, "*.bmp"),
      "--output", out, "--output_format", "tfrecord"])
  files = sorted(glob.glob(os.path.join(out, "results-*.tfrecord")))
  spec = {"key": tf.io.FixedLenFeature([], tf.string),
          "embedding": tf.io.FixedLenFeature([1280], tf.float32)}
  vectors = {}
  for record in tf.data.TFRecordDataset(files):
    parsed = tf.io.parse_single_example(record, spec)
    vectors[os.path.basename(parsed["key"].numpy().decode())] = (
        parsed["embedding"].numpy())
  assert len(vectors) == 12

  def cosine(a, b):
    a, b = vectors[a], vectors[b]
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

  cats = cosine("cat.bmp", "cat_720p.jpg")
  assert cats > cosine("cat.bmp", "hot_dog.jpg")
  assert cats > cosine("cat_720p.jpg", "hot_dog.jpg")
  assert conftest.read_failures(out) == []
