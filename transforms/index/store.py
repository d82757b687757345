"""The vector index on disk: faiss, cosine similarity as the inner product
of unit vectors.

Exact (``IndexFlatIP``) up to :data:`FLAT_LIMIT` vectors, where a query
still costs milliseconds; above it HNSW (``IndexHNSWFlat``, M=32,
efConstruction 80, efSearch 256), whose recall@10 against exact search was
measured at >= 0.95 (``benchmarks/README.md``, "faiss against usearch").

An index folder is on any Beam filesystem (a local path, ``gs://``). It
holds ``manifest.json`` and the two files it names: the vectors
(``vectors-<version>.faiss``) and the key of each (``keys-<version>.parquet``,
row i: the key of vector i). A save writes a new version's two files, then
replaces ``manifest.json``, alone and atomically (a rename here, one
object write on GCS): the manifest is the commit. A crash at any point
leaves it naming a whole version, the old one until the new is complete,
so vectors and keys never fall out of step. Files of versions older than
the previous one are removed after the switch. A folder saved before
versions (``vectors.faiss``, ``keys.parquet``) still loads.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from typing import (Any, Dict, Iterator, List, Optional, Protocol, Sequence,
                    Tuple)

import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms.core import storage_emulator
from transforms.index import choice

FLAT_LIMIT = choice.FLAT_LIMIT
HNSW_M = choice.HNSW_M
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
INDEX_FILE = "vectors.faiss"
KEYS_FILE = "keys.parquet"
MANIFEST_FILE = "manifest.json"


def unit(vectors: np.ndarray) -> np.ndarray:
  """Rows scaled to length 1 (zero rows stay zero)."""
  vectors = np.ascontiguousarray(vectors, np.float32)
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return vectors / np.where(norms > 0, norms, 1)


# glibc's mallopt parameter for its mmap threshold, and glibc's starting
# value of it (128 KiB).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 128 * 1024


def return_freed_lists() -> bool:
  """Frees an index's outgrown list buffers to the system; call before
  adding vectors to an index or merging into it. True where it applied.

  An inverted list's codes grow by doubling (faiss's ``AlignedTable``), and
  glibc raises its mmap threshold each time a mapped block is freed, so
  from the first few lists on, the outgrown buffers are freed into the
  heap and stay in the process's memory: adding 625,000 vectors as
  ``IVF256,PQ256x4fs`` grew it by 128 MB for 82 MB of codes and ids.
  Fixing the threshold at glibc's starting 128 KiB puts each larger
  buffer in a mapping of its own, given back when freed and resident only
  where written: 90 MB. (Process-wide, and a no-op off glibc.)
  """
  import ctypes  # pylint: disable=g-import-not-at-top
  try:
    mallopt = ctypes.CDLL(None).mallopt
  except (AttributeError, OSError):
    return False
  return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))


def new_index(dimension: int, expected: int,
              chosen: Optional[choice.IndexChoice] = None) -> Any:
  """An empty index: ``chosen``'s kind, else exact up to
  :data:`FLAT_LIMIT` vectors and HNSW above (IVF-PQ must be trained before
  vectors are added)."""
  import faiss  # pylint: disable=g-import-not-at-top
  kind_ = chosen.kind if chosen else (
      choice.FLAT if expected <= FLAT_LIMIT else choice.HNSW)
  if kind_ == choice.FLAT:
    return faiss.IndexFlatIP(dimension)
  if kind_ == choice.HNSW:
    index = faiss.IndexHNSWFlat(dimension, HNSW_M,
                                faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index
  return faiss.index_factory(dimension, chosen.factory(),  # type: ignore[union-attr]
                             faiss.METRIC_INNER_PRODUCT)


def kind(index) -> str:
  index = getattr(index, "faiss_index", index)
  name = type(index).__name__
  if name == "IndexFlatIP":
    return "flat (exact)"
  if name == "IndexHNSWFlat":
    return f"HNSW (M={HNSW_M}, efSearch={HNSW_EF_SEARCH})"
  ivf = _ivf(index)
  return (f"IVF-PQ ({ivf.nlist} lists, {ivf.code_size} bytes a vector, "
          f"nprobe {ivf.nprobe})" if ivf is not None else name)


def _ivf(index):
  import faiss  # pylint: disable=g-import-not-at-top
  try:
    return faiss.downcast_index(faiss.extract_index_ivf(index))
  except RuntimeError:
    return None


def set_nprobe(index, nprobe: int) -> None:
  ivf = _ivf(getattr(index, "faiss_index", index))
  if ivf is not None:
    ivf.nprobe = int(nprobe)


RERANK_FACTOR = 10


class Reranked:
  """A compressed index searched with exact re-ranking: its top
  ``factor * k`` candidates are scored again on the stored unit vectors
  (a raw float32 file, read from disk as needed, never whole in memory),
  and vectors are reconstructed exactly from it."""

  def __init__(self, faiss_index, raw: np.ndarray,
               factor: int = RERANK_FACTOR):
    self.faiss_index, self._raw, self.factor = faiss_index, raw, factor
    self.d, self.ntotal = faiss_index.d, faiss_index.ntotal

  def search(self, queries: np.ndarray, k: int, params=None):
    wide = min(self.ntotal, self.factor * k)
    _, ids = (self.faiss_index.search(queries, wide, params=params)
              if params is not None else self.faiss_index.search(queries,
                                                                 wide))
    sims = np.full((len(queries), k), -np.inf, np.float32)
    out = np.full((len(queries), k), -1, np.int64)
    for row, candidates in enumerate(ids):
      candidates = candidates[candidates >= 0]
      if not len(candidates):
        continue
      order = np.argsort(candidates)   # read the file in order
      exact = self._raw[candidates[order]] @ queries[row]
      best = np.argsort(-exact)[:k]
      sims[row, :len(best)] = exact[best]
      out[row, :len(best)] = candidates[order][best]
    return sims, out

  def reconstruct(self, position: int) -> np.ndarray:
    return np.array(self._raw[int(position)])

  def reconstruct_n(self, start: int, count: int) -> np.ndarray:
    return np.array(self._raw[start:start + count])

  def reconstruct_batch(self, positions) -> np.ndarray:
    return np.array(self._raw[np.asarray(positions)])


class _ArrowStrings(Sequence[str]):
  """A Parquet string column read as a sequence of ``str``: held as Arrow
  holds it, its bytes and an offset a key (about 25 bytes a key, against
  about 85 as a list of Python strings), made ``str`` when read."""

  _CHUNK = 65_536

  def __init__(self, column):
    self.column = column.combine_chunks()

  def __len__(self) -> int:
    return len(self.column)

  def __getitem__(self, index):  # type: ignore[override]
    if isinstance(index, slice):
      return self.column[index].to_pylist()
    return self.column[int(index)].as_py()

  def __iter__(self) -> Iterator[str]:
    for start in range(0, len(self.column), self._CHUNK):
      yield from self.column[start:start + self._CHUNK].to_pylist()

  def __eq__(self, other) -> bool:
    return isinstance(other, Sequence) and len(self) == len(other) and all(
        a == b for a, b in zip(self, other))

  __hash__ = None  # type: ignore[assignment]


class Keys:
  """The key of each vector, in vector order (read from a saved index:
  keys as Arrow holds them, ``escaped`` and ``folders`` as numpy arrays)."""

  def __init__(self, keys: Optional[Sequence[str]] = None,
               escaped: Optional[Sequence[bool]] = None,
               folders: Optional[Sequence[int]] = None):
    self.keys: Sequence[str] = keys if keys is not None else []
    self.escaped: Sequence[bool] = escaped if escaped is not None else []
    self.folders: Sequence[int] = folders if folders is not None else []
    # Made on the first lookup by key: a search by image or a batch search
    # names hits by position only, and the table takes about 130 MB a
    # million keys (measured), more than the keys themselves.
    self._by_key: Optional[Dict[Tuple[str, bool], int]] = None

  def __len__(self) -> int:
    return len(self.keys)

  def take(self, positions) -> List[str]:
    """The keys at ``positions`` (integers), in their order."""
    if isinstance(self.keys, _ArrowStrings):
      import pyarrow as pa  # pylint: disable=g-import-not-at-top
      return self.keys.column.take(pa.array(np.asarray(positions, np.int64))
                                   ).to_pylist()
    return [self.keys[int(i)] for i in positions]

  def position(self, key: str, escaped: bool = False) -> Optional[int]:
    if self._by_key is None:
      self._by_key = {(k, bool(e)): i for i, (k, e) in enumerate(
          zip(self.keys, self.escaped))}
    return self._by_key.get((key, escaped))

  def save(self, path: str) -> None:
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    keys = (self.keys.column if isinstance(self.keys, _ArrowStrings) else
            pa.array(list(self.keys), pa.string()))
    pq.write_table(pa.table({
        "key": keys, "key_escaped": pa.array(list(self.escaped), pa.bool_()),
        "folder": pa.array(list(self.folders), pa.int32())}), path)

  @classmethod
  def load(cls, path) -> "Keys":
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    # ParquetFile, not read_table: given a Python file, read_table hands it
    # to Arrow's I/O threads, which may release it during interpreter exit
    # and abort the process ("terminate called without an active exception").
    table = pq.ParquetFile(path).read()
    return cls(_ArrowStrings(table.column("key")),
               table.column("key_escaped").to_numpy(),
               table.column("folder").to_numpy())


class KeysOnDisk:
  """The key of each vector, in vector order, as a build adds them: written
  to a Parquet file in batches and told apart by a SQLite table of 16-byte
  digests, both on local disk, so a build never holds every key (issue 37;
  ``Keys`` holds them for a search). Close it when done."""

  _FLUSH = 65_536

  def __init__(self):
    from transforms.read import slices  # pylint: disable=g-import-not-at-top
    self._dir = tempfile.mkdtemp(prefix="hub_image_beam_keys_")
    self._seen = slices.SeenKeys(self._dir)
    self._path = os.path.join(self._dir, KEYS_FILE)
    self._writer = None
    self._pending: Tuple[List[str], List[bool], List[int]] = ([], [], [])
    self._count = 0

  def __len__(self) -> int:
    return self._count

  def add(self, key: str, escaped: bool, folder: int) -> bool:
    """False when the key is indexed already."""
    from transforms.read import keep_new  # pylint: disable=g-import-not-at-top
    if self._seen.first_or_kept(keep_new.key_digest((key, escaped)),
                                "") is not None:
      return False
    for column, value in zip(self._pending, (key, escaped, folder)):
      column.append(value)  # type: ignore[attr-defined]
    self._count += 1
    if len(self._pending[0]) >= self._FLUSH:
      self._flush()
    return True

  def add_existing(self, folder: str) -> None:
    """Seeds it with an index's keys, streamed from its keys file."""
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    manifest = _manifest(folder) or {}
    _, keys_path = _files(folder, manifest)
    with FileSystems.open(keys_path) as f:
      for batch in pq.ParquetFile(f).iter_batches(self._FLUSH):
        for key, escaped, number in zip(*(batch.column(c).to_pylist() for c in
                                          ("key", "key_escaped", "folder"))):
          self.add(key, escaped, number)

  def _flush(self) -> None:
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    keys, escaped, folders = self._pending
    table = pa.table({"key": pa.array(keys, pa.string()),
                      "key_escaped": pa.array(escaped, pa.bool_()),
                      "folder": pa.array(folders, pa.int32())})
    if self._writer is None:
      self._writer = pq.ParquetWriter(self._path, table.schema)
    self._writer.write_table(table)
    self._pending = ([], [], [])

  def save(self, path: str) -> None:
    """Finishes the file and copies it to ``path`` (a local path)."""
    self._flush()
    self._writer.close()  # type: ignore[union-attr]
    self._writer = None
    shutil.copyfile(self._path, path)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
    self._seen.close()
    shutil.rmtree(self._dir, ignore_errors=True)


