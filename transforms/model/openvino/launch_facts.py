"""What the TensorFlow load and probe learned about a model, cached beside
its converted model, so that a later job with the same model and flags
starts without importing TensorFlow at all.

A job on the OpenVINO engine loads the SavedModel in TensorFlow only to
describe it (entry point, tensors, image size), to convert it, and to
check that OpenVINO agrees with TensorFlow on a probe batch. Once that has
been done and the verdict was "OpenVINO is faithful", all of it is a pure
function of the model's bytes and the flags below, and is stored here as
JSON (``facts-<key>.json`` in ``--openvino_cache``). The key covers the
model's content (every file), the task, signature and extra outputs, the
image size flag, and the TensorFlow and OpenVINO versions (read from the
installed packages' metadata, so TensorFlow is not imported to compute it).

Only local model directories qualify: a gs:// or TF Hub handle is fetched
through TensorFlow's filesystems first.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
from typing import Any, Dict, Optional, Tuple

from transforms.model import description
from transforms.model import handles
from transforms.model import settings as model_settings
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine

# Bump when what is recorded, or how the verdict is reached, changes.
FACTS_FORMAT = "1"


@dataclasses.dataclass(frozen=True)
class LaunchFacts:
  """Attributes:
    info: the model's description (signatures left out: the inspector's).
    image_size: (height, width) the workers feed.
    num_outputs: N of the main output.
    extra_shapes: (name, shape without batch) per extra output.
    converted_key: the converted float32 model's key in the IR cache.
    check: the TensorFlow-vs-OpenVINO agreement on the probe batch.
    content_digest: sha256 of the SavedModel's files.
  """
  info: description.ImageModelInfo
  image_size: Tuple[int, int]
  num_outputs: int
  extra_shapes: Tuple[Tuple[str, Tuple[int, ...]], ...]
  converted_key: str
  check: str
  content_digest: str


def _package_version(name: str) -> str:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return "none"


def key_for(settings: model_settings.ModelSettings) -> Optional[Tuple[str,
                                                                      str]]:
  """(key, content digest) of the job's facts, or None when they cannot
  be cached (no ``--openvino_cache``, ``--engine tensorflow``, or a model
  that is not a local directory)."""
  if (not settings.openvino_cache or
      settings.engine == model_settings.ENGINE_TENSORFLOW or
      not os.path.isdir(settings.handle)):
    return None
  digest = handles.folder_digest(settings.handle)
  parts = [FACTS_FORMAT, digest, settings.task, settings.signature or "",
           ",".join(sorted(settings.extra_outputs)),
           str(settings.image_size or ""),
           _package_version("tensorflow"), ov_engine.version()]
  return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32], digest


def _name(key: str) -> str:
  return f"facts-{key}.json"


def _tensor(raw: Dict[str, Any]) -> description.TensorInfo:
  shape = raw.get("shape")
  return description.TensorInfo(
      raw["name"], raw["dtype"],
      None if shape is None else tuple(shape))


def read(settings: model_settings.ModelSettings, key: str, digest: str
         ) -> Optional[LaunchFacts]:
  """The facts stored under ``key``, or None (absent, unreadable, or from
  another format)."""
  record = ov_cache.read_record(settings.openvino_cache or "", _name(key))
  if not record or record.get("format") != FACTS_FORMAT:
    return None
  try:
    raw = record["info"]
    info = description.ImageModelInfo(
        handle=settings.handle, format=raw["format"], entry=raw["entry"],
        input=_tensor(raw["input"]), output=_tensor(raw["output"]),
        extra_outputs={k: _tensor(v) for k, v in raw["extra_outputs"].items()},
        accepts_training=bool(raw["accepts_training"]), signatures=())
    return LaunchFacts(
        info=info, image_size=tuple(record["image_size"]),  # type: ignore[arg-type]
        num_outputs=int(record["num_outputs"]),
        extra_shapes=tuple((name, tuple(shape))
                           for name, shape in record["extra_shapes"]),
        converted_key=str(record["converted_key"]),
        check=str(record["check"]), content_digest=digest)
  except (KeyError, TypeError, ValueError):
    return None


def store(settings: model_settings.ModelSettings, key: str,
          facts: LaunchFacts) -> None:
  """Stores ``facts`` under ``key`` (a failed store is logged, not
  fatal)."""
  info = dataclasses.asdict(facts.info)
  info.pop("signatures", None)
  info.pop("handle", None)
  ov_cache.store_record(settings.openvino_cache or "", _name(key), {
      "format": FACTS_FORMAT, "info": info,
      "image_size": list(facts.image_size),
      "num_outputs": facts.num_outputs,
      "extra_shapes": [[name, list(shape)]
                       for name, shape in facts.extra_shapes],
      "converted_key": facts.converted_key, "check": facts.check,
      "content_digest": facts.content_digest})
