"""Incremental runs (--skip_existing): only new keys are processed, earlier
failures are tried again, repeated keys are processed once, and a killed
run's leftovers never count."""
from __future__ import annotations

import csv
import dataclasses
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from pipelines import embed
from tests import conftest
from tests import image_corpus
from transforms.core import flags
from transforms.write import earlier_results
from transforms.write import examples
from transforms.write import output_dir
from transforms.write import settings as write_settings


def _png(i):
  return image_corpus.encode(
      image_corpus.solid("RGB", ((37 * i) % 256, (11 * i) % 256, 90)), "PNG")


def _keys(out):
  return ([r["key"] for r in conftest.read_parquet_rows(out)],
          [f["key"] for f in conftest.read_failures(out)])


def test_second_run_does_only_new_work_and_retries_failures(
    simple_model, tmp_path, capsys):
  folder = tmp_path / "bucket"
  folder.mkdir()
  for i in range(6):
    (folder / f"day1_{i}.png").write_bytes(_png(i))
  good = _png(99)
  (folder / "upload.png").write_bytes(good[:len(good) // 2])  # cut short
  out1, out2 = str(tmp_path / "out1"), str(tmp_path / "out2")
  assert embed.main(["--model", simple_model, "--input",
                     str(folder / "*"), "--output", out1]) == 0
  rows1, failures1 = _keys(out1)
  assert len(rows1) == 6 and failures1 == [str(folder / "upload.png")]
  # Overnight: new images arrive and the broken upload is fixed.
  for i in range(3):
    (folder / f"day2_{i}.png").write_bytes(_png(10 + i))
  (folder / "upload.png").write_bytes(good)
  capsys.readouterr()
  assert embed.main(["--model", simple_model, "--input", str(folder / "*"),
                     "--output", out2, "--skip_existing",
                     os.path.join(out1, "results-*"),
                     "--max_failure_rate", "0"]) == 0
  printed = capsys.readouterr().out
  rows2, failures2 = _keys(out2)
  assert not set(rows1) & set(rows2)
  assert failures2 == []
  everything = sorted(str(p) for p in folder.iterdir())
  assert sorted(rows1 + rows2) == everything  # each exactly once
  assert str(folder / "upload.png") in rows2  # the failure was tried again
  assert "images read:       4" in printed  # processed inputs only
  assert "skipped (done):    6" in printed


def test_repeated_keys_are_processed_once_first_row_wins(simple_model,
                                                         tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for i in range(3):
    (images / f"img{i}.png").write_bytes(_png(i))
  manifest = tmp_path / "m.csv"
  with open(manifest, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "uri", "row"])
    writer.writerow(["a", images / "img0.png", "first"])
    writer.writerow(["b", images / "img1.png", "first"])
    writer.writerow(["a", images / "img2.png", "second"])
  out = str(tmp_path / "manifest_out")
  conftest.run_embed(["--model", simple_model, "--input_format", "manifest",
                      "--input", str(manifest), "--key_column", "id",
                      "--passthrough_columns", "row", "--output", out])
  rows = sorted((r["key"], r["row"]) for r in conftest.read_parquet_rows(out))
  assert rows == [("a", "first"), ("b", "first")]
  record = str(tmp_path / "r.tfrecord")
  with tf.io.TFRecordWriter(record) as writer:
    for name, i in (("x", 0), ("y", 1), ("x", 2)):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[_png(i)])),
          "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[name.encode()]))})).SerializeToString())
  out = str(tmp_path / "tfr_out")
  conftest.run_embed(["--model", simple_model, "--input_format", "tfrecord",
                      "--input", record, "--output", out])
  by_key = {r["key"]: r["embedding"] for r in conftest.read_parquet_rows(out)}
  assert sorted(by_key) == ["x", "y"]
  first = str(tmp_path / "first")
  (tmp_path / "one").mkdir()
  (tmp_path / "one" / "x.png").write_bytes(_png(0))
  conftest.run_embed(["--model", simple_model, "--input",
                      str(tmp_path / "one" / "*"), "--output", first])
  (expected,) = conftest.read_parquet_rows(first)
  # record 0, not record 2 (a different colour)
  conftest.assert_same_vectors({"x": by_key["x"]}, {"x": expected["embedding"]})


