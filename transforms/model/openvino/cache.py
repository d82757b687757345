"""A cache of converted models (OpenVINO IR, ``.xml`` + ``.bin``), so that
conversion is paid once per model, not by every launch and every worker.

The key covers everything the converted graph depends on: the SavedModel's
bytes (every file under its directory, ``tf_engine.ImageModel.
content_digest``), the entry point and extra outputs,
the image size the entry was traced for, and OpenVINO's version. The cache
folder may be local or on any Beam filesystem (``gs://``): a worker fleet
can share one. IR is written with float32 weights (``compress_to_fp16`` off:
OpenVINO's default would halve the weights' precision).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from typing import Any, Optional

from apache_beam.io.filesystems import FileSystems

from transforms.model.openvino import engine as ov_engine
from transforms.read import storage

_LOGGER = logging.getLogger("hub_image_beam")

# Bump when what is cached changes meaning.
CACHE_FORMAT = "1"


def default_dir() -> str:
  """``$XDG_CACHE_HOME/hub_image_beam/openvino`` (``~/.cache`` when unset)."""
  return os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
      "hub_image_beam", "openvino")


def cache_key(tf_model) -> str:
  """The key of a ``tf_engine.ImageModel``'s converted uint8 entry."""
  spec = tf_model.uint8_function().input_signature[0]
  info = tf_model.info
  parts = [CACHE_FORMAT, ov_engine.version(), tf_model.content_digest(),
           info.entry, ",".join(sorted(info.extra_outputs)),
           str(spec.shape.as_list())]
  return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _copy_in(remote: str, local: str) -> None:
  with storage.open_file(remote) as src, open(local, "wb") as dst:
    shutil.copyfileobj(src, dst)


def _copy_out(local: str, remote: str) -> None:
  with open(local, "rb") as src, FileSystems.create(remote) as dst:
    shutil.copyfileobj(src, dst)


def _ir_paths(cache_dir: str, key: str):
  return tuple(FileSystems.join(cache_dir, f"{key}.{ext}")
               for ext in ("xml", "bin"))


def read_cached(cache_dir: str, key: str) -> Optional[Any]:
  """The ``ov.Model`` stored under ``key`` in ``cache_dir``, else None."""
  ov = ov_engine.import_openvino()
  xml, binary = _ir_paths(cache_dir, key)
  if not all(m.metadata_list for m in FileSystems.match([xml, binary])):
    return None
  with tempfile.TemporaryDirectory(prefix="ov_ir_") as tmp:
    local_xml = os.path.join(tmp, "model.xml")
    local_bin = os.path.join(tmp, "model.bin")
    _copy_in(xml, local_xml)
    _copy_in(binary, local_bin)
    _LOGGER.debug("OpenVINO: model %s from the cache %s", key, cache_dir)
    # Unlinking the files after read_model is safe: a mapped .bin stays
    # readable until the model lets go of it.
    return ov.Core().read_model(local_xml, local_bin)


def _write_atomically(local: str, remote: str) -> None:
  suffix = f".tmp-{uuid.uuid4().hex}"
  _copy_out(local, remote + suffix)
  FileSystems.rename([remote + suffix], [remote])


def store(model: Any, cache_dir: str, key: str) -> None:
  """Stores ``model`` under ``key`` (a failed store is logged, not fatal)."""
  ov = ov_engine.import_openvino()
  xml, binary = _ir_paths(cache_dir, key)
  with tempfile.TemporaryDirectory(prefix="ov_ir_") as tmp:
    local_xml = os.path.join(tmp, "model.xml")
    local_bin = os.path.join(tmp, "model.bin")
    ov.save_model(model, local_xml, compress_to_fp16=False)
    try:
      FileSystems.mkdirs(cache_dir)
    except OSError:
      pass  # exists already (or an object store without folders)
    try:
      # The .bin first, under a unique name, then renamed: a reader that
      # finds the .xml finds a whole .bin beside it.
      _write_atomically(local_bin, binary)
      _write_atomically(local_xml, xml)
    except Exception as e:  # pylint: disable=broad-except
      _LOGGER.warning("OpenVINO: could not store the model in %s: %s",
                      cache_dir, e)


def _files_digest(xml_path: str, bin_path: str) -> str:
  digest = hashlib.sha256()
  for path in (xml_path, bin_path):
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    digest.update(b"\0")
  return digest.hexdigest()[:32]