def _exists(path: str) -> bool:
  storage_emulator.skip_credential_search()
  return FileSystems.exists(path)


def read_bytes(path: str) -> bytes:
  storage_emulator.skip_credential_search()
  with FileSystems.open(path) as f:
    return f.read()


def _write(path: str, data: bytes) -> None:
  storage_emulator.skip_credential_search()
  with FileSystems.create(path) as f:
    f.write(data)


def copy_in(local: str, path: str) -> None:
  """A local file to ``path`` on any filesystem, streamed."""
  storage_emulator.skip_credential_search()
  with open(local, "rb") as src, FileSystems.create(path) as dst:
    shutil.copyfileobj(src, dst, 16 * 2**20)


def _is_local(path: str) -> bool:
  return "://" not in path


def _files(folder: str, manifest: dict) -> Tuple[str, str]:
  """The vectors and keys files a manifest names (the names before
  versions, for an older one)."""
  files = manifest.get("files") or {}
  return (FileSystems.join(folder, files.get("vectors", INDEX_FILE)),
          FileSystems.join(folder, files.get("keys", KEYS_FILE)))


def _manifest(folder: str) -> Optional[dict]:
  path = FileSystems.join(folder, MANIFEST_FILE)
  if not _exists(path):
    return None
  return json.loads(read_bytes(path))


