"""What must not grow with the number of inputs (issue 34): the launcher
does not read a long manifest, and on the local runner the slice listing
(``read.slices``) settles keys exactly as the join it replaces."""
from __future__ import annotations

import contextlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.core import failures
from transforms.job import options as options_lib
from transforms.job import plan as plan_lib
from transforms.read import settings as read_settings
from transforms.read import source
from transforms.read import storage
from transforms.write import columns
from transforms.write import earlier_results

LINES = 1_000_000


class _CountingFile:
  """A file that counts the lines taken from it."""

  def __init__(self, f, counter):
    self._f, self._counter = f, counter

  def readline(self, *args):
    line = self._f.readline(*args)
    self._counter[0] += bool(line)
    return line

  def __getattr__(self, name):
    return getattr(self._f, name)


def test_a_million_line_manifest_launches_reading_only_its_head(
    simple_model, tmp_path, monkeypatch):
  path = tmp_path / "million.csv"
  with open(path, "w", encoding="utf-8") as f:
    f.write("key,uri\n")
    f.writelines(f"k{i},/data/{i % 977}/{i}.jpg\n" for i in range(LINES))
  read_lines = [0]
  opened = storage.open_binary

  @contextlib.contextmanager
  def counting(*args, **kwargs):
    with opened(*args, **kwargs) as f:
      yield _CountingFile(f, read_lines)

  monkeypatch.setattr(storage, "open_binary", counting)
  options = PipelineOptions([
      "--model", simple_model, "--input_format", "manifest", "--input",
      str(path), "--key_column", "key", "--output", str(tmp_path / "out")])
  plan = plan_lib.plan_job(options_lib.build_config(options))
  assert plan.config.read.input_format == "manifest"
  # The launch checks (columns, credentials) read the head, not the list.
  assert 0 < read_lines[0] <= 1_001 + 1, read_lines[0]


# What each run of the read stage gave, by run: the in-process runner
# unpickles its DoFns in this process, so they reach this module's dict.
_GOT = {}


def _note(value, run, what):
  _GOT.setdefault((run, what), []).append(value)


def _read(read, done, in_slices):
  """(kept keys, failures as (key, reason, message)) of the read stage."""
  run = f"{in_slices}-{len(_GOT)}"
  with beam.Pipeline(options=PipelineOptions(
      ["--direct_running_mode=in_memory"])) as p:
    out = p | source.ReadInputs(read, done, in_slices=in_slices)
    _ = out["images"] | "Kept" >> beam.Map(
        lambda item: _note(item.image_key.key, run, "kept"))
    _ = out[failures.FAILURES_TAG] | "Failed" >> beam.Map(
        lambda f: _note((f.key, f.reason, f.message), run, "failed"))
  return (sorted(_GOT.get((run, "kept"), [])),
          sorted(_GOT.get((run, "failed"), [])))


def test_slices_settle_keys_as_the_join_does(tmp_path):
  """Two manifests repeating keys (within and across files), a bad row,
  a key done by an earlier run: the slice listing keeps, skips and fails
  exactly what the join does, with the same messages."""
  (tmp_path / "a.csv").write_text(
      "key,uri\nk1,/x/1.jpg\nk2,/x/2.jpg\nk1,/x/1b.jpg\n,\nk4,/x/4.jpg\n")
  (tmp_path / "b.csv").write_text("key,uri\nk2,/y/2.jpg\nk3,/y/3.jpg\n")
  earlier = tmp_path / "results-00000-of-00001.parquet"
  pq.write_table(pa.table({columns.KEY: ["k4"],
                           columns.KEY_ESCAPED: [False]}), earlier)
  read = read_settings.ReadSettings(patterns=(f"{tmp_path}/*.csv",),
                                    input_format="manifest",
                                    key_column="key")
  done = earlier_results.EarlierKeys([str(earlier)])
  outcomes = {in_slices: _read(read, done, in_slices)
              for in_slices in (False, True)}
  assert outcomes[True] == outcomes[False]
  kept, failed = outcomes[True]
  assert kept == ["k1", "k2", "k3"]   # k4 is done; one input per key
  by_key = {key: (reason, message) for key, reason, message in failed}
  # The first listed wins: a.csv's k1 (row 0) and k2 (a.csv before b.csv).
  assert by_key["k1"][0] == failures.REASON_DUPLICATE_KEY
  assert "a.csv row 2 repeats the key of" in by_key["k1"][1]
  assert "a.csv row 0" in by_key["k1"][1]
  assert by_key["k2"][0] == failures.REASON_DUPLICATE_KEY
  assert "b.csv row 0" in by_key["k2"][1] and "a.csv row 1" in by_key["k2"][1]
  assert len(failed) == 3   # the two repeats and the row without a URI


