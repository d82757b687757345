"""An IVF-PQ index built on Beam (issue 37): for more vectors than one
machine adds in reasonable time.

The launcher trains the coarse quantizer and the PQ codebooks on a sample
read from at most 64 result files (``vectors.sample_files``), as the
one-machine build trains, and writes the trained, empty index into a build
folder beside the index. Then the job::

    ResultFiles -> KeyDigests -> FirstOfEachKey -> RowsByFile -> Encode
      -> AllShards -> Merge

* A key indexed twice keeps its first vector (folder order, then file,
  then row: what the one-machine build keeps), settled by a combine over
  16-byte key digests, so no worker holds every key.
* A worker per results file encodes the rows it keeps with the trained
  index into a shard (``add_with_ids``, ids 0..n-1 in file order), beside
  its keys and its unit vectors (read back for exact re-ranking).
* One worker merges the shards in file order (faiss ``merge_from`` with the
  file's first position as offset: the inverted lists are concatenated,
  never encoded again; ``merge_shard`` steps around a faiss bug that
  crashed it at 10,000,000 vectors), measures recall@10 against exact
  search and tunes ``nprobe`` and re-ranking as the one-machine build
  does, saves the index
  (its manifest last) and removes the build folder. It holds the index
  (within the budget) and streams the rest.

So the whole build is one Beam job, on the local runner or on Dataflow (a
template of it builds the index when launched).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms.index import choice
from transforms.index import store
from transforms.index import tuning
from transforms.index import vectors

TRAINED_FILE = "trained.faiss"
BUILD_PREFIX = "_build-"
# Rows of unit vectors streamed at a time while merging.
_MERGE_ROWS = 16_384


@dataclasses.dataclass(frozen=True)
class BuildPlan:
  """What the workers need, fixed at launch.

  Attributes:
    target: the index folder.
    build_dir: the build folder (the trained index, then the shards).
    files: ``(folder number, results file)`` in indexing order.
    chosen: the IVF-PQ choice.
    queries: the tuning queries (near sample vectors).
    record: the manifest to write, less its count, index and measures.
  """
  target: str
  build_dir: str
  files: Tuple[Tuple[int, str], ...]
  chosen: choice.IndexChoice
  queries: np.ndarray
  record: Dict

  def shard(self, file_number: int, kind: str) -> str:
    names = {"index": "shard-{:06d}.faiss", "keys": "keys-{:06d}.parquet",
             "raw": "raw-{:06d}.f32"}
    return FileSystems.join(self.build_dir,
                            names[kind].format(file_number))


def plan_build(target: str, wanted: Sequence[str], expected: int,
               dimension: int, budget: int, record: Dict) -> BuildPlan:
  """Chooses IVF-PQ for the budget, trains it on a sample and writes it
  into a new build folder under ``target``.

  Raises:
    choice.BudgetTooSmall: no IVF-PQ of these vectors fits.
  """
  import faiss  # pylint: disable=g-import-not-at-top
  chosen = choice.choose(expected, dimension, budget, compressed=True)
  files = tuple((number, path) for number, folder in enumerate(wanted)
                for path in vectors.result_files(folder))
  # The one-process build's sample: the same vectors give the same codes.
  sample = vectors.sample_files([path for _, path in files],
                                chosen.train_size())
  index = store.new_index(dimension, expected, chosen)
  index.train(store.unit(sample))
  build_dir = FileSystems.join(target, f"{BUILD_PREFIX}{time.time_ns()}")
  with tempfile.TemporaryDirectory(prefix="hub_image_beam_index_") as tmp:
    local = os.path.join(tmp, TRAINED_FILE)
    faiss.write_index(index, local)
    store.copy_in(local, FileSystems.join(build_dir, TRAINED_FILE))
  return BuildPlan(target, build_dir, files, chosen,
                   tuning.queries_near(sample), dict(record))


def _read_index(path: str):
  import faiss  # pylint: disable=g-import-not-at-top
  return faiss.deserialize_index(
      np.frombuffer(store.read_bytes(path), np.uint8))


class _KeyDigestsDoFn(beam.DoFn):
  """(file number, results file) -> (key digest, (folder, file, row)) per
  row: the smallest wins."""

  def __init__(self, folders: Dict[int, int]):
    self._folders = folders

  def process(self, element: Tuple[int, str]
              ) -> Iterator[Tuple[bytes, Tuple[int, int, int]]]:
    from transforms.read import keep_new  # pylint: disable=g-import-not-at-top
    number, path = element
    row = 0
    for keys, escaped in vectors.file_keys(path):
      for key, key_escaped in zip(keys, escaped):
        yield (keep_new.key_digest((key, key_escaped)),
               (self._folders[number], number, row))
        row += 1


class _EncodeFileDoFn(beam.DoFn):
  """(file number, its kept rows) -> the file's shard written, and
  (file number, vectors in it)."""

  def __init__(self, plan: BuildPlan):
    self._plan = plan

  def setup(self):
    store.return_freed_lists()
    self._trained = _read_index(FileSystems.join(self._plan.build_dir,
                                                 TRAINED_FILE))

  def process(self, element: Tuple[int, Iterable[int]]
              ) -> Iterator[Tuple[int, int]]:
    import faiss  # pylint: disable=g-import-not-at-top
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    number, rows = element
    kept = np.unique(np.fromiter(rows, np.int64))
    plan = self._plan
    folder, path = plan.files[number]
    shard = faiss.clone_index(self._trained)
    keys: List[str] = []
    escaped: List[bool] = []
    with tempfile.TemporaryDirectory(prefix="hub_image_beam_shard_") as tmp:
      raw_path = os.path.join(tmp, "raw.f32")
      start = 0
      with open(raw_path, "wb") as raw:
        for batch_keys, batch_escaped, batch in vectors.file_batches(path):
          lo, hi = np.searchsorted(kept, [start, start + len(batch)])
          picked = kept[lo:hi] - start
          start += len(batch)
          if not len(picked):
            continue
          unit = store.unit(batch[picked])
          shard.add_with_ids(unit, np.arange(len(keys),
                                             len(keys) + len(picked)))
          raw.write(unit.tobytes())
          keys += [batch_keys[i] for i in picked]
          escaped += [batch_escaped[i] for i in picked]
      local = os.path.join(tmp, "shard.faiss")
      faiss.write_index(shard, local)
      store.copy_in(local, plan.shard(number, "index"))
      store.copy_in(raw_path, plan.shard(number, "raw"))
      table = pa.table({"key": pa.array(keys, pa.string()),
                        "key_escaped": pa.array(escaped, pa.bool_()),
                        "folder": pa.array([folder] * len(keys),
                                           pa.int32())})
      pq.write_table(table, os.path.join(tmp, "keys.parquet"))
      store.copy_in(os.path.join(tmp, "keys.parquet"),
                    plan.shard(number, "keys"))
    yield number, len(keys)


class _ConcatenatedKeys:
  """The shards' key files as one, for ``store.save``."""

  def __init__(self, path: str, count: int):
    self._path, self._count = path, count

  def __len__(self) -> int:
    return self._count

  def save(self, path: str) -> None:
    # Saved once: the merge's own file is moved, not copied.
    shutil.move(self._path, path)


