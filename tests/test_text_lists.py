"""Text lists (manifests, URL lists) read streamed, compressed or not, and a
compressed one cut short is never read as complete."""
from __future__ import annotations

import bz2
import gzip

import pytest

from transforms.read import manifest
from transforms.read import url_list

CSV = "key,path\n" + "".join(f"k{i},/img/{i}.jpg\n" for i in range(3000))


@pytest.mark.parametrize("suffix, compress", [
    ("", lambda b: b), (".gz", gzip.compress), (".bz2", bz2.compress)])
def test_compressed_manifests_and_lists_read_whole(tmp_path, suffix,
                                                    compress):
  if suffix != ".bz2":   # manifests: plain or .gz
    path = tmp_path / f"m.csv{suffix}"
    path.write_bytes(compress(("\ufeff" + CSV).encode()))
    rows = list(manifest.iter_manifest(str(path)))
    assert len(rows) == 3000
    assert rows[0] == (0, {"key": "k0", "path": "/img/0.jpg"})
    assert rows[-1] == (2999, {"key": "k2999", "path": "/img/2999.jpg"})
  listing = tmp_path / f"u.txt{suffix}"
  listing.write_bytes(compress("".join(
      f"https://example.com/{i}.jpg\n" for i in range(3000)).encode()))
  lines = list(url_list.url_lines(str(listing)))
  assert lines[0] == (1, "https://example.com/0.jpg") and len(lines) == 3000


@pytest.mark.parametrize("suffix, compress", [
    (".gz", gzip.compress), (".bz2", bz2.compress)])
def test_a_compressed_list_cut_short_raises_at_the_cut(tmp_path, suffix,
                                                       compress):
  whole = compress("".join(f"https://example.com/{i}.jpg\n"
                           for i in range(3000)).encode())
  path = tmp_path / f"u.txt{suffix}"
  path.write_bytes(whole[:len(whole) // 2])
  read = []
  with pytest.raises(EOFError):
    for line in url_list.url_lines(str(path)):
      read.append(line)
  # The lines before the cut were read (bzip2 decodes whole 900 kB blocks:
  # here none), none of them cut mid-way.
  assert len(read) < 3000 and (read or suffix == ".bz2")
  assert read == [(i + 1, f"https://example.com/{i}.jpg")
                  for i in range(len(read))]


# Lists read in byte ranges (issue 34): whatever the split, the same
# records with the same numbers as one whole-file read.

from transforms.read import text_ranges  # noqa: E402

_CSV_HARD = ("\ufeffkey,uri,note\r\n"
             'a,/i/a.jpg,"two\nlines"\r\n'
             "\r\n"
             'b,/i/b.jpg,"quote "" and, comma"\n'
             "\n"
             'c,,"x\n\ny"\n'
             'd,/i/d.jpg,plain\n'
             'e,/i/e.jpg,"""\n"""\n'
             "f,/i/f.jpg,last-without-newline")


def _pieces(path, split_bytes, quote):
  bounds = text_ranges.ranges(path.stat().st_size, split_bytes)
  counts = [text_ranges.count_range(str(path), start, end, quote)
            for start, end in bounds]
  return text_ranges.number_ranges(bounds, counts)


@pytest.mark.parametrize("text, quote", [
    (_CSV_HARD, text_ranges.QUOTE),
    ('{"uri": "/i/\\"q\\".jpg"}\n\n{"uri": "/i/b.jpg"}\n  \nnot json\n'
     '{"uri": "/i/c.jpg"}', None),
    ("https://e.com/1.jpg\n\n# a comment\nhttps://e.com/2.jpg\r\n"
     "https://e.com/3.jpg\n\n", None)], ids=["csv", "jsonl", "urls"])
def test_every_split_reads_the_same_numbered_records(tmp_path, text, quote):
  path = tmp_path / "list"
  path.write_bytes(text.encode())
  whole = list(text_ranges.records(str(path), quote=quote))
  assert whole[0][0] == 0 and len(whole) > 5
  size = path.stat().st_size
  for split_bytes in list(range(1, 40)) + [size - 1, size]:
    pieces = _pieces(path, split_bytes, quote)
    assert len(pieces) == len(text_ranges.ranges(size, split_bytes))
    read = [r for piece in pieces
            for r in text_ranges.records(str(path), piece, quote)]
    assert read == whole, split_bytes


def test_a_split_csv_manifest_reads_the_rows_of_a_whole_read(tmp_path):
  path = tmp_path / "m.csv"
  path.write_bytes(_CSV_HARD.encode())
  whole = list(manifest.iter_manifest(str(path)))
  assert [i for i, _ in whole] == [0, 2, 4, 5, 6, 7]   # blank rows counted
  assert whole[0][1] == {"key": "a", "uri": "/i/a.jpg", "note": "two\nlines"}
  assert whole[2][1]["uri"] == "" and whole[2][1]["note"] == "x\n\ny"
  assert whole[4][1]["note"] == '"\n"'
  for split_bytes in (3, 17, 40):
    pieces = _pieces(path, split_bytes, text_ranges.QUOTE)
    assert len(pieces) > 1
    assert [row for piece in pieces for row in manifest.iter_manifest(
        str(path), piece=piece)] == whole


def test_a_record_with_no_end_is_passed_over_unheld(tmp_path):
  """A 6 MB line with no URL in it, and a CSV quote never closed, in lists
  read whole and in ranges: each fails alone (the line; the row and what
  the open quote swallowed), the others read, and no record over
  ``MAX_RECORD_BYTES`` is ever held (the reader reads a chunk at a time)."""
  long_line = b"x" * (6 * 2**20)
  urls = tmp_path / "u.txt"
  urls.write_bytes(b"https://e.com/1.jpg\n" + long_line +
                   b"\nhttps://e.com/3.jpg\n")
  assert list(url_list.url_lines(str(urls))) == [
      (1, "https://e.com/1.jpg"), (2, None), (3, "https://e.com/3.jpg")]
  for split_bytes in (2**20, 3 * 2**20):
    pieces = _pieces(urls, split_bytes, None)
    assert [r for piece in pieces
            for r in url_list.url_lines(str(urls), piece)] == [
                (1, "https://e.com/1.jpg"), (2, None),
                (3, "https://e.com/3.jpg")]
  csv_path = tmp_path / "m.csv"
  csv_path.write_bytes(b"key,uri\na,/i/a.jpg\nb,\"/i/b.jpg\n" +
                       (b"c,/i/c.jpg\n" * 600_000))
  rows = list(manifest.iter_manifest(str(csv_path)))
  assert rows[0] == (0, {"key": "a", "uri": "/i/a.jpg"})
  assert len(rows) == 2 and isinstance(rows[1][1], manifest.BadRow)
  pieces = _pieces(csv_path, 2**20, text_ranges.QUOTE)
  assert [row for piece in pieces for row in manifest.iter_manifest(
      str(csv_path), piece=piece)] == rows
