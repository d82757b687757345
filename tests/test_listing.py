"""Local listing for the slices (issue 34): every file once across
overlapping globs, with Beam's walk (a symlinked folder not entered, a
dangling link listed), and nothing sorted or held whole."""
from __future__ import annotations

import os

from transforms.read import listing


def _tree(root):
  (root / "sub" / "deep").mkdir(parents=True)
  for name in ("a1.png", "a2.png", "b1.png", "sub/c.png", "sub/deep/d.png",
               "back\\slash.png"):
    (root / name).write_bytes(b"x")
  os.symlink(str(root / "sub"), str(root / "linked"))        # not entered
  os.symlink(str(root / "nothing.png"), str(root / "gone.png"))  # dangling


def test_every_file_once_across_overlapping_globs(tmp_path):
  _tree(tmp_path)
  patterns = [f"{tmp_path}/a*", f"{tmp_path}/*", f"{tmp_path}/a1.png",
              f"{tmp_path}/**", f"{tmp_path}/sub/"]
  got = list(listing.iter_local_once(patterns))
  assert len(got) == len(set(got)), "a file was listed twice"
  expected = {listed for pattern in patterns
              for listed in listing.match_pattern(pattern)}
  assert set(got) == expected
  keys = {listed.key for listed in got}
  assert f"{tmp_path}/gone.png" in keys and f"{tmp_path}/back\\slash.png" in keys
  assert not any("/linked/" in key for key in keys)
  assert f"{tmp_path}/sub/deep/d.png" in keys       # through **


def test_a_relative_glob_lists_relative_names(tmp_path, monkeypatch):
  _tree(tmp_path)
  monkeypatch.chdir(tmp_path)
  assert sorted(l.key for l in listing.iter_local_once(["*.png"])) == sorted(
      l.key for l in listing.match_pattern("*.png"))
