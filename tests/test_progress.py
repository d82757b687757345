"""Live progress of a local run: plain lines off a terminal, one line
refreshed in place on a terminal (a real pseudo-terminal here). Ticks are
driven by the test with a fake clock: no sleeps, nothing timing-dependent."""
from __future__ import annotations

import io
import os
import select

from pipelines.cli import progress
from transforms.core import live_counts


class _Clock:

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_plain_lines_off_a_terminal():
  stream, counts, clock = io.StringIO(), live_counts.LiveCounts(), _Clock()
  reporter = progress.Reporter(stream, counts, clock=clock)
  counts.add_result(20)
  clock.now += 2
  reporter.tick()
  reporter.tick()  # no change: no line
  counts.add_result(20)
  counts.add_failure(3)
  clock.now += 2
  reporter.tick()
  reporter.stop()
  text = stream.getvalue()
  assert "\r" not in text
  # A line per change, not per tick.
  assert text.splitlines() == [
      "progress: 20 images done (10.0 images/s), 0 failures",
      "progress: 43 images done (10.8 images/s), 3 failures"]


def _read_all(fd) -> str:
  chunks = []
  while select.select([fd], [], [], 0.2)[0]:
    try:
      data = os.read(fd, 65536)
    except OSError:
      break
    if not data:
      break
    chunks.append(data)
  return b"".join(chunks).decode()


def test_refreshed_in_place_on_a_terminal():
  leader, follower = os.openpty()
  counts, clock = live_counts.LiveCounts(), _Clock()
  with os.fdopen(follower, "w", buffering=1) as terminal:
    reporter = progress.Reporter(terminal, counts, clock=clock)
    counts.add_result(5)
    clock.now += 1
    reporter.tick()
    counts.add_result(5)
    clock.now += 1
    reporter.tick()
    reporter.stop()
    output = _read_all(leader)
  os.close(leader)
  # Rewritten in place ("\r" + clear line), not one line per update.
  assert output.count("\r\x1b[K") == 3, repr(output)
  assert "progress: 5 images done (5.0 images/s)" in output
  final = output.rsplit("\r\x1b[K", 1)[-1]
  assert final == "progress: 10 images done (5.0 images/s), 0 failures\r\n"


def test_format_progress():
  assert progress.format_progress(90, 10, 4.0) == (
      "progress: 100 images done (25.0 images/s), 10 failures")


def test_failures_are_counted_as_they_happen(simple_model, tmp_path):
  """Each stage's failures move the live count while results still come in,
  not after the last result (a display would say '0 failures' all run)."""
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  from tests import conftest  # pylint: disable=g-import-not-at-top
  from tests import image_corpus  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "images"
  folder.mkdir()
  for i in range(12):
    (folder / f"good{i:02d}.png").write_bytes(image_corpus.encode(
        image_corpus.solid("RGB", (20 * i, 0, 90)), "PNG"))
  # Eight failures among twenty inputs, in the runner's (hash) order: the
  # chance that all eight come after the last good image is 1 in 125,970.
  for i in range(8):
    (folder / f"empty{i}.jpg").write_bytes(b"")
  job_id, counts = live_counts.register()
  seen = []
  counts.observers.append(seen.append)
  try:
    embed.run(["--model", simple_model, "--input", str(folder / "*"),
               "--output", str(tmp_path / "out"), "--batch_size", "2",
               "--direct_num_workers", "1"],
              live_job=job_id).wait_until_finish()
  finally:
    live_counts.unregister(job_id)
  assert counts.snapshot() == (12, 8)
  assert len(conftest.read_failures(str(tmp_path / "out"))) == 8
  # When the last result was counted, failures had been counted already.
  at_last_result = next(s for s in seen if s[0] == 12)
  assert at_last_result[1] > 0, seen


def test_listing_shows_before_any_image_is_done():
  stream, counts, clock = io.StringIO(), live_counts.LiveCounts(), _Clock()
  reporter = progress.Reporter(stream, counts, clock=clock)
  counts.add_listed(5000)
  reporter.tick()
  counts.add_listed(7000)
  reporter.tick()
  counts.add_result(4)
  clock.now += 2
  reporter.tick()
  counts.add_listed(10)  # the line follows images now
  reporter.tick()
  reporter.stop()
  assert stream.getvalue().splitlines() == [
      "progress: 5000 inputs listed so far, 0 images done",
      "progress: 12000 inputs listed so far, 0 images done",
      "progress: 4 images done (2.0 images/s), 0 failures"]


def test_a_job_counts_its_inputs_as_they_are_listed(simple_model, tmp_path):
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  from tests import image_corpus  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "images"
  image_corpus.solid_pngs(folder, 7, lambda i: (30 * i, 0, 90))
  job_id, counts = live_counts.register()
  try:
    embed.run(["--model", simple_model, "--input", str(folder / "*"),
               "--output", str(tmp_path / "out"),
               "--direct_num_workers", "1"],
              live_job=job_id).wait_until_finish()
  finally:
    live_counts.unregister(job_id)
  assert counts.listed() == 7
  assert counts.snapshot() == (7, 0)
