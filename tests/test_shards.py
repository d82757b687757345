"""Datasets as people keep them (issue 27): WebDataset tar shards written by
the real ``webdataset`` package, Parquet written by Hugging Face
``datasets`` and by pyarrow, img2dataset's layout; every sample exactly
once, results read back with DuckDB and pandas."""
from __future__ import annotations

import glob
import gzip
import io
import json
import os

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from pipelines import embed
from tests import conftest
from tests import image_corpus
from transforms.read import tar_samples

pytestmark = conftest.needs_shared


def _photo(i: int) -> bytes:
  return image_corpus.encode(image_corpus.solid(
      "RGB", (20 * i % 256, 200 - 7 * i % 200, 90)), "JPEG")


def _png(i: int) -> bytes:
  return image_corpus.encode(image_corpus.solid("RGB", (5, 9 * i, 200)),
                             "PNG")


def _write_shard(path: str, samples) -> None:
  opener = gzip.open if path.endswith(("gz", "tgz")) else open
  with opener(path, "wb") as stream:
    with wds.TarWriter(stream) as sink:
      for sample in samples:
        sink.write(sample)


@pytest.mark.parametrize("name,expected", [
    ("000123.jpg", ("000123", "jpg")),
    ("a/b/000123.seg.PNG", ("a/b/000123", "seg.png")),
    ("dir.v2/x.json", ("dir.v2/x", "json")),
    ("noext", None),
])
def test_webdataset_names_split_at_the_first_dot_of_the_last_part(name,
                                                                  expected):
  assert tar_samples.split_name(name) == expected