def store_by_content(model: Any, cache_dir: str, prefix: str) -> str:
  """Stores ``model`` under a name made of its own bytes' digest,
  ``PREFIX-DIGEST``, and returns that name.

  A name is never written twice with other content, so a model another
  job's workers load is never replaced (a new quantization gets a new
  name). The ``.bin`` is stored before the ``.xml``, each renamed into
  place; :func:`read_verified` checks both against the name, so a reader
  never takes half a pair.

  Raises:
    OSError and the like: the model could not be stored (workers could not
      load it, so this is fatal, unlike :func:`store`).
  """
  ov = ov_engine.import_openvino()
  with tempfile.TemporaryDirectory(prefix="ov_ir_") as tmp:
    local_xml = os.path.join(tmp, "model.xml")
    local_bin = os.path.join(tmp, "model.bin")
    ov.save_model(model, local_xml, compress_to_fp16=False)
    name = f"{prefix}-{_files_digest(local_xml, local_bin)}"
    xml, binary = _ir_paths(cache_dir, name)
    if all(m.metadata_list for m in FileSystems.match([xml, binary])):
      return name   # the same bytes are there already
    try:
      FileSystems.mkdirs(cache_dir)
    except OSError:
      pass
    _write_atomically(local_bin, binary)
    _write_atomically(local_xml, xml)
  return name


class DigestMismatch(ValueError):
  """A stored model's bytes are not those its name was made from."""


def read_verified(cache_dir: str, name: str) -> Optional[Any]:
  """The model stored by :func:`store_by_content` under ``name``, after
  checking its bytes against the name; None when it is not there.

  Raises:
    DigestMismatch: the files there are not the model that was named.
  """
  if name.count("-") < 2:
    # A name from before models were content-addressed ("int8-KEY"): no
    # digest to check it by.
    _LOGGER.warning("OpenVINO: %s predates content-addressed models; loaded "
                    "without a check of its bytes", name)
    return read_cached(cache_dir, name)
  ov = ov_engine.import_openvino()
  xml, binary = _ir_paths(cache_dir, name)
  if not all(m.metadata_list for m in FileSystems.match([xml, binary])):
    return None
  expected = name.rsplit("-", 1)[-1]
  with tempfile.TemporaryDirectory(prefix="ov_ir_") as tmp:
    local_xml = os.path.join(tmp, "model.xml")
    local_bin = os.path.join(tmp, "model.bin")
    _copy_in(xml, local_xml)
    _copy_in(binary, local_bin)
    found = _files_digest(local_xml, local_bin)
    if found != expected:
      raise DigestMismatch(
          f"the model {name} in {cache_dir} has other bytes (digest {found}, "
          f"expected {expected}): it is not the model that was gated")
    return ov.Core().read_model(local_xml, local_bin)


def read_record(cache_dir: str, name: str) -> Optional[dict]:
  """A JSON record stored beside the models (None when absent or
  unreadable)."""
  path = FileSystems.join(cache_dir, name)
  try:
    if not FileSystems.match([path])[0].metadata_list:
      return None
    with storage.open_file(path) as f:
      return json.loads(f.read().decode("utf-8"))
  except Exception:  # pylint: disable=broad-except
    return None


def store_record(cache_dir: str, name: str, record: dict) -> None:
  try:
    FileSystems.mkdirs(cache_dir)
  except OSError:
    pass
  with tempfile.TemporaryDirectory(prefix="ov_rec_") as tmp:
    local = os.path.join(tmp, name)
    with open(local, "w", encoding="utf-8") as f:
      json.dump(record, f, sort_keys=True)
    try:
      _write_atomically(local, FileSystems.join(cache_dir, name))
    except Exception as e:  # pylint: disable=broad-except
      _LOGGER.warning("OpenVINO: could not store %s in %s: %s", name,
                      cache_dir, e)


def load_or_convert(tf_model, cache_dir: Optional[str]) -> Any:
  """The converted model, from ``cache_dir`` when it holds it; else
  converted now and stored there (a failed store is logged, not fatal).

  Args:
    tf_model: the ``tf_engine.ImageModel`` whose uint8 entry is converted.
    cache_dir: local or Beam filesystem folder; None converts every time.
  """
  if not cache_dir:
    return ov_engine.convert(tf_model)
  key = cache_key(tf_model)
  cached = read_cached(cache_dir, key)
  if cached is not None:
    return cached
  model = ov_engine.convert(tf_model)
  store(model, cache_dir, key)
  return model
