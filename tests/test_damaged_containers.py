"""Damaged containers fail alone (issue 35): a TFRecord cut short or with a
flipped byte, a Parquet file cut in half or with another image column, and
files of another kind in the glob. Every input key comes out exactly once,
the job goes on, and no message copies a byte of the input."""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from pipelines import embed
from tests import conftest
from tests import image_corpus


def _png(i):
  return image_corpus.encode(
      image_corpus.solid("RGB", (40 * i % 256, 90, 200 - 20 * i)), "PNG")


def _records(names):
  out = []
  for name in names:
    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[_png(len(out))])),
        "image/filename": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[name.encode()])),
    }))
    out.append(example.SerializeToString())
  return out


def _write(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)
  return path.read_bytes()


def _main(argv, capsys):
  status = embed.main(list(argv))
  return status, capsys.readouterr().err


def _no_input_bytes_in(messages):
  for message in messages:
    assert len(message) < 400, message
    assert not re.search(r"[0-9a-f]{32}", message), message   # no hex dump
    assert "\\x" not in message, message


def test_damaged_tfrecords_fail_alone(simple_model, tmp_path, capsys):
  folder = tmp_path / "records"
  folder.mkdir()
  _write(folder / "a_good.tfrecord", _records(["g0", "g1", "g2"]))
  # Cut short inside its last record (a truncated upload).
  whole = _write(folder / "b_cut.tfrecord", _records(["c0", "c1", "c2"]))
  (folder / "b_cut.tfrecord").write_bytes(whole[:-40])
  # A byte flipped inside the data of its second record (CRC mismatch).
  records = _records(["f0", "f1", "f2"])
  whole = bytearray(_write(folder / "c_flipped.tfrecord", records))
  at = len(records[0]) + 16 + 12 + 30   # record 1's data, past its header
  whole[at] ^= 0xFF
  (folder / "c_flipped.tfrecord").write_bytes(bytes(whole))
  # A file of another kind in the glob.
  (folder / "d_notes.txt").write_text("these are not records\n" * 20)
  out = str(tmp_path / "out")
  status, err = _main(["--model", simple_model, "--input_format", "tfrecord",
                       "--input", f"{folder}/*", "--output", out], capsys)
  assert status == 0, err
  rows = sorted(r["key"] for r in conftest.read_parquet_rows(out))
  failed = {f["key"]: f for f in conftest.read_failures(out)}
  assert rows == ["c0", "c1", "f0", "g0", "g1", "g2"]
  assert {k: (f["stage"], f["reason"]) for k, f in failed.items()} == {
      f"{folder}/b_cut.tfrecord:2": ("read", "bad_record"),
      f"{folder}/c_flipped.tfrecord:1": ("read", "bad_record"),
      f"{folder}/d_notes.txt:0": ("read", "bad_record")}
  assert "cut short" in failed[f"{folder}/b_cut.tfrecord:2"]["message"]
  assert "CRC" in failed[f"{folder}/c_flipped.tfrecord:1"]["message"]
  _no_input_bytes_in(f["message"] for f in failed.values())


def test_damaged_parquet_and_other_files_in_the_glob_fail_alone(
    simple_model, tmp_path, capsys):
  folder = tmp_path / "parquet"
  folder.mkdir()

  def table(keys, column="image"):
    return pa.table({"key": keys, column: [_png(i) for i in range(len(keys))]})

  # img2dataset's stats file sorts first: the launch check looks past it.
  (folder / "00000_stats.json").write_text('{"count": 3, "successes": 3}')
  pq.write_table(table(["a0", "a1", "a2"]), folder / "00000.parquet")
  pq.write_table(table(["b0", "b1"]), folder / "00001.parquet")
  pq.write_table(table(["c0", "c1", "c2"]), folder / "00002.parquet")
  cut = (folder / "00002.parquet").read_bytes()
  (folder / "00002.parquet").write_bytes(cut[:len(cut) // 2])
  pq.write_table(table(["d0"], column="jpg"), folder / "00003.parquet")
  out = str(tmp_path / "out")
  status, err = _main(["--model", simple_model, "--input_format", "parquet",
                       "--input", f"{folder}/*", "--key_column", "key",
                       "--output", out], capsys)
  assert status == 0, err
  rows = sorted(r["key"] for r in conftest.read_parquet_rows(out))
  failed = {f["key"]: f for f in conftest.read_failures(out)}
  assert rows == ["a0", "a1", "a2", "b0", "b1"]
  assert {k: (f["stage"], f["reason"]) for k, f in failed.items()} == {
      f"{folder}/00000_stats.json": ("read", "bad_file"),
      f"{folder}/00002.parquet": ("read", "bad_file"),
      f"{folder}/00003.parquet": ("read", "wrong_schema")}
  assert "'image'" in failed[f"{folder}/00003.parquet"]["message"]
  _no_input_bytes_in(f["message"] for f in failed.values())
