"""Search what was embedded (issue 29): a real faiss index over real
MobileNet V2 embeddings of the shared photos; queries embedded as the run
did; near-duplicates; incremental folders; refusals."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import shutil
import tracemalloc
import types

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests import conftest
from transforms.index import duplicates
from transforms.index import store

pytestmark = conftest.needs_shared


def _cli(module, *argv):
  """Runs a command's main() in this process (the model stays loaded)."""
  main = importlib.import_module(module).main
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = main(list(argv))
  return types.SimpleNamespace(returncode=status, stdout=out.getvalue(),
                               stderr=err.getvalue())


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  """The shared photos, plus an exact copy of one and a resized one."""
  folder = tmp_path_factory.mktemp("photos")
  for path in conftest.photo_paths():
    shutil.copy(path, folder / os.path.basename(path))
  shutil.copy(folder / "owl.jpg", folder / "owl_copy.jpg")
  image = Image.open(folder / "parrot.jpg").convert("RGB")
  image.resize((image.width // 2, image.height // 2)).save(
      folder / "parrot_small.jpg", quality=92)
  image = Image.open(folder / "grace_hopper.bmp").convert("RGB")
  w, h = image.size
  image.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(
      folder / "grace_hopper_crop.jpg", quality=92)
  return folder


ORIGINALS = [os.path.basename(p) for p in conftest.photo_paths()]


@pytest.fixture(scope="module")
def embedded(photos, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("emb") / "out")
  conftest.run_embed(["--model", conftest.MOBILENET_FV, "--input",
                      str(photos / "*"), "--output", out,
                      "--openvino_cache", str(tmp_path_factory.mktemp("c"))])
  return out


def test_index_then_search_by_image_and_key(embedded, photos):
  done = _cli("pipelines.index", embedded)
  assert done.returncode == 0, done.stderr
  index_dir = done.stdout.strip().splitlines()[-1]
  assert index_dir == os.path.join(embedded, "index")
  with open(os.path.join(index_dir, "manifest.json")) as f:
    record = json.load(f)
  assert record["count"] == 15 and record["dimension"] == 1280
  assert record["fields"]["model_digest"] and record["fields"]["decode"]
  # A query image is embedded exactly as the run did: each photo finds
  # itself first, at cosine 1.
  done = _cli("pipelines.search", embedded, "--json", "--k", "3", "--image",
              *[str(photos / n) for n in ORIGINALS])
  assert done.returncode == 0, done.stderr
  for name, result in zip(ORIGINALS, json.loads(done.stdout)):
    first = result["hits"][0]
    # owl.jpg ties with its byte-for-byte copy.
    itself = {str(photos / name)} | (
        {str(photos / "owl_copy.jpg")} if name == "owl.jpg" else set())
    assert first["key"] in itself and first["cosine"] > 0.999, (name, first)
  # A crop finds its original among the top 3.
  done = _cli("pipelines.search", embedded, "--image",
              str(photos / "grace_hopper_crop.jpg"), "--k", "3")
  assert str(photos / "grace_hopper.bmp") in done.stdout
  # Several queries: groups, without repeating the paths.
  done = _cli("pipelines.search", index_dir, "--image",
              str(photos / "owl.jpg"), str(photos / "parrot.jpg"), "--k",
              "2")
  lines = done.stdout.splitlines()
  assert lines[0] == "# query 1" and lines[3] == "# query 2"
  assert {lines[1].split("\t")[2], lines[2].split("\t")[2]} == {
      str(photos / "owl.jpg"), str(photos / "owl_copy.jpg")}
  assert not any(line.startswith("#") and "owl" in line for line in lines)
  done = _cli("pipelines.search", embedded, "--key",
              str(photos / "parrot.jpg"), "--k", "2", "--json")
  hits = json.loads(done.stdout)[0]["hits"]
  assert [h["key"] for h in hits] == [str(photos / "parrot.jpg"),
                                      str(photos / "parrot_small.jpg")]
  # Near-duplicates: the copy and the resized one, each pair its group.
  done = _cli("pipelines.index", embedded, "--duplicates", "0.9")
  assert done.returncode == 0, done.stderr
  assert "reused" in done.stdout   # nothing changed: not rebuilt
  table = pq.read_table(os.path.join(index_dir, "duplicates.parquet"))
  by_group = {}
  for group, key in zip(table.column("group").to_pylist(),
                        table.column("key").to_pylist()):
    by_group.setdefault(group, set()).add(key)
  pairs = [frozenset(keys) for keys in by_group.values()]
  assert frozenset((str(photos / "owl.jpg"), str(photos / "owl_copy.jpg"))) \
      in pairs
  assert frozenset((str(photos / "parrot.jpg"),
                    str(photos / "parrot_small.jpg"))) in pairs
  # The representative comes first, at cosine 1 to itself.
  rows = table.to_pylist()
  assert rows[0]["key"] == rows[0]["representative"] and \
      rows[0]["cosine"] > 0.999 and rows[0]["size"] == len(
          by_group[rows[0]["group"]])
  # Distinct photos are never grouped: each group is one photo twice
  # (cat.bmp and cat_720p.jpg are one photo at two sizes in ../shared).
  def stem(key):
    return os.path.basename(key).split(".")[0].replace("_copy", "").replace(
        "_small", "").replace("_crop", "").replace("_720p", "")
  assert all(len({stem(k) for k in pair}) == 1 for pair in pairs), pairs


def test_a_glob_of_images_as_queries_gives_neighbours_and_failures(
    embedded, photos, tmp_path):
  """``--queries 'DIR/*'``: the images are read by the embed job's reader
  and embedded as the run did (each photo finds itself first); a cut-short
  JPEG and a text file are failures with their reasons; every listed file
  comes out once."""
  assert _cli("pipelines.index", embedded).returncode == 0
  folder = tmp_path / "queries"
  folder.mkdir()
  for name in ("owl.jpg", "parrot.jpg"):
    shutil.copy(photos / name, folder / name)
  data = (photos / "cat_720p.jpg").read_bytes()
  (folder / "cut.jpg").write_bytes(data[:len(data) // 3])
  (folder / "notes.txt").write_text("not an image")
  output = tmp_path / "neighbours"
  done = _cli("pipelines.search", embedded, "--queries", str(folder / "*"),
              "--k", "2", "--output", str(output))
  assert done.returncode == 0, done.stderr
  rows = {r["key"]: r for path in output.glob("neighbours-*.parquet")
          for r in pq.read_table(str(path)).to_pylist()}
  assert set(rows) == {str(folder / "owl.jpg"), str(folder / "parrot.jpg")}
  assert rows[str(folder / "owl.jpg")]["neighbour_keys"][0] in {
      str(photos / "owl.jpg"), str(photos / "owl_copy.jpg")}
  assert rows[str(folder / "parrot.jpg")]["neighbour_keys"][0] == str(
      photos / "parrot.jpg")
  assert rows[str(folder / "parrot.jpg")]["scores"][0] > 0.999
  failed = {}
  for path in (output / "failures").glob("failures-*"):
    for line in path.read_text().splitlines():
      row = json.loads(line)
      failed[row["key"]] = row
  assert set(failed) == {str(folder / "cut.jpg"), str(folder / "notes.txt")}
  assert all(row["stage"] == "decode" for row in failed.values())


def test_incremental_folders_and_refusals(embedded, photos, tmp_path):
  index_dir = str(tmp_path / "index")
  assert _cli("pipelines.index", embedded, "--index_dir",
              index_dir).returncode == 0
  day2_photos = tmp_path / "day2"
  day2_photos.mkdir()
  image = Image.open(photos / "hot_dog.jpg").convert("RGB")
  image.rotate(90, expand=True).save(day2_photos / "hot_dog_turned.jpg")
  day2 = str(tmp_path / "day2_out")
  # Day 2 embeds one new photo and one day 1 already has (the same key).
  # Day 2 writes TFRecord: both formats index alike.
  conftest.run_embed(["--model", conftest.MOBILENET_FV, "--input",
                      str(day2_photos / "*"), str(photos / "owl.jpg"),
                      "--output", day2, "--output_format", "tfrecord"])
  done = _cli("pipelines.index", day2, "--index_dir", index_dir)
  assert done.returncode == 0, done.stderr
  assert "extended: 1 vectors added, 16 in all" in done.stdout
  # The report's neighbours come from the run's index when it has one, and
  # so may come from another day's folder.
  from transforms.report import build as report_build  # pylint: disable=g-import-not-at-top
  before = report_build.build_report(embedded, thumbnail=lambda key: None)
  assert str(day2_photos) not in before
  assert _cli("pipelines.index", embedded, day2).returncode == 0
  after = report_build.build_report(embedded, thumbnail=lambda key: None)
  assert f'data-key="{day2_photos}/hot_dog_turned.jpg"' in after
  # Another decode cannot share the index.
  other = str(tmp_path / "cropped")
  conftest.run_embed(["--model", conftest.MOBILENET_FV, "--input",
                      str(day2_photos / "*"), "--output", other, "--resize",
                      "center_crop"])
  done = _cli("pipelines.index", other, "--index_dir", index_dir)
  assert done.returncode == 2
  assert "embedded differently" in done.stderr and "decode" in done.stderr


def test_queries_that_cannot_be_reproduced_are_refused(photos, tmp_path):
  model = str(tmp_path / "model")
  shutil.copytree(conftest.MOBILENET_FV, model)
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", model, "--input", str(photos / "c*"),
                      "--output", out, "--engine", "tensorflow"])
  assert _cli("pipelines.index", out).returncode == 0
  with open(os.path.join(model, "NOTES.txt"), "w") as f:
    f.write("the model folder changed after the run\n")
  query = str(photos / "cat.bmp")
  done = _cli("pipelines.search", out, "--image", query)
  assert done.returncode == 2 and "not the one indexed" in done.stderr
  assert _cli("pipelines.search", out, "--image", query,
              "--force").returncode == 0
  assert _cli("pipelines.search", out, "--key", query).returncode == 0
  # --overwrite on the embed job removes the stale index.
  conftest.run_embed(["--model", model, "--input", str(photos / "c*"),
                      "--output", out, "--engine", "tensorflow",
                      "--overwrite"])
  assert not os.path.exists(os.path.join(out, "index"))


def test_hnsw_recall_at_10_against_exact():
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(200, 64)).astype(np.float32)
  data = centers[rng.integers(0, 200, 20000)] + 0.5 * rng.normal(
      size=(20000, 64)).astype(np.float32)
  exact = store.new_index(64, 1)
  approx = store.new_index(64, store.FLAT_LIMIT + 1)
  assert "HNSW" in store.kind(approx) and "flat" in store.kind(exact)
  for index in (exact, approx):
    index.add(store.unit(data))
  queries = data[:500]
  _, truth = store.search(exact, queries, 10)
  _, got = store.search(approx, queries, 10)
  recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)])
  assert recall >= 0.95, recall