class _MergeDoFn(beam.DoFn):
  """Every (file number, count) -> the index saved; yields its folder."""

  def __init__(self, plan: BuildPlan):
    self._plan = plan

  def process(self, shards: List[Tuple[int, int]]) -> Iterator[str]:
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    plan = self._plan
    store.return_freed_lists()
    index = _read_index(FileSystems.join(plan.build_dir, TRAINED_FILE))
    truth = tuning.ExactNeighbours(plan.queries)
    with tempfile.TemporaryDirectory(prefix="hub_image_beam_merge_") as tmp:
      raw_path = os.path.join(tmp, "vectors.f32")
      keys_path = os.path.join(tmp, "keys.parquet")
      writer = None
      offset = 0
      with open(raw_path, "wb") as raw:
        for number, count in sorted(shards):
          if not count:
            continue
          merge_shard(index, _read_index(plan.shard(number, "index")),
                      offset)
          offset += count
          with FileSystems.open(plan.shard(number, "keys")) as f:
            table = pq.ParquetFile(f).read()
          if writer is None:
            writer = pq.ParquetWriter(keys_path, table.schema)
          writer.write_table(table)
          _copy_vectors(plan.shard(number, "raw"), plan.chosen.dimension,
                        raw, truth)
      if writer is not None:
        writer.close()
      measured = tuning.measure_built(index, plan.chosen, truth, raw_path)
      record = dict(plan.record, count=offset, index=store.kind(index),
                    choice=dict(plan.chosen.to_json(), built_on="beam",
                                **measured))
      store.save(plan.target, index, _ConcatenatedKeys(keys_path, offset),
                 record, raw=raw_path)
    remove_build(plan.build_dir)
    yield plan.target


