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
from typing import Dict, List, Optional, Sequence, Tuple

from transforms.core import flags
from transforms.core import tasks
from transforms.index import manifest as manifest_lib
from transforms.index import store
from transforms.index import vectors
from transforms.write import output_files

_LOGGER = logging.getLogger("hub_image_beam")


def default_index_dir(output_dir: str) -> str:
  return os.path.join(output_dir.rstrip("/"), output_files.INDEX_DIR)


def _row_count(output_dir: str) -> int:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  from transforms.read import storage  # pylint: disable=g-import-not-at-top
  total = 0
  for path in vectors.result_files(output_dir):
    if path.endswith(".parquet"):
      with storage.open_file(path) as f:
        total += pq.read_metadata(f).num_rows
    else:
      total += sum(1 for _ in storage.iter_records(path))
  return total


def _folder_manifest(output_dir: str) -> manifest_lib.IndexManifest:
  meta = vectors.metadata(output_dir)
  if meta.get("task", tasks.TASK_FEATURE_VECTOR) != tasks.TASK_FEATURE_VECTOR:
    raise flags.ConfigError(
        f"{output_dir!r} holds {meta.get('task')} results; expected "
        "feature-vector embeddings (--task feature_vector) to index")
  first = next(vectors.batches(output_dir, 1), None)
  if first is None:
    raise flags.ConfigError(f"{output_dir!r} has no results to index")
  return manifest_lib.IndexManifest.from_metadata(meta, first[2].shape[1])


def build_index(output_dirs: Sequence[str], index_dir: Optional[str] = None
                ) -> Tuple[str, str]:
  """Builds, extends or reuses the index; returns (its folder, what was
  done).

  Raises:
    flags.ConfigError: a folder holds no embeddings, or its manifest
      differs from the index's or another folder's.
  """
  folders = [d.rstrip("/") for d in output_dirs]
  target = index_dir or default_index_dir(folders[0])
  manifests = [(d, _folder_manifest(d)) for d in folders]
  old_record: Dict = {}
  if store.exists(target):
    _, _, old_record = store.load(target)
    manifests.insert(0, ("the index " + target,
                         manifest_lib.IndexManifest.from_json(old_record)))
  base_name, base = manifests[0]
  for name, other in manifests[1:]:
    differs = base.differs_from(other)
    if differs:
      raise flags.ConfigError(
          f"{name} was embedded differently from {base_name} ({differs}); "
          "expected one model, decode, engine and precision per index")
  known = {f["dir"]: f["fingerprint"] for f in old_record.get("folders", [])}
  wanted = list(dict.fromkeys(list(known) + folders))
  prints = {d: vectors.fingerprint(d) for d in wanted}
  if old_record and all(known.get(d) == prints[d] for d in wanted):
    return target, "reused (its folders are unchanged)"
  # Only new folders added to an index whose folders are unchanged: append.
  appending = bool(old_record) and all(known[d] == prints[d] for d in known)
  expected = sum(_row_count(d) for d in wanted)
  if appending:
    index, keys, _ = store.load(target)
    if store.kind(index).startswith("flat") and expected > store.FLAT_LIMIT:
      appending = False
  if not appending:
    index = store.new_index(base.dimension, expected)
    keys = store.Keys()
  added = 0
  for number, folder in enumerate(wanted):
    if appending and folder in known:
      continue
    for batch_keys, escaped, batch in vectors.batches(folder):
      fresh = [i for i, (k, e) in enumerate(zip(batch_keys, escaped))
               if keys.add(k, e, number)]
      if fresh:
        index.add(store.unit(batch[fresh]))
        added += len(fresh)
  record = base.to_json(len(keys), [])
  record["folders"] = [{"dir": d, "fingerprint": prints[d]} for d in wanted]
  record["index"] = store.kind(index)
  store.save(target, index, keys, record)
  how = "extended" if appending else "built"
  return target, f"{how}: {added} vectors added, {len(keys)} in all, " \
      f"{store.kind(index)}"


def folders_of(index_dir: str) -> List[str]:
  _, _, record = store.load(index_dir)
  return [f["dir"] for f in record.get("folders", [])]