def test_duplicate_groups_are_the_components_of_all_pairs():
  """On a small set the groups are the connected components of every pair
  at or above the threshold (computed here by brute force); a cluster of
  2,000 identical vectors is one group, found with at most 256 neighbours
  asked per vector."""
  rng = np.random.default_rng(1)
  data = rng.normal(size=(300, 16)).astype(np.float32)
  data[10] = data[20] + 0.01
  data[30] = data[20] - 0.01
  data[40] = data[41] * 3   # the same direction: cosine 1
  index = store.new_index(16, 1)
  index.add(store.unit(data))
  unit = store.unit(data)
  sims = unit @ unit.T
  parent = list(range(300))
  def root(i):
    while parent[i] != i:
      i = parent[i]
    return i
  for i in range(300):
    for j in range(i + 1, 300):
      if sims[i, j] >= 0.99:
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)
  expected = [root(i) for i in range(300)]
  got = duplicates.components(index, 0.99)
  assert got.tolist() == expected
  assert got[10] == got[20] == got[30] == 10 and got[40] == got[41] == 40
  assert len(set(got.tolist())) == 300 - 3
  placeholder = rng.normal(size=(1, 16)).astype(np.float32)
  crowd = np.concatenate([data, np.repeat(placeholder, 2000, axis=0)])
  index = store.new_index(16, 1)
  index.add(store.unit(crowd))
  got = duplicates.components(index, 0.99)
  assert set(got[300:].tolist()) == {300}