def test_a_killed_runs_leftovers_are_removed_and_never_read(
    simple_model, tmp_path):
  # What a run killed part-way leaves under --output: Beam's unfinished
  # shards in beam-temp-* folders, holding real rows for some keys.
  folder = tmp_path / "bucket"
  folder.mkdir()
  for i in range(5):
    (folder / f"a{i:03d}.png").write_bytes(_png(i))
  day1 = str(tmp_path / "day1")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(folder / "a00[0-2].png"), "--output", day1])
  day2 = tmp_path / "day2"
  leftover = day2 / "beam-temp-results-0123" / "f00d"
  leftover.parent.mkdir(parents=True)
  shard = sorted((tmp_path / "day1").glob("results-*"))[0]
  leftover.write_bytes(shard.read_bytes())
  (day2 / "failures" / "beam-temp-failures-4567").mkdir(parents=True)
  conftest.run_embed(["--model", simple_model, "--input", str(folder / "*"),
                      "--output", str(day2), "--skip_existing",
                      os.path.join(day1, "results-*")])
  assert not list(day2.glob("beam-temp-*"))
  assert not list((day2 / "failures").glob("beam-temp-*"))
  rows1, _ = _keys(day1)
  rows2, failures2 = _keys(str(day2))
  assert failures2 == []
  assert len(rows1 + rows2) == len(set(rows1 + rows2)) == 5
  assert sorted(rows1 + rows2) == sorted(str(p) for p in folder.iterdir())


def test_clear_output_removes_only_leftovers_and_refuses_old_results(
    tmp_path):
  out = tmp_path / "out"
  (out / "beam-temp-results-1" / "x").mkdir(parents=True)
  (out / "beam-temp-results-1" / "x" / "part").write_bytes(b"rows")
  (out / "failures" / "beam-temp-failures-2").mkdir(parents=True)
  settings = write_settings.WriteSettings(output=str(out))
  earlier = str(tmp_path / "old" / "results-00000-of-00001.parquet")
  output_dir.clear_output(settings, [earlier])  # --skip_existing: tidy up
  assert sorted(os.listdir(out)) == ["failures"]
  assert os.listdir(out / "failures") == []
  # Without --overwrite or --skip_existing, leftovers are left alone.
  (out / "beam-temp-results-3").mkdir()
  output_dir.clear_output(settings)
  assert (out / "beam-temp-results-3").exists()
  # An earlier run's results: refused, then replaced with --overwrite.
  (out / "results-00000-of-00001.parquet").write_bytes(b"PAR1")
  with pytest.raises(flags.ConfigError, match="Pass --overwrite"):
    output_dir.clear_output(settings)
  output_dir.clear_output(dataclasses.replace(settings, overwrite=True))
  assert sorted(os.listdir(out)) == ["failures"]
  # --overwrite never deletes what --skip_existing reads.
  (out / "results-00000-of-00001.parquet").write_bytes(b"PAR1")
  with pytest.raises(flags.ConfigError, match="--overwrite would delete"):
    output_dir.clear_output(
        dataclasses.replace(settings, overwrite=True),
        [str(out / "results-00000-of-00001.parquet")])


def _tfrecord_results(path, task_column):
  schema = pa.schema([pa.field("key", pa.string()),
                      pa.field(task_column, pa.list_(pa.float32()))])
  with tf.io.TFRecordWriter(str(path)) as writer:
    writer.write(examples.row_to_example({"key": "a", task_column: [1.0]},
                                         schema))
  return str(path)


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "nothing-*.parquet"), "matches none"),
    (lambda d: _write(d / "notes.jsonl", b"{}\n"),
     "expected Parquet or TFRecord result files"),
    (lambda d: _parquet(d / "ids.parquet", {"id": ["a"]}),
     "has no 'key' column"),
    (lambda d: _write(d / "junk.parquet", b"not parquet"),
     "is not a Parquet file"),
    (lambda d: _parquet(d / "cls.parquet", {"key": ["a"]},
                        {"hub_image_beam.task": "classification"}),
     "holds classification results, expected feature_vector"),
    (lambda d: _tfrecord_results(d / "cls.tfrecord", "top_k_indices"),
     "holds classification results, expected feature_vector"),
    (lambda d: _write(d / "junk.tfrecord", b"not a record"),
     "is not a TFRecord of tf.train.Example"),
])
def test_bad_skip_existing_files_are_refused(tmp_path, make, message):
  bad = make(tmp_path)
  with pytest.raises(flags.ConfigError, match=message) as raised:
    earlier_results.result_files([bad], "feature_vector")
  assert os.path.basename(bad).split("*")[0] in str(raised.value)


