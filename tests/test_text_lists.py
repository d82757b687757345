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
    assert rows[0] == {"key": "k0", "path": "/img/0.jpg"}
    assert rows[-1]["key"] == "k2999"
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