def test_a_crash_between_writes_leaves_the_previous_index(embedded, tmp_path,
                                                          monkeypatch):
  """A save that dies after writing the new vectors, before their keys,
  leaves manifest.json naming the previous version: it loads whole, keys
  and vectors in step; the next save completes and removes what is
  stale."""
  index_dir = str(tmp_path / "index")
  assert _cli("pipelines.index", embedded, "--index_dir",
              index_dir).returncode == 0
  index, keys, record = store.load(index_dir)
  real = store.copy_in

  def dies_before_the_keys(local, path):
    real(local, path)
    if path.endswith(".faiss"):
      raise OSError("the machine went down")

  monkeypatch.setattr(store, "copy_in", dies_before_the_keys)
  other = store.new_index(index.d, 1)   # an empty index, if it ever loaded
  with pytest.raises(OSError):
    store.save(index_dir, other, store.Keys(), record)
  monkeypatch.setattr(store, "copy_in", real)
  assert len(os.listdir(index_dir)) == 4   # the manifest, 2 + 1 new files
  again, again_keys, again_record = store.load(index_dir)
  assert again_record == record
  assert again.ntotal == index.ntotal == len(again_keys) == len(keys) > 10
  assert again_keys.keys == keys.keys
  # The next save completes; the half-written version is removed, the
  # previous one kept for readers still loading it.
  saved = store.save(index_dir, index, keys, record)
  assert sorted(os.listdir(index_dir)) == sorted(
      [store.MANIFEST_FILE, *record["files"].values(),
       *saved["files"].values()])
  assert store.load(index_dir)[2]["files"] == saved["files"]


