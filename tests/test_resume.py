"""A killed job resumes (issue 34): a real job killed with SIGKILL mid-run,
run again with --resume, ends with every input key exactly once, redoes
only what it had not committed, and reads as one dataset; a resume whose
flags differ is refused."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from pipelines import embed
from tests import conftest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PART_ROWS = 100


def argv_for(images, out):
  return ["--model", conftest.MOBILENET_FV, "--input",
          os.path.join(images, "*"), "--output", out,
          "--part_rows", str(PART_ROWS)]


def _committed_rows(out):
  """Rows in the committed parts (a part is whole or absent)."""
  rows = 0
  for path in glob.glob(os.path.join(out, "_parts", "results", "*")):
    if ".tmp-" not in path:
      rows += pq.ParquetFile(path).metadata.num_rows
  for path in glob.glob(os.path.join(out, "_parts", "failures", "*")):
    if ".tmp-" not in path:
      with open(path, encoding="utf-8") as f:
        rows += sum(1 for line in f if line.strip())
  return rows


def kill_mid_run(argv, env=None):
  """Starts the job in its own process group and SIGKILLs it right after a
  progress line says at least a fifth is done; (images done then, the
  exit status)."""
  process = subprocess.Popen(
      [sys.executable, "-m", "pipelines.embed", *argv], cwd=ROOT,
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
      start_new_session=True, env=env)
  done = 0
  deadline = time.monotonic() + 240
  try:
    for line in process.stderr:  # type: ignore[union-attr]
      if line.startswith("progress:") and "images done" in line:
        done = int(line.split()[1])
        if done >= conftest.MANY_IMAGES // 5:
          os.killpg(process.pid, signal.SIGKILL)
          break
      assert time.monotonic() < deadline, "the job never got going"
  finally:
    if process.poll() is None:
      os.killpg(process.pid, signal.SIGKILL)
    process.wait()
  return done, process.returncode


def _keys(out):
  results = [r["key"] for r in conftest.read_parquet_rows(out)]
  failed = []
  for path in glob.glob(os.path.join(out, "failures", "failures-*")):
    with open(path, encoding="utf-8") as f:
      failed += [json.loads(line)["key"] for line in f if line.strip()]
  return results, failed


def test_a_killed_job_resumes_with_every_key_once(many_images, tmp_path,
                                                   capsys):
  out = str(tmp_path / "out")
  done_at_kill, status = kill_mid_run(argv_for(many_images, out))
  assert status == -signal.SIGKILL
  assert done_at_kill <= conftest.MANY_IMAGES, "killed after the end"
  committed = _committed_rows(out)
  assert committed >= PART_ROWS   # parts survived the kill, whole
  # Nothing is finalized yet: no shards, only parts.
  assert not glob.glob(os.path.join(out, "results-*"))
  # A run without --resume is refused: it would mix two runs.
  assert embed.main(argv_for(many_images, out)) == 2
  assert "--resume" in capsys.readouterr().err
  # A resume with another flag is refused, naming the difference.
  status = embed.main(argv_for(many_images, out) + [
      "--resume", "--resize", "pad"])
  err = capsys.readouterr().err
  assert status == 2 and "differs from the killed one" in err
  assert "resize" in err
  assert _committed_rows(out) == committed   # nothing touched
  # The resume finishes the job: every key exactly once.
  assert embed.main(argv_for(many_images, out) + ["--resume"]) == 0
  summary = capsys.readouterr().out
  results, failed = _keys(out)
  every = sorted(glob.glob(os.path.join(many_images, "*")))
  assert sorted(results + failed) == every
  assert len(set(results + failed)) == len(every)
  assert failed == [os.path.join(many_images, "broken.png")]
  # The resumed run did only what was not committed: N - committed.
  this_run = int(summary.split("results written:")[1].split()[0])
  this_run += int(summary.split("failures:")[1].split()[0])
  assert this_run == len(every) - committed
  # Redone: what was done before the kill but not committed, at most a
  # part per worker plus the batches in flight; well under 10 % of the
  # work done before the kill at this size.
  redone = done_at_kill - committed
  assert redone <= 0.1 * done_at_kill + 2 * PART_ROWS
  print(f"done at kill {done_at_kill}, committed {committed}, "
        f"redone {max(redone, 0)}")
  # One dataset again: shards named as always, one schema with the job's
  # metadata, no parts left.
  assert not os.path.exists(os.path.join(out, "_parts"))
  # The run record counts the whole job (pipelines.report reads it).
  with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
    record = json.load(f)
  counts = record["counts"]
  assert counts["results"] + counts["failures"] == len(every)
  assert counts["failures"] == 1
  assert record["resumed"]["results"] + record["resumed"]["failures"] == (
      committed)
  shards = sorted(glob.glob(os.path.join(out, "results-*.parquet")))
  count = len(shards)
  assert shards[-1].endswith(f"-{count - 1:05d}-of-{count:05d}.parquet")
  schemas = {pq.read_schema(s).remove_metadata() for s in shards}
  assert len(schemas) == 1
  meta = pq.read_schema(shards[0]).metadata
  assert meta[b"hub_image_beam.task"] == b"feature_vector"


def test_a_job_killed_while_finalizing_is_finished_by_resume(tmp_path,
                                                             monkeypatch):
  """Killed between the renames of its finalize step: --resume finishes the
  planned renames (all parts were in) and says so; nothing is lost."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.write import columns  # pylint: disable=g-import-not-at-top
  from transforms.write import parts  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / "out")
  schema = pa.schema([(columns.KEY, pa.string())])
  formats = {parts.RESULTS_PARTS: parts.PartFormat("parquet", schema,
                                                   "snappy"),
             parts.FAILURES_PARTS: parts.PartFormat(
                 "jsonl", columns.FAILURE_SCHEMA, "none")}
  folder = parts.parts_folder(out, parts.RESULTS_PARTS)
  for keys in (["a", "b"], ["c"]):
    parts.commit(folder, formats[parts.RESULTS_PARTS],
                 [{columns.KEY: k} for k in keys])
  renamed = []
  real_rename = FileSystems.rename

  def dying_rename(sources, targets):
    if targets[0].endswith(".parquet") and "results-" in targets[0]:
      if renamed:
        raise KeyboardInterrupt("killed mid-finalize")
      renamed.append(sources)
    return real_rename(sources, targets)

  monkeypatch.setattr(FileSystems, "rename", dying_rename)
  with pytest.raises(KeyboardInterrupt):
    parts.finalize(out, formats)
  monkeypatch.setattr(FileSystems, "rename", real_rename)
  assert len(glob.glob(os.path.join(out, "results-*"))) == 1
  with pytest.raises(flags.ConfigError, match="now done"):
    parts.check_resume(out, resume=True, overwrite=False, identity={})
  shards = sorted(glob.glob(os.path.join(out, "results-*.parquet")))
  assert [os.path.basename(s) for s in shards] == [
      "results-00000-of-00002.parquet", "results-00001-of-00002.parquet"]
  keys = sorted(k for s in shards for k in pq.read_table(s)[columns.KEY]
                .to_pylist())
  assert keys == ["a", "b", "c"]
  assert not os.path.exists(os.path.join(out, "_parts"))
