"""Reads PyTorch's legacy (pre-1.6, non-zip) checkpoint format without torch.

The legacy format is a sequence of pickles -- magic number, protocol version,
system info, the object itself (tensors appear as persistent ids naming a
storage), and the list of storage keys -- followed by each storage's raw
bytes: an 8-byte little-endian element count, then the elements.
"""
from __future__ import annotations

import collections
import pickle
import struct
from typing import BinaryIO, Dict

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "HalfStorage": np.float16, "LongStorage": np.int64,
    "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:

  def __init__(self, name: str):
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
  """A tensor view on a storage, resolved once the storages are read."""

  def __init__(self, storage_key, offset, size, stride):
    self.storage_key, self.offset = storage_key, offset
    self.size, self.stride = tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  return _TensorRef(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):

  def __init__(self, f, storages):
    super().__init__(f)
    self._storages = storages

  def find_class(self, module, name):
    if module == "torch._utils" and name in ("_rebuild_tensor_v2",
                                             "_rebuild_tensor"):
      return _rebuild_tensor
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    if module == "collections" and name == "OrderedDict":
      return collections.OrderedDict
    raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a "
                                 "weights file")

  def persistent_load(self, pid):
    kind, storage_type, key, _location, size = pid[:5]
    if kind != "storage":
      raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
    self._storages.setdefault(key, (storage_type.dtype, size))
    return key


def load_state_dict(f: BinaryIO) -> Dict[str, np.ndarray]:
  """Returns the checkpoint's tensors as numpy arrays, by name."""
  magic = pickle.load(f)
  if magic != LEGACY_MAGIC:
    raise ValueError("not a legacy PyTorch checkpoint (bad magic number)")
  pickle.load(f)  # protocol version
  pickle.load(f)  # sys info
  storages: Dict[str, tuple] = {}
  obj = _Unpickler(f, storages).load()
  keys = pickle.load(f)
  data = {}
  for key in keys:
    dtype, _ = storages[key]
    (count,) = struct.unpack("<q", f.read(8))
    data[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
  if isinstance(obj, dict) and "state_dict" in obj:
    obj = obj["state_dict"]
  result = {}
  for name, ref in obj.items():
    if not isinstance(ref, _TensorRef):
      continue
    flat = data[ref.storage_key]
    itemsize = flat.dtype.itemsize
    array = np.lib.stride_tricks.as_strided(
        flat[ref.offset:], shape=ref.size,
        strides=tuple(s * itemsize for s in ref.stride))
    result[name] = np.array(array)
  return result
