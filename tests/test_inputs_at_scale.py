"""Real-world inputs without losing one (issue 4): the corpus in one run,
every source type, inference failures, the failure-rate exit status."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from pipelines import embed
from tests import conftest
from transforms.core import flags
from tests import image_corpus
from tests import model_builders


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp("corpus")
  for name, (data, _) in image_corpus.corpus().items():
    (folder / name).write_bytes(data)
  return folder


def _keys(rows):
  return [r["key"] for r in rows]


def assert_invariant(inputs, rows, failures):
  keys = _keys(rows) + _keys(failures)
  assert len(keys) == len(set(keys)), "a key appears twice"
  assert set(keys) == set(inputs)


def test_corpus_in_one_run_every_case_lands_right(simple_model, corpus_dir,
                                                  tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(corpus_dir / "*"), "--output", out])
  row_list = conftest.read_parquet_rows(out)
  failure_list = conftest.read_failures(out)
  corpus = image_corpus.corpus()
  # Checked on the lists as written, before any dict could fold a
  # duplicated row away.
  assert_invariant([str(corpus_dir / name) for name in corpus], row_list,
                   failure_list)
  rows = {os.path.basename(r["key"]): r for r in row_list}
  failures = {os.path.basename(f["key"]): f for f in failure_list}
  for name, (_, expected) in corpus.items():
    if isinstance(expected, str):
      assert failures[name]["reason"] == expected, failures[name]
      assert failures[name]["stage"] == "decode"
      assert failures[name]["message"]
    else:
      assert name in rows, failures.get(name)
      color = image_corpus.expected_color(expected)
      if color is not None:
        solid = np.zeros((1, 32, 32, 3), np.float32) + np.array(
            color, np.float32) / 255.0
        np.testing.assert_allclose(
            rows[name]["embedding"],
            model_builders.reference_features(solid)[0], atol=0.1)


def _write_tfrecords(path, named_bytes, extra_records=()):
  with tf.io.TFRecordWriter(path) as writer:
    for name, data in named_bytes:
      example = tf.train.Example(features=tf.train.Features(feature={
          "image/encoded": tf.train.Feature(
              bytes_list=tf.train.BytesList(value=[data])),
          "image/filename": tf.train.Feature(
              bytes_list=tf.train.BytesList(value=[name.encode()])),
      }))
      writer.write(example.SerializeToString())
    for record in extra_records:
      writer.write(record)


@conftest.needs_shared
def test_tfrecord_and_manifest_give_the_same_embeddings_as_files(tmp_path):
  photos = conftest.photo_paths()[:6]
  base = ["--model", conftest.MOBILENET_V1_SMALL, "--task", "classification",
          "--top_k", "3"]
  # files
  files_out = str(tmp_path / "files")
  conftest.run_embed(base + ["--input", *photos, "--output", files_out])
  by_path = {r["key"]: r for r in conftest.read_parquet_rows(files_out)}
  # tfrecord: keys from image/filename; one record without the image
  # feature, one without a filename (keyed by path:index).
  record_path = str(tmp_path / "images.tfrecord")
  no_image = tf.train.Example(features=tf.train.Features(feature={
      "image/filename": tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[b"no_image"]))}))
  no_name = tf.train.Example(features=tf.train.Features(feature={
      "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[open(photos[0], "rb").read()]))}))
  _write_tfrecords(record_path,
                   [(p, open(p, "rb").read()) for p in photos],
                   [no_image.SerializeToString(), no_name.SerializeToString()])
  tfr_out = str(tmp_path / "tfr")
  conftest.run_embed(base + ["--input_format", "tfrecord", "--input",
                             record_path, "--output", tfr_out])
  tfr_rows = conftest.read_parquet_rows(tfr_out)
  tfr_failures = conftest.read_failures(tfr_out)
  assert_invariant(photos + ["no_image", f"{record_path}:7"], tfr_rows,
                   tfr_failures)
  assert [(f["key"], f["reason"]) for f in tfr_failures] == [
      ("no_image", "missing_feature")]
  # manifest (CSV) with ids, a passthrough column, a missing file and a
  # row without a URI.
  manifest = tmp_path / "manifest.csv"
  with open(manifest, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "uri", "label"])
    for i, p in enumerate(photos):
      writer.writerow([f"00{i}", p, os.path.basename(p)])
    writer.writerow(["gone", str(tmp_path / "missing.jpg"), "x"])
    writer.writerow(["no_uri", "", "y"])
  man_out = str(tmp_path / "manifest")
  conftest.run_embed(base + [
      "--input_format", "manifest", "--input", str(manifest),
      "--key_column", "id", "--passthrough_columns", "label",
      "--output", man_out])
  man_rows = conftest.read_parquet_rows(man_out)
  man_failures = conftest.read_failures(man_out)
  assert_invariant([f"00{i}" for i in range(6)] + ["gone", "no_uri"],
                   man_rows, man_failures)
  assert sorted((f["key"], f["stage"], f["reason"]) for f in man_failures) == [
      ("gone", "read", "not_found"), ("no_uri", "read", "missing_uri")]
  # Same numbers from all three sources.
  for row in tfr_rows:
    if row["key"] in by_path:
      assert row["top_k_indices"] == by_path[row["key"]]["top_k_indices"]
      np.testing.assert_allclose(row["top_k_scores"],
                                 by_path[row["key"]]["top_k_scores"],
                                 rtol=1e-5)
  for row in man_rows:
    path = photos[int(row["key"])]
    assert row["label"] == os.path.basename(path)
    assert row["top_k_indices"] == by_path[path]["top_k_indices"]
    np.testing.assert_allclose(row["top_k_scores"],
                               by_path[path]["top_k_scores"], rtol=1e-5)


def test_manifest_jsonl_and_parquet(simple_model, corpus_dir, tmp_path):
  good = ["red.png", "gray.png", "photo.jpg"]
  jsonl = tmp_path / "m.jsonl"
  jsonl.write_text("\n".join(json.dumps({"uri": str(corpus_dir / n),
                                         "sku": i})
                             for i, n in enumerate(good)) + "\n")
  parquet = tmp_path / "m.parquet"
  pq.write_table(pa.table({"uri": [str(corpus_dir / "truncated.jpg")],
                           "sku": [99]}), parquet)
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input_format", "manifest",
                      "--input", str(jsonl), str(parquet),
                      "--passthrough_columns", "sku", "--output", out])
  rows = conftest.read_parquet_rows(out)
  failures = conftest.read_failures(out)
  # JSON numbers stay numbers: pass-through columns keep their Arrow type.
  assert sorted((os.path.basename(r["key"]), r["sku"]) for r in rows) == [
      ("gray.png", 1), ("photo.jpg", 2), ("red.png", 0)]
  assert [(os.path.basename(f["key"]), f["reason"]) for f in failures] == [
      ("truncated.jpg", "truncated")]


def test_manifest_without_the_uri_column_fails_early(simple_model, tmp_path):
  manifest = tmp_path / "m.csv"
  manifest.write_text("path,id\n/x.jpg,1\n")
  with pytest.raises(flags.ConfigError,
                     match=r"lacks column\(s\) \['uri'\]"):
    conftest.run_embed(["--model", simple_model, "--input_format",
                        "manifest", "--input", str(manifest), "--output",
                        str(tmp_path / "out")])
  assert not (tmp_path / "out").exists()  # the plan refused it


def test_a_failing_image_in_a_batch_fails_alone(models_dir, corpus_dir,
                                                tmp_path):
  model = model_builders.save_raising_on_white(
      os.path.join(models_dir, "raising"))
  folder = tmp_path / "images"
  folder.mkdir()
  colors = [(255, 255, 255)] + [(10 * i, 50, 90) for i in range(1, 7)]
  for i, color in enumerate(colors):
    (folder / f"img{i}.png").write_bytes(image_corpus.encode(
        image_corpus.solid("RGB", color), "PNG"))
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", model, "--batch_size", "8", "--input",
                      str(folder / "*"), "--output", out])
  rows = conftest.read_parquet_rows(out)
  failures = conftest.read_failures(out)
  assert sorted(os.path.basename(r["key"]) for r in rows) == [
      f"img{i}.png" for i in range(1, 7)]
  assert [(os.path.basename(f["key"]), f["stage"], f["reason"])
          for f in failures] == [("img0.png", "inference", "inference_error")]
  assert "all-white" in failures[0]["message"]


def test_failure_rate_exit_status_and_summary(simple_model, corpus_dir,
                                              tmp_path, capsys):
  argv = ["--model", simple_model, "--input", str(corpus_dir / "*"),
          "--output", str(tmp_path / "a"), "--max_failure_rate", "0.1"]
  assert embed.main(argv) == 3
  captured = capsys.readouterr()
  assert "images read:       20" in captured.out
  assert "failures:          5 (25.0%)" in captured.out
  assert "decode.truncated" in captured.out
  assert "above --max_failure_rate 0.1" in captured.err
  argv[argv.index(str(tmp_path / "a"))] = str(tmp_path / "b")
  argv[-1] = "0.3"
  assert embed.main(argv) == 0


@conftest.needs_shared
def test_exif_rotated_photo_embeds_like_the_upright_one(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  upright = Image.open(os.path.join(conftest.IMAGENET_DIR, "cat_720p.jpg"))
  folder = tmp_path / "photos"
  folder.mkdir()
  upright.save(folder / "upright.jpg", quality=95)
  # Stored rotated; orientation 8 says "rotate 90 CCW to view" -> upright.
  stored = upright.transpose(Image.Transpose.ROTATE_270)
  (folder / "exif.jpg").write_bytes(
      image_corpus.with_exif_orientation(stored, 8))
  stored.save(folder / "sideways.jpg", quality=95)  # no EXIF: stays sideways
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", conftest.MOBILENET_FV, "--input",
                      str(folder / "*"), "--output", out])
  vectors = {os.path.basename(r["key"]): np.array(r["embedding"])
             for r in conftest.read_parquet_rows(out)}
  cosine = lambda a, b: float(vectors[a] @ vectors[b] / np.linalg.norm(
      vectors[a]) / np.linalg.norm(vectors[b]))
  assert cosine("upright.jpg", "exif.jpg") > 0.98
  assert cosine("upright.jpg", "exif.jpg") > cosine("upright.jpg",
                                                    "sideways.jpg") + 0.05