def exists(folder: str) -> bool:
  manifest = _manifest(folder)
  return manifest is not None and all(
      _exists(p) for p in _files(folder, manifest))


class SavedKeys(Protocol):
  """What ``save`` writes the keys from (``Keys``, ``KeysOnDisk``, or the
  Beam build's concatenated shards)."""

  def __len__(self) -> int: ...

  def save(self, path: str) -> None: ...


def save(folder: str, index, keys: SavedKeys, manifest: dict,
         raw: Optional[str] = None) -> dict:
  """Writes a new version's vectors and keys (and ``raw``, a local file of
  the unit vectors for re-ranking, moved in), then the manifest naming
  them (the commit); returns the manifest as written."""
  import faiss  # pylint: disable=g-import-not-at-top
  previous = _manifest(folder) if _exists(folder) else None
  version = f"{time.time_ns():020d}"
  files = {"vectors": f"vectors-{version}.faiss",
           "keys": f"keys-{version}.parquet"}
  if raw is not None:
    files["raw"] = f"vectors-{version}.f32"
  manifest = dict(manifest, files=files)
  vectors_path, keys_path = _files(folder, manifest)
  with tempfile.TemporaryDirectory(prefix="hub_image_beam_index_") as tmp:
    local = os.path.join(tmp, INDEX_FILE)
    faiss.write_index(getattr(index, "faiss_index", index), local)
    copy_in(local, vectors_path)
    if raw is not None:
      raw_path = FileSystems.join(folder, files["raw"])
      if _is_local(folder):
        shutil.move(raw, raw_path)
      else:
        copy_in(raw, raw_path)
    keys.save(os.path.join(tmp, KEYS_FILE))
    copy_in(os.path.join(tmp, KEYS_FILE), keys_path)
  data = json.dumps(manifest, indent=1, sort_keys=True).encode()
  path = FileSystems.join(folder, MANIFEST_FILE)
  if _is_local(folder):
    with open(path + ".tmp", "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
  else:
    _write(path, data)
  keep = set((manifest.get("files") or {}).values())
  if previous is not None:
    keep |= {os.path.basename(p) for p in _files(folder, previous)}
    keep |= set((previous.get("files") or {}).values())
  _remove_old(folder, keep)
  return manifest


def _remove_old(folder: str, keep) -> None:
  """Vectors and keys files of other versions (best effort; the previous
  version's, which a reader may still be loading, are in ``keep``)."""
  try:
    found = FileSystems.match([FileSystems.join(folder, "*")])[0]
    stale = [m.path for m in found.metadata_list
             if os.path.basename(m.path).startswith(("vectors", "keys"))
             and os.path.basename(m.path) not in keep]
    if stale:
      FileSystems.delete(stale)
  except Exception:  # pylint: disable=broad-except
    pass


def load(folder: str) -> Tuple[Any, Keys, dict]:
  import faiss  # pylint: disable=g-import-not-at-top
  index: Any
  manifest = _manifest(folder)
  if manifest is None:
    raise FileNotFoundError(f"no index at {folder!r}")
  vectors_path, keys_path = _files(folder, manifest)
  if _is_local(folder):
    index = faiss.read_index(vectors_path)
    keys = Keys.load(keys_path)
  else:
    with tempfile.TemporaryDirectory(prefix="hub_image_beam_index_") as tmp:
      local = os.path.join(tmp, INDEX_FILE)
      with FileSystems.open(vectors_path) as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst, 16 * 2**20)
      index = faiss.read_index(local)
    keys = Keys.load(io.BytesIO(read_bytes(keys_path)))
  if hasattr(index, "hnsw"):
    index.hnsw.efSearch = HNSW_EF_SEARCH
  nprobe = (manifest.get("choice") or {}).get("nprobe")
  if nprobe:
    set_nprobe(index, nprobe)
  raw = (manifest.get("files") or {}).get("raw")
  if raw and _is_local(folder) and os.path.exists(os.path.join(folder, raw)):
    index = Reranked(index, np.memmap(os.path.join(folder, raw), np.float32,
                                      "r", shape=(index.ntotal, index.d)),
                     (manifest.get("choice") or {}).get("rerank",
                                                        RERANK_FACTOR))
  return index, keys, manifest


def search(index, queries: np.ndarray, k: int
           ) -> Tuple[np.ndarray, np.ndarray]:
  """(cosines [q, k], positions [q, k]; -1 where fewer than k)."""
  k = max(1, min(k, index.ntotal))
  return index.search(unit(queries), k)


def vector(index, position: int) -> np.ndarray:
  return index.reconstruct(int(position)).reshape(1, -1)