def test_a_rewritten_results_file_of_the_same_size_is_not_reused(tmp_path):
  """Folders are recognised by what their files hold, not their size: a
  results file rewritten with other embeddings, to the same size, gives
  another fingerprint; an untouched one the same."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  from transforms.index import vectors  # pylint: disable=g-import-not-at-top
  path = tmp_path / "results-00000-of-00001.parquet"
  prints = []
  for value in (0.25, 0.5):
    pq.write_table(pa.table({"key": ["a", "b"],
                             "embedding": [[value] * 8, [1.0] * 8]}), path)
    prints.append(vectors.fingerprint(str(tmp_path)))
  assert prints[0][0][1] == prints[1][0][1]   # the same size
  assert prints[0] != prints[1]
  assert vectors.fingerprint(str(tmp_path)) == prints[1]


def test_a_loaded_index_holds_its_keys_compactly(tmp_path):
  """200,000 keys saved and loaded: the same keys in order, named by
  position and looked up by key; held by Arrow in under 40 bytes a key
  (Python strings take about 90)."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  keys = [f"img/{i:09d}.jpg" for i in range(200_000)]
  escaped = [i % 7 == 0 for i in range(len(keys))]
  path = str(tmp_path / "keys.parquet")
  store.Keys(keys, escaped, [i % 3 for i in range(len(keys))]).save(path)
  tracemalloc.start()
  before = pa.total_allocated_bytes()
  loaded = store.Keys.load(path)
  held = (pa.total_allocated_bytes() - before
          + tracemalloc.get_traced_memory()[0])
  tracemalloc.stop()
  assert held < 40 * len(keys), held / len(keys)
  assert loaded.keys == keys and len(loaded) == len(keys)
  assert loaded.keys[-1] == keys[-1] and loaded.take([5, 2]) == [keys[5],
                                                                 keys[2]]
  assert loaded.position(keys[14], True) == 14
  assert loaded.position(keys[15], True) is None
  assert loaded.folders[199_999] == 199_999 % 3
