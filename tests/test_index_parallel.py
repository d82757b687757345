"""An IVF-PQ index built as a Beam job (issue 37, item 3): trained in the
launcher, encoded by a worker per results file, merged by one. On Beam's
local runner for real; on Dataflow offline (the job graph and staged
package, as the embed job's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines import index as index_cli
from tests import conftest
from tests import test_dataflow_offline as dataflow_offline
from tests.test_index_budget import clustered
from tests.test_index_budget import results_folder
from transforms.index import build
from transforms.index import choice
from transforms.index import parallel
from transforms.index import store


def _folders(tmp_path):
  """20,000 keys over two folders of 3 and 2 files; the second folder
  repeats keys 10,000-11,999 with other vectors (the first's must win)."""
  data = clustered(20_000, 64)
  keys = [f"img/{i:06d}.jpg" for i in range(len(data))]
  first = results_folder(tmp_path / "a", keys[:12_000], data[:12_000],
                         files=3)
  second = results_folder(tmp_path / "b", keys[10_000:],
                          data[10_000:] + 1.0, files=2)
  return data, keys, first, second


def test_a_beam_build_keeps_first_vectors_and_meets_its_recall(tmp_path,
                                                               capsys):
  data, keys, first, second = _folders(tmp_path)
  # A half-uploaded results file and a file of the wrong kind in the
  # folder: left out of both builds, said and recorded; the rest indexed.
  whole = open(os.path.join(second, "results-00000-of-00002.parquet"),
               "rb").read()
  cut = os.path.join(second, "results-00009-of-00009.parquet")
  with open(cut, "wb") as f:
    f.write(whole[:len(whole) // 2])
  wrong = os.path.join(second, "results-00008-of-00009.parquet")
  with open(wrong, "w") as f:
    f.write("key,embedding\n")
  index_dir = str(tmp_path / "index")
  budget = 1_500_000   # 5 MB of vectors: IVF-PQ
  assert index_cli.main([first, second, "--index_dir", index_dir,
                         "--memory_budget", "1.5MB", "--parallel"]) == 0
  assert (f"left out 2 damaged results file(s): {wrong}: not a readable "
          "Parquet file") in capsys.readouterr().out
  index, stored, record = store.load(index_dir)
  assert [path for path, _ in record["damaged_files"]] == [wrong, cut]
  chosen = record["choice"]
  assert chosen["kind"] == choice.IVFPQ and chosen["built_on"] == "beam"
  assert chosen["bytes"] <= budget and chosen["recall_at_10"] >= 0.9
  assert os.path.getsize(os.path.join(
      index_dir, record["files"]["vectors"])) <= budget
  # Every key once, in folder, file and row order; each repeated key keeps
  # the first folder's vector and folder number.
  assert stored.keys == keys and record["count"] == len(keys)
  assert stored.folders[11_000] == 0 and stored.folders[12_000] == 1
  unit = store.unit(np.concatenate([data[:12_000], data[12_000:] + 1.0]))
  for position in (0, 5_000, 10_000, 11_999, 12_000, 19_999):
    assert np.allclose(store.vector(index, position)[0], unit[position],
                       atol=1e-6)
  # Recall measured here, on other queries, against numpy's exact search.
  rng = np.random.default_rng(7)
  queries = store.unit(unit[rng.choice(len(unit), 100, replace=False)]
                       + 0.05 * rng.normal(size=(100, 64)))
  truth = np.argsort(-(queries @ unit.T), axis=1)[:, :10]
  _, got = store.search(index, queries, 10)
  assert np.mean([len(set(t) & set(g)) / 10
                  for t, g in zip(truth, got)]) >= 0.9
  # Nothing of the build is left beside the index.
  assert not [n for n in os.listdir(index_dir) if n.startswith("_build")]
  # The one-process build of the same folders: the same sample, codes,
  # tuning and neighbours.
  _, done = build.build_index([first, second], str(tmp_path / "serial"),
                              budget)
  assert "left out 2 damaged results file(s)" in done
  serial, serial_keys, serial_record = store.load(str(tmp_path / "serial"))
  assert serial_record["damaged_files"] == record["damaged_files"]
  assert serial_keys.keys == stored.keys
  assert {k: serial_record["choice"][k] for k in ("nlist", "m", "nprobe",
                                                  "rerank")} == {
      k: chosen[k] for k in ("nlist", "m", "nprobe", "rerank")}
  assert np.array_equal(store.search(serial, queries, 10)[1], got)


def _launch(argv):
  return subprocess.run([sys.executable, "-m", "pipelines.index", *argv],
                        cwd=conftest.ROOT, capture_output=True, text=True,
                        timeout=300, check=False,
                        env=dict(os.environ, PYTHONPATH=conftest.ROOT))


def test_the_dataflow_build_is_a_whole_job_offline(tmp_path, capsys):
  _, _, first, second = _folders(tmp_path)
  index_dir = tmp_path / "index"
  template = tmp_path / "templates" / "index.json"
  done = _launch([first, second, "--index_dir", str(index_dir),
                  "--memory_budget", "1.5MB", "--parallel",
                  "--template_location", str(template),
                  *dataflow_offline.dataflow_flags(tmp_path)])
  assert done.returncode == 0, done.stderr
  assert f"template written: {template}" in done.stdout
  assert "Traceback" not in done.stderr and "sdist" not in done.stderr
  options = json.loads(template.read_text())["environment"][
      "sdkPipelineOptions"]["options"]
  assert options["project"] == "test-project"
  pipeline, steps = dataflow_offline.top_level_steps(
      tmp_path / "staging" / "pipeline.pb")
  assert steps == ["BuildIndex"]
  transforms = pipeline.components.transforms
  (build,) = [t for t in transforms.values() if t.unique_name == "BuildIndex"]
  assert [transforms[t].unique_name.split("/")[-1]
          for t in build.subtransforms] == [
              "ResultFiles", "SpreadFiles", "KeyDigests", "FirstOfEachKey",
              "RowsByFile", "GroupRows", "Encode", "AllShards", "Merge"]
  # The trained index waits for the workers; no index is saved yet.
  (build_dir,) = os.listdir(index_dir)
  assert os.listdir(index_dir / build_dir) == ["trained.faiss"]
  assert not store.exists(str(index_dir))
  # A real Dataflow run needs an index folder its workers can write; Beam's
  # flags without --parallel are refused, naming them. (In this process:
  # both fail before any work.)
  assert index_cli.main([first, "--parallel", *dataflow_offline.dataflow_flags(
      tmp_path)]) == 2
  assert "expected an index folder its workers can write (gs://...)" in (
      capsys.readouterr().err)
  with pytest.raises(SystemExit) as refused:
    index_cli.main([first, "--runner", "DirectRunner"])
  assert refused.value.code == 2
  assert "--runner DirectRunner (Beam's flags need --parallel)" in (
      capsys.readouterr().err)


def test_a_list_of_whole_blocks_merges_as_if_added_at_once():
  """faiss 1.15.1's fast-scan lists write past their buffer when a merge
  adds to a list holding a multiple of ``block_size`` codes (it crashed
  the 10,000,000-vector build); ``merge_shard`` gives the lists, byte for
  byte, of one index that added every vector itself."""
  import faiss  # pylint: disable=g-import-not-at-top
  data = store.unit(clustered(1_300, 16))
  trained = faiss.index_factory(16, "IVF1,PQ8x4fs", faiss.METRIC_INNER_PRODUCT)
  trained.train(data)
  lists = faiss.downcast_InvertedLists(
      faiss.extract_index_ivf(trained).invlists)
  assert lists.block_size == 128   # 128 and 1,280 codes are whole blocks
  whole = faiss.clone_index(trained)
  whole.add_with_ids(data, np.arange(len(data)))
  merged = faiss.clone_index(trained)
  bounds = [0, 128, 178, 256, 1_280, 1_300]
  for start, end in zip(bounds, bounds[1:]):
    shard = faiss.clone_index(trained)
    shard.add_with_ids(data[start:end], np.arange(end - start))
    parallel.merge_shard(merged, shard, start)
  assert merged.ntotal == len(data)
  ours, theirs = (faiss.extract_index_ivf(i).invlists for i in (merged, whole))
  count = ours.list_size(0)
  assert count == theirs.list_size(0) == len(data)
  codes = -(-count // lists.n_per_block) * lists.block_size
  for read, size in ((lambda l: l.get_ids(0), count),
                     (lambda l: l.get_codes(0), codes)):
    assert np.array_equal(faiss.rev_swig_ptr(read(ours), size),
                          faiss.rev_swig_ptr(read(theirs), size))
  assert np.array_equal(merged.search(data[:50], 10)[1],
                        whole.search(data[:50], 10)[1])
