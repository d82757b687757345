"""Every file name comes out exactly once (issue 27, part 1): names that are
not UTF-8 get an escaped key and are processed; dangling symlinks,
unreadable and vanished files are read failures with reasons of their own;
awkward names keep their keys."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import conftest
from tests import image_corpus
from transforms.core import elements
from transforms.core import failures
from transforms.core import file_names
from transforms.read import files
from transforms.read import listing

AWKWARD_NAMES = [
    "line\nbreak.png", "quote's \"double\".png", "hash#tag.png",
    "question?.png", "percent%41.png", "glob[ab]*.png", "brace{a,b}.png",
    "back\\slash\\xff.png", "a" * 236 + ".png", "日本語の写真.png",
    "фотография.png", "صورة.png", " leading space.png",
]
NOT_UTF8 = b"caf\xe9-latin1.png"   # Latin-1 'é': not UTF-8
ALSO_NOT_UTF8 = b"\xff\xfe.png"


@given(st.binary(min_size=1, max_size=60))
def test_escaped_keys_reverse_to_the_exact_bytes(raw):
  key = file_names.escape_bytes(raw)
  assert file_names.unescape(key) == raw
  key.encode("utf-8")  # always writable


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_utf8_names_keep_their_keys(name):
  assert file_names.key_of("/d/" + name) == ("/d/" + name, False)


def test_a_name_that_is_not_utf8_gets_an_escaped_key():
  path = os.fsdecode(b"/d/" + NOT_UTF8)
  key, escaped = file_names.key_of(path)
  assert (key, escaped) == ("/d/caf\\xe9-latin1.png", True)
  assert file_names.path_of(key, escaped) == path
  # A real file literally named like the escape keeps its own identity.
  assert elements.ImageKey(key, escaped=True).join_key() != \
      elements.ImageKey(key).join_key()


def test_lone_backslash_is_not_an_escaped_key():
  with pytest.raises(ValueError, match="lone backslash"):
    file_names.unescape("a\\b")


def _photo_bytes(color):
  return image_corpus.encode(image_corpus.solid("RGB", color), "PNG")


@pytest.fixture()
def awkward_dir(tmp_path):
  """Awkward names, two names that are not UTF-8, a dangling symlink and a
  real file literally named like an escaped key."""
  folder = tmp_path / "awkward"
  folder.mkdir()
  raw_dir = os.fsencode(str(folder))
  colors = {}
  for i, name in enumerate(AWKWARD_NAMES):
    colors[name] = (10 * i, 200 - 10 * i, 90)
    (folder / name).write_bytes(_photo_bytes(colors[name]))
  for i, raw in enumerate((NOT_UTF8, ALSO_NOT_UTF8)):
    with open(os.path.join(raw_dir, raw), "wb") as f:
      f.write(_photo_bytes((250, 5 + 100 * i, 5)))
  # The literal text of NOT_UTF8's escaped name, as a real UTF-8 name.
  (folder / "caf\\xe9-latin1.png").write_bytes(_photo_bytes((1, 2, 250)))
  os.symlink(str(folder / "no-such-target.png"), str(folder / "dangling.png"))
  return folder


def test_every_name_exactly_once_through_the_job(simple_model, awkward_dir,
                                                 tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(awkward_dir / "*"), "--output", out])
  rows = conftest.read_parquet_rows(out)
  failed = conftest.read_failures(out)
  found = [(r["key"], r["key_escaped"]) for r in rows] + [
      (f["key"], f["key_escaped"]) for f in failed]
  assert len(found) == len(set(found)), "an input came out twice"
  base = str(awkward_dir) + "/"
  expected = {(base + n, False) for n in AWKWARD_NAMES} | {
      (base + "caf\\xe9-latin1.png", False),
      (base + "caf\\xe9-latin1.png", True),
      (base + "\\xff\\xfe.png", True),
      (base + "dangling.png", False)}
  assert set(found) == expected
  by_key = {(r["key"], r["key_escaped"]): r for r in rows}
  # Processed like any other: the escaped one is the red-ish photo, the
  # literal one the blue one.
  red = np.asarray(by_key[(base + "caf\\xe9-latin1.png", True)]["embedding"])
  blue = np.asarray(by_key[(base + "caf\\xe9-latin1.png", False)]["embedding"])
  assert not np.allclose(red, blue, atol=1e-3)
  [dangling] = failed
  assert (dangling["stage"], dangling["reason"]) == ("read",
                                                     "dangling_symlink")
  assert "no-such-target.png" in dangling["message"]
  # The file's raw bytes come back from the key.
  escaped_key = base + "\\xff\\xfe.png"
  assert file_names.unescape(escaped_key) == os.fsencode(base) + ALSO_NOT_UTF8

  # A second run skipping the first run's results reads nothing new: every
  # key matched, escaped ones on (key, escaped).
  again = str(tmp_path / "again")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(awkward_dir / "*"), "--output", again,
                      "--skip_existing", os.path.join(out, "results-*")])
  assert conftest.read_failures(again) == [dangling]
  assert not [p for p in os.listdir(again) if p.startswith("results-") and
              pq.read_metadata(os.path.join(again, p)).num_rows]


def test_vanished_file_is_a_read_failure_of_its_own(tmp_path):
  path = tmp_path / "gone.png"
  path.write_bytes(_photo_bytes((1, 1, 1)))
  [listed] = listing.match_pattern(str(tmp_path / "*.png"))
  path.unlink()
  item = files.listed_input(listed)
  with pytest.raises(failures.ImageFailure) as raised:
    files.input_bytes(item)
  assert raised.value.reason == failures.REASON_VANISHED
  assert str(path) in raised.value.message


def test_dangling_symlink_is_listed(tmp_path):
  os.symlink(str(tmp_path / "nowhere"), str(tmp_path / "link.png"))
  assert listing.match_pattern(str(tmp_path / "*")) == [
      listing.ListedFile(str(tmp_path / "link.png"))]


_UNREADABLE_CHECK = """
import json, sys
sys.path.insert(0, {root!r})
from transforms.core import failures
from transforms.read import files, listing
[listed] = listing.match_pattern({pattern!r})
try:
  files.input_bytes(files.listed_input(listed))
  print(json.dumps(None))
except failures.ImageFailure as e:
  print(json.dumps([e.reason, e.message]))
"""


def test_unreadable_file_is_a_permission_failure(tmp_path):
  path = tmp_path / "secret.png"
  path.write_bytes(_photo_bytes((3, 3, 3)))
  path.chmod(0)
  command = [sys.executable, "-c", _UNREADABLE_CHECK.format(
      root=conftest.ROOT, pattern=str(tmp_path / "*.png"))]
  if os.geteuid() == 0:
    # Root reads anything: the check runs without the capabilities that
    # let it (util-linux's setpriv), so the file's mode decides.
    command = ["setpriv", "--bounding-set",
               "-dac_override,-dac_read_search"] + command
  out = subprocess.run(command, capture_output=True, text=True,
                       check=True).stdout
  reason, message = json.loads(out)
  assert reason == failures.REASON_PERMISSION
  assert "secret.png" in message
