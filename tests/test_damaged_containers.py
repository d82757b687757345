"""Damaged containers fail alone (issue 35): a TFRecord cut short or with a
flipped byte, a Parquet file cut in half or with another image column, and
files of another kind in the glob. Every input key comes out exactly once,
the job goes on, and no message copies a byte of the input."""
from __future__ import annotations

import re

from pipelines import embed
from tests import conftest
from tests import damaged_files


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
  expected = damaged_files.tfrecord_folder(folder)
  out = str(tmp_path / "out")
  status, err = _main(["--model", simple_model, "--input_format", "tfrecord",
                       "--input", f"{folder}/*", "--output", out], capsys)
  assert status == 0, err
  rows = [r["key"] for r in conftest.read_parquet_rows(out)]
  failed = {f["key"]: f for f in conftest.read_failures(out)}
  assert sorted(rows) == sorted(damaged_files.TFRECORD_KEPT)
  assert {k: (f["stage"], f["reason"]) for k, f in failed.items()} == {
      f"{folder}/{name}": ("read", reason)
      for name, reason in expected.items()}
  assert "cut short" in failed[f"{folder}/b_cut.tfrecord:2"]["message"]
  assert "CRC" in failed[f"{folder}/c_flipped.tfrecord:1"]["message"]
  _no_input_bytes_in(f["message"] for f in failed.values())


def test_damaged_parquet_and_other_files_in_the_glob_fail_alone(
    simple_model, tmp_path, capsys):
  folder = tmp_path / "parquet"
  expected = damaged_files.parquet_folder(folder)
  out = str(tmp_path / "out")
  # img2dataset's stats file sorts first: the launch check looks past it.
  status, err = _main(["--model", simple_model, "--input_format", "parquet",
                       "--input", f"{folder}/*", "--key_column", "key",
                       "--output", out], capsys)
  assert status == 0, err
  rows = [r["key"] for r in conftest.read_parquet_rows(out)]
  failed = {f["key"]: f for f in conftest.read_failures(out)}
  assert sorted(rows) == damaged_files.PARQUET_KEPT
  assert {k: (f["stage"], f["reason"]) for k, f in failed.items()} == {
      **{f"{folder}/{name}": ("read", reason)
         for name, reason in expected.items()},
      **{key: ("read", "bad_file") for key in damaged_files.PARQUET_FLIPPED}}
  assert "'image'" in failed[f"{folder}/00003.parquet"]["message"]
  assert "row group 0 of" in failed["e0"]["message"]
  _no_input_bytes_in(f["message"] for f in failed.values())


def test_damaged_manifests_fail_alone(simple_model, tmp_path, capsys):
  import gzip  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  images = tmp_path / "images"
  images.mkdir()
  paths = []
  for i in range(8):
    path = images / f"{i}.png"
    path.write_bytes(damaged_files.png(i))
    paths.append(str(path))
  folder = tmp_path / "manifests"
  folder.mkdir()
  # JSON Lines with a malformed line (row 1) and a line that is no object.
  (folder / "a.jsonl").write_text("\n".join([
      json.dumps({"uri": paths[0]}), '{"uri": "' + paths[1],
      "[1, 2]", json.dumps({"uri": paths[2]})]) + "\n")
  # gzip CSV cut short: its first rows are kept.
  text = "uri\n" + "".join(f"{paths[3 + i % 3]}\n" for i in range(3)) + (
      "".join(f"{images}/missing-{i}.png\n" for i in range(3000)))
  whole = gzip.compress(text.encode())
  (folder / "b.csv.gz").write_bytes(whole[:len(whole) // 2])
  # A later manifest without the URI column.
  (folder / "c.csv").write_text("path\n" + paths[7] + "\n")
  out = str(tmp_path / "out")
  status, err = _main(["--model", simple_model, "--input_format", "manifest",
                       "--input", f"{folder}/*", "--output", out], capsys)
  assert status == 0, err
  rows = sorted(r["key"] for r in conftest.read_parquet_rows(out))
  assert rows == sorted([paths[0], paths[2], paths[3], paths[4], paths[5]])
  failed = conftest.read_failures(out)
  by_reason = {}
  for f in failed:
    by_reason.setdefault(f["reason"], []).append(f["key"])
  assert sorted(by_reason["bad_record"]) == [f"{folder}/a.jsonl:1",
                                             f"{folder}/a.jsonl:2"]
  assert by_reason["bad_file"] == [f"{folder}/b.csv.gz"]
  assert by_reason["wrong_schema"] == [f"{folder}/c.csv"]
  # The rows of b.csv.gz read before the cut name missing files.
  assert set(by_reason) == {"bad_record", "bad_file", "wrong_schema",
                            "not_found"}
  _no_input_bytes_in(f["message"] for f in failed)