def test_slices_settle_url_lists_and_loose_files_as_the_join_does(tmp_path):
  lists = tmp_path / "lists"
  lists.mkdir()
  (lists / "a.txt").write_text(
      "http://h.example/1.jpg\nhttp://h.example/2.jpg\n/etc/passwd\n"
      "http://h.example/1.jpg\n")
  (lists / "b.txt").write_text("http://h.example/2.jpg\nhttp://[x/\n")
  read = read_settings.ReadSettings(patterns=(f"{lists}/*.txt",),
                                    input_format="urls")
  joined, sliced = (_read(read, None, s) for s in (False, True))
  assert sliced == joined
  kept, failed = sliced
  assert kept == ["http://h.example/1.jpg", "http://h.example/2.jpg"]
  assert sorted(reason for _, reason, _ in failed) == sorted([
      failures.REASON_DUPLICATE_KEY, failures.REASON_DUPLICATE_KEY,
      failures.REASON_UNSUPPORTED_URL, failures.REASON_BAD_URL])
  # Loose files under two overlapping globs, one done earlier.
  photos = tmp_path / "photos"
  photos.mkdir()
  for name in ("a.png", "b.png", "c.png"):
    (photos / name).write_bytes(b"")
  earlier = tmp_path / "results-00000-of-00001.parquet"
  pq.write_table(pa.table({columns.KEY: [str(photos / "b.png")],
                           columns.KEY_ESCAPED: [False]}), earlier)
  read = read_settings.ReadSettings(patterns=(f"{photos}/a*",
                                              f"{photos}/*"))
  done = earlier_results.EarlierKeys([str(earlier)])
  joined, sliced = (_read(read, done, s) for s in (False, True))
  assert sliced == joined == ([str(photos / "a.png"), str(photos / "c.png")],
                              [])


