"""Building (or extending, or reusing) an index over output folders.

``build_index(["out/day1", "out/day2"])`` indexes both; a later
``build_index(["out/day3"], index_dir=...)`` adds a folder; over unchanged
folders the index is reused as it is. Keys are never indexed twice (the
first folder's vector wins), and folders whose manifests disagree (another
model, decode, engine, precision or dimension) are refused.
"""
from __future__ import annotations

import logging
import os
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from transforms.core import flags
from transforms.core import tasks
from transforms.index import choice
from transforms.index import recipe
from transforms.index import parallel
from transforms.index import store
from transforms.index import tuning
from transforms.index import vectors
from transforms.write import output_files

_LOGGER = logging.getLogger("hub_image_beam")


def default_index_dir(output_dir: str) -> str:
  return os.path.join(output_dir.rstrip("/"), output_files.INDEX_DIR)


def _row_count(output_dir: str) -> int:
  total = 0
  for path in vectors.result_files(output_dir):
    rows = vectors.file_rows(path)
    total += (rows if rows is not None
              else sum(len(keys) for keys, _ in vectors.file_keys(path)))
  return total


def _folder_manifest(output_dir: str) -> recipe.IndexRecipe:
  meta = vectors.metadata(output_dir)
  if meta.get("task", tasks.TASK_FEATURE_VECTOR) != tasks.TASK_FEATURE_VECTOR:
    raise flags.ConfigError(
        f"{output_dir!r} holds {meta.get('task')} results; expected "
        "feature-vector embeddings (--task feature_vector) to index")
  first = next(vectors.batches(output_dir, 1), None)
  if first is None:
    raise flags.ConfigError(f"{output_dir!r} has no results to index")
  return recipe.IndexRecipe.from_metadata(meta, first[2].shape[1])


def build_index(output_dirs: Sequence[str], index_dir: Optional[str] = None,
                memory_budget: Optional[int] = None,
                on_beam: Optional[Callable[[parallel.BuildPlan], str]] = None
                ) -> Tuple[str, str]:
  """Builds, extends or reuses the index; returns (its folder, what was
  done).

  Args:
    memory_budget: bytes the index may take in memory (default: half of
      this machine's); it chooses the index (``index.choice``).
    on_beam: build an IVF-PQ index as a Beam job, from scratch: trained
      here, then ``on_beam(plan)`` runs ``parallel.BuildIndexOnBeam(plan)``
      on the caller's runner and returns what was done (the entry point
      owns the runner and its flags).

  Raises:
    flags.ConfigError: a folder holds no embeddings, or its manifest
      differs from the index's or another folder's, or no index fits the
      budget.
  """
  folders = [d.rstrip("/") for d in output_dirs]
  target = index_dir or default_index_dir(folders[0])
  manifests = [(d, _folder_manifest(d)) for d in folders]
  old_record: Dict = {}
  if store.exists(target):
    _, _, old_record = store.load(target)
    manifests.insert(0, ("the index " + target,
                         recipe.IndexRecipe.from_json(old_record)))
  base_name, base = manifests[0]
  for name, other in manifests[1:]:
    differs = base.differs_from(other)
    if differs:
      raise flags.ConfigError(
          f"{name} was embedded differently from {base_name} ({differs}); "
          "expected one model, decode, engine and precision per index")
  known = {f["dir"]: f["fingerprint"] for f in old_record.get("folders", [])}
  wanted = list(dict.fromkeys(list(known) + folders))
  # A damaged results file (a half-finished upload) is left out, said and
  # recorded; its vectors come in once it is whole (the fingerprint
  # changes). Every other file is indexed.
  damaged: List[Tuple[str, str]] = []
  for folder in wanted:
    vectors.result_files(folder, damaged)
  left_out = _left_out(damaged)
  prints = {d: vectors.fingerprint(d) for d in wanted}
  budget = memory_budget or choice.default_budget()
  old_choice = old_record.get("choice") or {}
  if (old_record and all(known.get(d) == prints[d] for d in wanted)
      and (memory_budget is None or old_choice.get("budget") == budget)):
    return target, "reused (its folders are unchanged)" + left_out
  expected = sum(_row_count(d) for d in wanted)
  if on_beam is not None:
    return target, on_beam(_plan_on_beam(target, base, wanted, prints,
                                         budget, expected,
                                         damaged)) + left_out
  try:
    chosen = choice.choose(expected, base.dimension, budget)
  except choice.BudgetTooSmall as e:
    raise flags.ConfigError(str(e)) from None
  # Only new folders added to an exact or HNSW index whose folders are
  # unchanged, and which is still the choice: append.
  appending = (bool(old_record) and chosen.kind != choice.IVFPQ
               and old_choice.get("kind") == chosen.kind
               and all(known[d] == prints[d] for d in known))
  keys = store.KeysOnDisk()
  try:
    folder, done = _build(target, base, wanted, known, prints, chosen,
                          appending, keys, expected, damaged)
  finally:
    keys.close()
  return folder, done + left_out


def _left_out(damaged: Sequence[Tuple[str, str]]) -> str:
  """What the build says of the damaged files it left out."""
  if not damaged:
    return ""
  path, why = damaged[0]
  more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
  return (f"; left out {len(damaged)} damaged results file(s): {path}: "
          f"{why}{more} (listed in the index's manifest, damaged_files)")


