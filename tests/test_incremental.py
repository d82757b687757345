"""Incremental runs (--skip_existing): only new keys are processed, earlier
failures are tried again, repeated keys are processed once, and a killed
run's leftovers never count."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from pipelines import embed
from tests import conftest
from tests import image_corpus
from transforms.core import flags


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


def test_a_killed_run_then_skip_existing_gives_a_complete_union(
    simple_model, tmp_path):
  folder = tmp_path / "bucket"
  folder.mkdir()
  for i in range(20):
    (folder / f"a{i:03d}.png").write_bytes(_png(i))
  day1 = str(tmp_path / "day1")
  conftest.run_embed(["--model", simple_model, "--input", str(folder / "*"),
                      "--output", day1])
  for i in range(400):
    (folder / f"b{i:03d}.png").write_bytes(_png(100 + i))
  day2 = tmp_path / "day2"
  argv = [sys.executable, "-m", "pipelines.embed", "--model", simple_model,
          "--input", str(folder / "*"), "--output", str(day2),
          "--skip_existing", os.path.join(day1, "results-*"),
          "--batch_size", "1"]
  process = subprocess.Popen(argv, cwd=conftest.ROOT,
                             env=dict(os.environ, PYTHONPATH=conftest.ROOT),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while not list(day2.glob("beam-temp-*")) and process.poll() is None:
    assert time.monotonic() < deadline
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  assert process.wait() == -signal.SIGKILL
  assert list(day2.glob("beam-temp-*"))  # left behind, part-way
  assert not list(day2.glob("results-*"))
  # The same day again: leftovers removed, never read as results.
  conftest.run_embed(argv[3:])
  assert not list(day2.glob("beam-temp-*"))
  rows1, _ = _keys(day1)
  rows2, failures2 = _keys(str(day2))
  assert failures2 == []
  assert len(rows1 + rows2) == len(set(rows1 + rows2)) == 420
  assert sorted(rows1 + rows2) == sorted(str(p) for p in folder.iterdir())


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "nothing-*.parquet"), "matches none"),
    (lambda d: _write(d / "notes.jsonl", b"{}\n"),
     "expected Parquet or TFRecord result files"),
    (lambda d: _parquet(d / "ids.parquet", {"id": ["a"]}),
     "has no 'key' column"),
    (lambda d: _parquet(d / "cls.parquet", {"key": ["a"]},
                        {"hub_image_beam.task": "classification"}),
     "holds classification results, expected feature_vector"),
])
def test_bad_skip_existing_fails_before_reading(simple_model, tmp_path,
                                                make, message):
  bad = make(tmp_path)
  out = tmp_path / "out"
  (tmp_path / "in").mkdir()
  (tmp_path / "in" / "x.png").write_bytes(_png(1))
  with pytest.raises(flags.ConfigError, match=message) as raised:
    conftest.run_embed(["--model", simple_model, "--input",
                        str(tmp_path / "in" / "*"), "--output", str(out),
                        "--skip_existing", bad])
  assert os.path.basename(bad).split("*")[0] in str(raised.value)
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