def test_lists_split_in_byte_ranges_settle_keys_as_a_whole_read(tmp_path):
  """A CSV manifest (quoted newlines, repeated keys, rows without a URI),
  a JSON Lines one and a Parquet one of several row groups, and a URL
  list, read in ranges of a few hundred bytes by the Beam path: the same
  kept keys, and the same failures with the same keys and messages, as a
  whole read and as the local runner's slices."""
  rows = []
  for i in range(300):
    uri = "" if i % 37 == 5 else f"/x/{i}.jpg"
    note = f'"line\n{i} ""q"""' if i % 3 else str(i)
    rows.append(f"k{i % 250},{uri},{note}\n")
  (tmp_path / "a.csv").write_text("key,uri,note\n" + "".join(rows))
  (tmp_path / "b.jsonl").write_text("".join(
      f'{{"key": "j{i % 90}", "uri": "/j/\\"{i}.jpg"}}\n' if i % 41 else
      "{not json\n" for i in range(100)))
  pq.write_table(pa.table({"key": [f"p{i % 80}" for i in range(100)],
                           "uri": [None if i % 23 == 4 else f"/p/{i}.jpg"
                                   for i in range(100)]}),
                 tmp_path / "c.parquet", row_group_size=16)
  outcomes = {}
  for split in (64 * 2**20, 200):
    read = read_settings.ReadSettings(
        patterns=(f"{tmp_path}/*",), input_format="manifest",
        key_column="key", list_split_bytes=split)
    outcomes[split] = _read(read, None, False)
  outcomes["slices"] = _read(read, None, True)
  assert outcomes[200] == outcomes[64 * 2**20] == outcomes["slices"]
  kept, failed = outcomes[200]
  good = ({f"k{i % 250}" for i in range(300) if i % 37 != 5}
          | {f"j{i % 90}" for i in range(100) if i % 41}
          | {f"p{i % 80}" for i in range(100) if i % 23 != 4})
  assert kept == sorted(good)
  reasons = [reason for _, reason, _ in failed]
  assert reasons.count(failures.REASON_BAD_RECORD) == 3
  assert reasons.count(failures.REASON_MISSING_URI) == 8 + 5
  assert len(failed) == 300 + 100 + 100 - len(kept)
  lists = tmp_path / "lists"
  lists.mkdir()
  (lists / "u.txt").write_text("".join(
      f"http://h.example/{i % 700}.jpg\n" if i % 53 else "/etc/passwd\n"
      for i in range(800)))
  outcomes = {}
  for split in (64 * 2**20, 300):
    read = read_settings.ReadSettings(patterns=(f"{lists}/*",),
                                      input_format="urls",
                                      list_split_bytes=split)
    outcomes[split] = _read(read, None, False)
  assert outcomes[300] == outcomes[64 * 2**20]
  kept, failed = outcomes[300]
  assert kept == sorted({f"http://h.example/{i % 700}.jpg"
                         for i in range(800) if i % 53})
  assert len(failed) == 800 - len(kept)
  assert ("lists/u.txt:54", failures.REASON_UNSUPPORTED_URL) in {
      (key[len(str(tmp_path)) + 1:], reason) for key, reason, _ in failed}


def test_damaged_lists_split_in_ranges_fail_row_by_row(tmp_path):
  """A CSV manifest with a byte flipped to invalid UTF-8 in one row (a NUL
  in another is read as written: its URI fails when opened), and a file
  of another kind named .csv in the glob, read in ranges of 256 bytes:
  the row fails alone (as in a whole read) and the rest are kept; the
  other file fails once per range, each failure under its own key, and
  nothing of it is kept."""
  lines = [f"k{i},/x/{i}.jpg\n".encode() for i in range(400)]
  lines[57] = b"k57,/x/\xff57.jpg\n"
  lines[120] = b"k120,/x/\x00.jpg\n"
  (tmp_path / "a.csv").write_bytes(b"key,uri\n" + b"".join(lines))
  blob = bytes((i * 7919) % 251 for i in range(3000))
  (tmp_path / "z.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff" + blob)
  outcomes = {}
  for split in (64 * 2**20, 256):
    read = read_settings.ReadSettings(
        patterns=(f"{tmp_path}/*.csv",), input_format="manifest",
        key_column="key", list_split_bytes=split)
    outcomes[split] = _read(read, None, False)
  for kept, failed in outcomes.values():
    assert kept == sorted(f"k{i}" for i in range(400) if i != 57)
    by_key = {key: reason for key, reason, _ in failed}
    assert by_key[f"{tmp_path}/a.csv:57"] == failures.REASON_BAD_RECORD
    others = [(key, reason) for key, reason, _ in failed
              if key.startswith(f"{tmp_path}/z.csv")]
    assert {reason for _, reason in others} == {failures.REASON_BAD_FILE}
    assert len({key for key, _ in others}) == len(others)
    assert (f"{tmp_path}/z.csv", failures.REASON_BAD_FILE) in others
    for _, _, message in failed:
      assert "\xff" not in message and "PNG" not in message
  assert len([k for k, _, _ in outcomes[256][1] if "z.csv" in k]) > 5