def merge_shard(index, shard, offset: int) -> None:
  """``index.merge_from(shard, offset)``, safe for fast-scan lists.

  faiss 1.15.1's ``BlockInvertedLists::add_entries`` (what ``merge_from``
  calls per list) takes a list holding a multiple of ``block_size`` codes
  for one ready to take whole blocks and copies every block of the
  merged list, not the new ones: it writes past the list's buffer. At
  10,000,000 vectors in 4,096 lists some list holds exactly 4,096 codes
  between two shards, and the merge crashed (SIGSEGV) or, worse, went on
  over a damaged heap. Such a list holds whole blocks, so its blocks and
  the shard's are its merged blocks: they are set here, as one new list,
  and the shard's list emptied, before ``merge_from`` moves the rest.
  """
  import faiss  # pylint: disable=g-import-not-at-top
  ours: Any = faiss.extract_index_ivf(index)
  lists: Any = faiss.downcast_InvertedLists(ours.invlists)
  # (BlockInvertedLists, fast-scan's lists, is not in faiss's type stubs.)
  if isinstance(lists, getattr(faiss, "BlockInvertedLists")):
    theirs: Any = faiss.extract_index_ivf(shard).invlists
    for number in range(ours.nlist):
      held = lists.list_size(number)
      if held and theirs.list_size(number) and held % lists.block_size == 0:
        _whole_blocks(lists, theirs, number, offset)
  index.merge_from(shard, offset)


def _whole_blocks(lists, theirs, number: int, offset: int) -> None:
  import faiss  # pylint: disable=g-import-not-at-top
  held, added = lists.list_size(number), theirs.list_size(number)
  per_block, block_bytes = lists.n_per_block, lists.block_size
  assert held % per_block == 0, (held, per_block)

  def blocks(source, count):
    size = -(-count // per_block) * block_bytes
    return faiss.rev_swig_ptr(source.get_codes(number), size).copy()

  ids = np.concatenate([
      faiss.rev_swig_ptr(lists.get_ids(number), held).copy(),
      faiss.rev_swig_ptr(theirs.get_ids(number), added) + offset])
  codes = np.concatenate([blocks(lists, held), blocks(theirs, added)])
  lists.resize(number, 0)
  # An empty list takes the blocks as they are: what the bug meant to do.
  lists.add_entries(number, held + added, faiss.swig_ptr(ids),
                    faiss.swig_ptr(codes))
  theirs.resize(number, 0)


def _copy_vectors(path: str, dimension: int, out,
                  truth: tuning.ExactNeighbours) -> None:
  """A shard's unit vectors appended to ``out`` and to the exact
  neighbours, a block at a time."""
  block = _MERGE_ROWS * dimension * 4
  with FileSystems.open(path) as f:
    while True:
      data = f.read(block)
      if not data:
        return
      out.write(data)
      truth.add(np.frombuffer(data, np.float32).reshape(-1, dimension))


def remove_build(build_dir: str) -> None:
  try:
    FileSystems.delete([build_dir])
  except Exception:  # pylint: disable=broad-except
    pass   # best effort: the index is saved


class BuildIndexOnBeam(beam.PTransform):
  """PBegin -> the index folder, once the index is saved."""

  def __init__(self, plan: BuildPlan):
    super().__init__()
    self._plan = plan

  def expand(self, pbegin):
    plan = self._plan
    folders = {number: folder for number, (folder, _) in
               enumerate(plan.files)}
    return (pbegin
            | "ResultFiles" >> beam.Create(
                [(number, path) for number, (_, path) in
                 enumerate(plan.files)])
            | "SpreadFiles" >> beam.Reshuffle()
            | "KeyDigests" >> beam.ParDo(_KeyDigestsDoFn(folders))
            | "FirstOfEachKey" >> beam.CombinePerKey(min)
            | "RowsByFile" >> beam.Map(lambda kv: (kv[1][1], kv[1][2]))
            | "GroupRows" >> beam.GroupByKey()
            | "Encode" >> beam.ParDo(_EncodeFileDoFn(plan))
            | "AllShards" >> beam.combiners.ToList()
            | "Merge" >> beam.ParDo(_MergeDoFn(plan)))


def run(plan: BuildPlan, options) -> beam.runners.runner.PipelineResult:
  """Builds the job on ``options``' runner and runs it; returns the
  PipelineResult (not waited for)."""
  pipeline = beam.Pipeline(options=options)
  _ = pipeline | "BuildIndex" >> BuildIndexOnBeam(plan)
  return pipeline.run()