def test_a_truncated_shard_keeps_the_samples_before_the_damage(tmp_path):
  path = str(tmp_path / "s.tar")
  _write_shard(path, [{"__key__": f"k{i}", "jpg": _photo(i)}
                      for i in range(6)])
  data = open(path, "rb").read()
  got = []
  with pytest.raises(tar_samples.DamagedArchive):
    for sample in tar_samples.samples(tar_samples.members(
        io.BytesIO(data[:len(data) // 2]))):
      got.append(sample.key)
  assert got and got == [f"k{i}" for i in range(len(got))]
  assert len(got) < 6


@pytest.fixture()
def shards(tmp_path):
  """Three shards, one per suffix, and one truncated; the samples each
  holds, and what should become of them."""
  folder = tmp_path / "shards"
  folder.mkdir()
  meta = {"url": "https://example.com/x.jpg", "caption": "a \"quoted\" cat",
          "width": 40}
  s0 = [{"__key__": f"{i:06d}", "jpg": _photo(i), "json":
         json.dumps(dict(meta, key=i)).encode(), "txt": f"caption {i}",
         "cls": str(i % 3)} for i in range(5)]
  s0.append({"__key__": "png_only", "png": _png(1)})
  s0.append({"__key__": "no_image", "json": b"{}", "txt": "nothing"})
  s0.append({"__key__": "corrupt", "jpg": b"\xff\xd8 not really a jpeg"})
  s0.append({"__key__": "000001", "jpg": _photo(9)})  # repeats a key
  _write_shard(str(folder / "00000.tar"), s0)
  _write_shard(str(folder / "00001.tar.gz"),
               [{"__key__": f"g{i}", "jpg": _photo(30 + i)} for i in range(4)])
  _write_shard(str(folder / "00002.tgz"),
               [{"__key__": f"t{i}", "webp": image_corpus.encode(
                   image_corpus.solid("RGB", (9, 9, 9 * i)), "WEBP")}
                for i in range(3)])
  _write_shard(str(tmp_path / "whole.tar"),
               [{"__key__": f"d{i}", "jpg": _photo(50 + i)}
                for i in range(8)])
  whole = open(tmp_path / "whole.tar", "rb").read()
  (folder / "00003.tar").write_bytes(whole[:len(whole) * 5 // 8])
  return folder


def test_webdataset_every_sample_exactly_once(simple_model, shards, tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed([
      "--model", simple_model, "--input_format", "webdataset", "--input",
      str(shards / "*"), "--output", out,
      "--passthrough_columns", "json,txt,cls"])
  rows = conftest.read_parquet_rows(out)
  failed = conftest.read_failures(out)
  keys = [r["key"] for r in rows] + [f["key"] for f in failed]
  by_reason = {}
  for f in failed:
    by_reason.setdefault(f["reason"], []).append(f["key"])
  s0 = str(shards / "00000.tar")
  assert sorted(by_reason) == ["bad_archive", "duplicate_key",
                               "missing_image", "not_an_image"], by_reason
  assert by_reason["missing_image"] == [f"{s0}:no_image"]
  assert by_reason["duplicate_key"] == [f"{s0}:000001"]
  assert by_reason["not_an_image"] == [f"{s0}:corrupt"]
  assert by_reason["bad_archive"] == [str(shards / "00003.tar")]
  # Exactly once, except that a repeated key fails the later sample: the
  # first one is a result.
  assert len(keys) == len(set(keys)) + 1
  results = {r["key"]: r for r in rows}
  assert f"{s0}:png_only" in results
  assert {f"{shards}/00001.tar.gz:g{i}" for i in range(4)} <= set(results)
  assert {f"{shards}/00002.tgz:t{i}" for i in range(3)} <= set(results)
  damaged = sorted(k for k in results if "00003.tar:" in k)
  assert damaged and damaged == [f"{shards}/00003.tar:d{i}"
                                 for i in range(len(damaged))]
  first = results[f"{s0}:000002"]
  assert json.loads(first["json"])["key"] == 2   # JSON text, not parsed
  assert first["json"].startswith("{") and first["txt"] == "caption 2"
  assert first["cls"] == 2
  assert results[f"{s0}:png_only"]["cls"] is None
  # Read back as users do.
  pattern = os.path.join(out, "results-*.parquet")
  counted = duckdb.sql(f"SELECT count(*), sum(cls) FROM '{pattern}' "
                       "WHERE cls IS NOT NULL").fetchall()[0]
  assert counted == (5, 0 + 1 + 2 + 0 + 1)
  frame = pd.concat(pd.read_parquet(p) for p in glob.glob(pattern))
  assert frame["cls"].dtype.kind in "iuf" and len(frame) == len(rows)

  # A second run over the same shards, skipping the first run's results,
  # joins keys to shards and reads no image twice into a result.
  again = str(tmp_path / "again")
  conftest.run_embed([
      "--model", simple_model, "--input_format", "webdataset", "--input",
      str(shards / "*"), "--output", again, "--passthrough_columns",
      "json,txt,cls", "--skip_existing", pattern])
  assert not [r for p in glob.glob(os.path.join(again, "results-*"))
              for r in pq.read_table(p).to_pylist()]
  assert sorted(f["reason"] for f in conftest.read_failures(again)) == \
      sorted(f["reason"] for f in failed)


def test_img2dataset_layout(simple_model, tmp_path):
  """img2dataset's output: NNNNN.tar of KEY.jpg / KEY.json / KEY.txt, with
  a NNNNN.parquet and NNNNN_stats.json beside each shard."""
  folder = tmp_path / "img2dataset"
  folder.mkdir()
  rows = []
  for shard in range(2):
    samples = []
    for i in range(3):
      key = f"{shard:05d}{i:04d}"
      info = {"url": f"https://example.com/{key}.jpg", "key": key,
              "status": "success", "caption": f"photo {key}", "width": 40,
              "height": 30}
      samples.append({"__key__": key, "jpg": _photo(shard * 3 + i),
                      "json": json.dumps(info).encode(), "txt": info["caption"]})
      rows.append(info)
    _write_shard(str(folder / f"{shard:05d}.tar"), samples)
    pq.write_table(pa.Table.from_pylist(rows[-3:]),
                   str(folder / f"{shard:05d}.parquet"))
    (folder / f"{shard:05d}_stats.json").write_text("{}")
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input_format",
                      "webdataset", "--input", str(folder / "*.tar"),
                      "--output", out, "--passthrough_columns", "txt"])
  results = conftest.read_parquet_rows(out)
  assert sorted(r["txt"] for r in results) == sorted(r["caption"]
                                                     for r in rows)
  assert not conftest.read_failures(out)


def test_hugging_face_parquet_images(simple_model, tmp_path):
  import datasets  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photos = [Image.open(io.BytesIO(_photo(i))) for i in range(7)]
  data = datasets.Dataset.from_dict(
      {"image": photos, "label": list(range(7))},
      features=datasets.Features({"image": datasets.Image(),
                                  "label": datasets.Value("int64")}))
  path = str(tmp_path / "hf.parquet")
  data.to_parquet(path, batch_size=3)   # three row groups
  assert pq.ParquetFile(path).metadata.num_row_groups == 3
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input_format", "parquet",
                      "--input", path, "--output", out,
                      "--passthrough_columns", "label"])
  rows = conftest.read_parquet_rows(out)
  assert sorted(r["key"] for r in rows) == sorted(f"{path}:{i}"
                                                  for i in range(7))
  assert {r["key"]: r["label"] for r in rows} == {f"{path}:{i}": i
                                                  for i in range(7)}
  schema = pq.read_schema(glob.glob(os.path.join(out, "results-*"))[0])
  assert schema.field("label").type == pa.int64()  # its Arrow type kept
  assert "image_path" in schema.names  # the struct's path, passed through


def test_parquet_keys_duplicates_and_null_images(simple_model, tmp_path):
  path = str(tmp_path / "images.parquet")
  table = pa.table({
      "id": ["a", "b", "a", "c", "d"],
      "img": [_photo(1), _photo(2), _photo(3), None, _photo(4)],
      "score": [0.5, 1.5, 2.5, 3.5, 4.5]})
  pq.write_table(table, path, row_group_size=2)
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input_format", "parquet",
                      "--input", path, "--output", out, "--image_column",
                      "img", "--key_column", "id", "--passthrough_columns",
                      "score"])
  rows = {r["key"]: r for r in conftest.read_parquet_rows(out)}
  failed = sorted((f["key"], f["reason"])
                  for f in conftest.read_failures(out))
  assert sorted(rows) == ["a", "b", "d"]
  assert rows["a"]["score"] == 0.5    # the first "a" wins
  assert failed == [("a", "duplicate_key"), ("c", "missing_image")]
  assert duckdb.sql(
      f"SELECT count(*) FROM '{out}/failures/*.jsonl' WHERE reason = "
      "'duplicate_key'").fetchall()[0] == (1,)


def _main(argv, capsys):
  status = embed.main(list(argv))
  return status, capsys.readouterr().err


def test_launch_refusals_name_what_to_use(simple_model, tmp_path, capsys):
  urls = str(tmp_path / "urls.parquet")
  pq.write_table(pa.table({"url": ["https://example.com/a.jpg"],
                           "caption": ["a"]}), urls)
  status, err = _main(["--model", simple_model, "--input_format", "parquet",
                       "--input", urls, "--output", str(tmp_path / "o")],
                      capsys)
  assert status == 2
  assert "no image column 'image'" in err and "url, caption" in err
  assert "--input_format manifest --uri_column url" in err
  status, err = _main(["--model", simple_model, "--input", urls,
                       "--output", str(tmp_path / "o")], capsys)
  assert status == 2 and "use --input_format parquet" in err
  tars = tmp_path / "tars"
  tars.mkdir()
  _write_shard(str(tars / "a.tar"), [{"__key__": "x", "jpg": _photo(1)}])
  status, err = _main(["--model", simple_model, "--input", str(tars / "*"),
                       "--output", str(tmp_path / "o")], capsys)
  assert status == 2 and "use --input_format webdataset" in err
  nested = str(tmp_path / "nested.parquet")
  pq.write_table(pa.table({"image": [_photo(1)], "tags": [["a", "b"]]}),
                 nested)
  status, err = _main(["--model", simple_model, "--input_format", "parquet",
                       "--input", nested, "--output", str(tmp_path / "o"),
                       "--passthrough_columns", "tags", "--output_format",
                       "tfrecord"], capsys)
  assert status == 2 and "tags" in err and "nested" in err
  assert not os.path.exists(str(tmp_path / "o"))


def _tar(path, entries):
  """entries: (name, bytes) for a file, (name, ("sym"|"hard", target))."""
  import tarfile  # pylint: disable=g-import-not-at-top
  with tarfile.open(path, "w") as tar:
    for name, data in entries:
      info = tarfile.TarInfo(name)
      if isinstance(data, tuple):
        info.type = tarfile.SYMTYPE if data[0] == "sym" else tarfile.LNKTYPE
        info.linkname = data[1]
        tar.addfile(info)
      else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _read_shard(path, passthrough=(), max_member_bytes=None):
  from transforms.read import listing  # pylint: disable=g-import-not-at-top
  from transforms.read import settings as read_settings  # pylint: disable=g-import-not-at-top
  from transforms.read import webdataset  # pylint: disable=g-import-not-at-top
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  step = webdataset.ReadShardDoFn(read_settings.DEFAULT_IMAGE_EXTENSIONS,
                                  passthrough, max_member_bytes)
  images, failed = {}, {}
  for out in step.process((listing.ListedFile(path), frozenset())):
    if isinstance(out, beam.pvalue.TaggedOutput):
      failed[out.value.key] = out.value
    else:
      images[out.image_key.key] = out
  return images, failed


def test_links_and_oversize_members_fail_their_sample_and_unused_are_unread(
    tmp_path):
  path = str(tmp_path / "s.tar")
  _tar(path, [("a.jpg", _photo(1)), ("a.txt", b"first"),
              ("b.jpg", ("sym", "a.jpg")), ("c.jpg", ("hard", "a.jpg")),
              ("d.jpg", _photo(2)), ("d.npy", b"\0" * 50_000),
              ("e.jpg", b"\xff" * 30_000), ("f.mp4", b"\0" * 40_000)])
  # Unused members are never read: they stand as Unread, still a sample.
  with open(path, "rb") as stream:
    named = dict(tar_samples.members(stream, lambda s: s in ("jpg", "txt"),
                                     max_bytes=20_000))
  assert named["d.npy"] == tar_samples.Unread("not used by this job")
  assert named["b.jpg"].why == "a symbolic link"
  assert named["e.jpg"].too_large
  images, failed = _read_shard(path, passthrough=("txt",),
                               max_member_bytes=20_000)   # --max_member_bytes
  assert sorted(k.rsplit(":", 1)[1] for k in images) == ["a", "d"]
  assert images[f"{path}:a"].image_key.passthrough == (("txt", "first"),)
  reasons = {k.rsplit(":", 1)[1]: (f.reason, f.message)
             for k, f in failed.items()}
  assert reasons["b"][0] == "missing_image" and "symbolic link" in reasons["b"][1]
  assert reasons["c"][0] == "missing_image" and "hard link" in reasons["c"][1]
  assert reasons["e"][0] == "member_too_large" and "30,000" in reasons["e"][1]
  assert reasons["f"][0] == "missing_image"      # an .mp4 only
  assert set(reasons) == {"b", "c", "e", "f"}


def test_a_transient_read_error_mid_shard_costs_nothing(tmp_path,
                                                         monkeypatch):
  from transforms.read import storage  # pylint: disable=g-import-not-at-top
  from transforms.read import webdataset  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(webdataset, "RETRY_SECONDS", 0.0)
  path = str(tmp_path / "s.tar")
  _write_shard(path, [{"__key__": f"k{i}", "jpg": _photo(i)}
                      for i in range(8)])
  real_open = storage.open_file
  opened = []

  class Breaks:
    """The real file, whose first read breaks as a GCS 503 would, a quarter
    way."""

    def __init__(self, stream, at):
      self._stream, self._left = stream, at

    def read(self, n=-1):
      if self._left is not None and self._left <= 0:
        raise ConnectionResetError("connection reset by peer")
      data = self._stream.read(n)
      if self._left is not None:
        self._left -= len(data)
      return data

    def __enter__(self):
      return self

    def __exit__(self, *exc):
      self._stream.close()

  def flaky_open(p, *args):
    opened.append(p)
    size = os.path.getsize(p)
    return Breaks(real_open(p, *args), size // 4 if len(opened) == 1 else None)

  monkeypatch.setattr(storage, "open_file", flaky_open)
  images, failed = _read_shard(path)
  assert failed == {} and len(opened) == 2
  assert sorted(images) == [f"{path}:k{i}" for i in range(8)]
  # Storage that breaks at the same place on every read: read_error (a
  # storage failure), never the permanent bad_archive.
  monkeypatch.setattr(storage, "open_file", lambda p, *a: Breaks(
      real_open(p, *a), os.path.getsize(p) // 4))
  images, failed = _read_shard(path)
  assert [f.reason for f in failed.values()] == ["read_error"]
  assert "ConnectionResetError" in failed[path].message
  # Damage is not transient: the same break twice, then bad_archive, and
  # the samples before it are kept once.
  data = open(path, "rb").read()
  cut = str(tmp_path / "cut.tar")
  open(cut, "wb").write(data[:len(data) // 2])
  opened.clear()
  monkeypatch.setattr(storage, "open_file", real_open)
  images, failed = _read_shard(cut)
  assert list(failed) == [cut] and failed[cut].reason == "bad_archive"
  assert sorted(images) == [f"{cut}:k{i}" for i in range(len(images))]