def test_slices_settle_parquet_images_as_the_join_does(tmp_path):
  """Parquet files of image bytes (several row groups, keys repeated
  within and across files, a null image, a key done earlier), one cut
  short and one of another kind in the glob: the slices keep, skip and
  fail exactly what the join does, and read the bytes of kept rows."""
  for name, first in (("a", 0), ("b", 50)):
    keys = [f"k{(first + i) % 70}" for i in range(60)]
    pq.write_table(pa.table({
        "key": keys,
        "image": [None if k == "k13" else k.encode() * 3 for k in keys]}),
        tmp_path / f"{name}.parquet", row_group_size=16)
  whole = (tmp_path / "a.parquet").read_bytes()
  (tmp_path / "c.parquet").write_bytes(whole[:len(whole) // 2])
  (tmp_path / "d.parquet").write_bytes(b'{"count": 3}')
  earlier = tmp_path / "done" / "results-00000-of-00001.parquet"
  earlier.parent.mkdir()
  pq.write_table(pa.table({columns.KEY: ["k5"],
                           columns.KEY_ESCAPED: [False]}), earlier)
  read = read_settings.ReadSettings(patterns=(f"{tmp_path}/*.parquet",),
                                    input_format="parquet",
                                    key_column="key")
  done = earlier_results.EarlierKeys([str(earlier)])
  outcomes = {in_slices: _read(read, done, in_slices)
              for in_slices in (False, True)}
  assert outcomes[True] == outcomes[False]
  kept, failed = outcomes[True]
  assert kept == sorted(f"k{i}" for i in range(70) if i not in (5, 13))
  by_key = {}
  for key, reason, _ in failed:
    by_key.setdefault(key, []).append(reason)
  # a's k13 has no image; b's k13 repeats it.
  assert sorted(by_key["k13"]) == [failures.REASON_DUPLICATE_KEY,
                                   failures.REASON_MISSING_IMAGE]
  assert by_key[f"{tmp_path}/c.parquet"] == [failures.REASON_BAD_FILE]
  assert by_key[f"{tmp_path}/d.parquet"] == [failures.REASON_BAD_FILE]
  # b.parquet (k50..k69, then k0..k39) repeats 50 of a's keys (k0..k59),
  # k5 among them, which is done: 49 of b's rows fail as duplicates.
  repeats = [key for key, reasons in by_key.items()
             if failures.REASON_DUPLICATE_KEY in reasons]
  assert len(repeats) == 49 and "k5" not in repeats


def test_slices_settle_damaged_tfrecords_as_the_join_does(tmp_path):
  """The damaged TFRecord folder (a file cut short, a flipped byte, a text
  file in the glob) plus a file repeating two keys, one of them done
  earlier: the slices keep, skip and fail exactly what the join does."""
  from tests import damaged_files  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "records"
  expected = damaged_files.tfrecord_folder(folder)
  damaged_files.write_records(folder / "e_repeats.tfrecord",
                              damaged_files.example_records(["g1", "c0",
                                                             "e0"]))
  earlier = tmp_path / "results-00000-of-00001.parquet"
  pq.write_table(pa.table({columns.KEY: ["c0"],
                           columns.KEY_ESCAPED: [False]}), earlier)
  read = read_settings.ReadSettings(patterns=(f"{folder}/*",),
                                    input_format="tfrecord")
  done = earlier_results.EarlierKeys([str(earlier)])
  outcomes = {in_slices: _read(read, done, in_slices)
              for in_slices in (False, True)}
  assert outcomes[True] == outcomes[False]
  kept, failed = outcomes[True]
  assert kept == sorted(set(damaged_files.TFRECORD_KEPT) - {"c0"} | {"e0"})
  by_key = {key[len(str(folder)) + 1:] if key.startswith(str(folder))
            else key: reason for key, reason, _ in failed}
  assert by_key == {**expected, "g1": failures.REASON_DUPLICATE_KEY}