def _plan_on_beam(target: str, base: recipe.IndexRecipe,
                  wanted: Sequence[str], prints: Dict, budget: int,
                  expected: int, damaged: Sequence[Tuple[str, str]]
                  ) -> parallel.BuildPlan:
  """Trains IVF-PQ here for a Beam build (``index.parallel``)."""
  record = base.to_json(0, [])
  record["folders"] = [{"dir": d, "fingerprint": prints[d]} for d in wanted]
  record["damaged_files"] = [list(d) for d in damaged]
  try:
    plan = parallel.plan_build(target, wanted, expected, base.dimension,
                               budget, record)
  except choice.BudgetTooSmall as e:
    raise flags.ConfigError(str(e)) from None
  _LOGGER.info("trained %s on a sample; encoding %d files on Beam",
               plan.chosen.factory(), len(plan.files))
  return plan


def built_on_beam(plan: parallel.BuildPlan) -> str:
  """What a finished Beam build did, from the manifest it saved."""
  _, _, saved = store.load(plan.target)
  return (f"built on Beam: {saved.get('count', 0)} vectors in all, "
          f"{plan.chosen.describe()}; "
          f"{tuning.recall_text(saved.get('choice') or {})}")


def _build(target: str, base: recipe.IndexRecipe,
           wanted: Sequence[str], known: Dict, prints: Dict,
           chosen: choice.IndexChoice, appending: bool,
           keys: store.KeysOnDisk, expected: int,
           damaged: Sequence[Tuple[str, str]]) -> Tuple[str, str]:
  """Builds (or extends) and saves the chosen index; see build_index."""
  store.return_freed_lists()
  if appending:
    index = store.load(target)[0]
    keys.add_existing(target)
  else:
    index = store.new_index(base.dimension, expected, chosen)
  truth: Optional[tuning.ExactNeighbours] = None
  if chosen.kind == choice.IVFPQ:
    sample = vectors.sample_files(
        [f for d in wanted for f in vectors.result_files(d)],
        chosen.train_size())
    _LOGGER.info("training %s on %d vectors", chosen.factory(), len(sample))
    index.train(store.unit(sample))
    truth = tuning.ExactNeighbours(tuning.queries_near(sample))
  with tempfile.TemporaryDirectory(prefix="hub_image_beam_raw_") as tmp:
    raw_path = (os.path.join(tmp, "vectors.f32")
                if chosen.kind == choice.IVFPQ else None)
    added, picked = _add_all(index, keys, wanted,
                             known if appending else {}, truth, raw_path,
                             max(1, expected // tuning.QUERIES))
    if truth is None and chosen.kind == choice.HNSW and len(picked):
      truth = _truth_of(index, tuning.queries_near(picked))
    measured = tuning.measure_built(index, chosen, truth, raw_path)
    record = base.to_json(len(keys), [])
    record["folders"] = [{"dir": d, "fingerprint": prints[d]} for d in wanted]
    record["damaged_files"] = [list(d) for d in damaged]
    record["index"] = store.kind(index)
    record["choice"] = dict(chosen.to_json(), **measured)
    store.save(target, index, keys, record, raw=raw_path)
  how = "extended" if appending else "built"
  return target, (f"{how}: {added} vectors added, {len(keys)} in all, "
                  f"{chosen.describe()}; {tuning.recall_text(measured)}")


def _add_all(index, keys: store.KeysOnDisk, wanted: Sequence[str],
             skip: Dict, truth: Optional[tuning.ExactNeighbours],
             raw_path: Optional[str], pick_every: int):
  """Streams each folder's vectors into the index (keys never twice), and
  into the exact neighbours of the tuning queries and the raw unit
  vectors for re-ranking when given; returns how many were added, and
  every ``pick_every``-th of them (query seeds)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  added, picked = 0, []
  raw = open(raw_path, "wb") if raw_path else None
  try:
    for number, folder in enumerate(wanted):
      if folder in skip:
        continue
      for batch_keys, escaped, batch in vectors.batches(folder):
        fresh = [i for i, (k, e) in enumerate(zip(batch_keys, escaped))
                 if keys.add(k, e, number)]
        if not fresh:
          continue
        unit = store.unit(batch[fresh])
        index.add(unit)
        if truth is not None:
          truth.add(unit)
        if raw is not None:
          raw.write(unit.tobytes())
        # A copy: a view would keep the whole batch alive.
        picked.append(unit[(-added) % pick_every::pick_every].copy())
        added += len(fresh)
  finally:
    if raw is not None:
      raw.close()
  return added, (np.concatenate(picked) if picked else np.zeros((0, 0)))


def _truth_of(index, queries) -> tuning.ExactNeighbours:
  """Exact neighbours over an index's own stored vectors (an appended
  exact or HNSW index, whose vectors it holds)."""
  truth = tuning.ExactNeighbours(queries)
  for start in range(0, min(index.ntotal, truth.limit), vectors.BATCH):
    truth.add(index.reconstruct_n(
        start, min(vectors.BATCH, index.ntotal - start)))
  return truth


def folders_of(index_dir: str) -> List[str]:
  _, _, record = store.load(index_dir)
  return [f["dir"] for f in record.get("folders", [])]