def test_good_skip_existing_files_are_listed_without_side_files(tmp_path):
  good = _parquet(tmp_path / "results-00000-of-00002.parquet", {"key": ["a"]},
                  {"hub_image_beam.task": "feature_vector"})
  tfr = _tfrecord_results(tmp_path / "results-00001-of-00002.tfrecord",
                          "embedding")
  (tmp_path / "failures-00000-of-00001.jsonl").write_text("{}\n")
  (tmp_path / "beam-temp-x").mkdir()
  (tmp_path / "beam-temp-x" / "results-9.parquet").write_bytes(b"x")
  assert earlier_results.result_files(
      [str(tmp_path / "*"), str(tmp_path / "results-*")],
      "feature_vector") == (good, tfr)


def test_bad_skip_existing_fails_before_reading(simple_model, tmp_path):
  # One end-to-end run: the job refuses before any work (the checks
  # themselves are tested at the function above).
  bad = _parquet(tmp_path / "ids.parquet", {"id": ["a"]})
  out = tmp_path / "out"
  (tmp_path / "in").mkdir()
  (tmp_path / "in" / "x.png").write_bytes(_png(1))
  with pytest.raises(flags.ConfigError, match="has no 'key' column"):
    conftest.run_embed(["--model", simple_model, "--input",
                        str(tmp_path / "in" / "*"), "--output", str(out),
                        "--skip_existing", bad])
  assert not out.exists()


def _write(path, data):
  path.write_bytes(data)
  return str(path)


def _parquet(path, columns, metadata=None):
  table = pa.table(columns)
  if metadata:
    table = table.replace_schema_metadata(metadata)
  pq.write_table(table, path)
  return str(path)


@pytest.mark.parametrize("output_format", ["parquet", "tfrecord"])
def test_skip_existing_refuses_another_models_results(
    simple_model, tmp_path, capsys, output_format):
  from tests import model_builders  # pylint: disable=g-import-not-at-top
  # Day 2's model: the same task and outputs, other weights.
  other = model_builders.save_with_training(
      os.path.join(str(tmp_path), "other_model"))
  folder = tmp_path / "images"
  folder.mkdir()
  for i in range(4):
    (folder / f"a{i}.png").write_bytes(_png(i))
  day1 = str(tmp_path / "day1")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(folder / "a[01].png"), "--output", day1,
                      "--output_format", output_format])
  argv = ["--model", other, "--input", str(folder / "*"), "--output",
          str(tmp_path / "day2"), "--output_format", output_format,
          "--skip_existing", os.path.join(day1, "results-*")]
  status = embed.main(argv)
  err = capsys.readouterr().err
  assert status == 2
  assert "another model" in err and "content digest" in err
  assert not os.path.exists(str(tmp_path / "day2"))
  # The same model moved elsewhere is the same model.
  moved = str(tmp_path / "moved")
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(simple_model, moved)
  status = embed.main(argv[:1] + [moved] + argv[2:])
  assert status == 0, capsys.readouterr().err
  if output_format == "tfrecord":
    # Without the run.json beside them, TFRecord results cannot be told.
    os.remove(os.path.join(day1, "run.json"))
    status = embed.main(argv[:1] + [moved] + argv[2:] + ["--overwrite"])
    err = capsys.readouterr().err
    assert status == 2 and "cannot tell which model" in err
  status = embed.main(argv + ["--allow_mixed_results", "--overwrite"])
  assert status == 0, capsys.readouterr().err
