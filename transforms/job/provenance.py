"""What made the results, recorded with them, and checked against earlier
results before they are mixed.

Every run records (Parquet key-value metadata, ``run.json``, the summary
and the report) the engine and precision the workers ran, the gate's
figures and the calibration digest of a reduced precision, the model's
content digest, and the decode and resize settings. ``--skip_existing``
then refuses to add results to earlier ones computed by another model (its
content digest: the same model moved elsewhere is the same model), in
another precision or with other decode settings (``--allow_mixed_results``
accepts them); another engine at float32 is accepted (the engine probe
holds cosine at 0.9999 or more) and recorded. Parquet results carry these
facts in their metadata; TFRecord results, which have none, are checked
against the ``run.json`` their run wrote beside them, and refused when it
is missing. Earlier results without these fields count as float32 with
today's decode, with a warning.
"""
from __future__ import annotations

import json
import logging
from typing import Dict, Mapping, Optional, Sequence

from apache_beam.io.filesystems import FileSystems

from transforms.core import flags
from transforms.decode import settings as decode_settings
from transforms.job import options as options_lib
from transforms.model import precision
from transforms.model import resolve
from transforms.read import storage
from transforms.write import columns
from transforms.write import earlier_results
from transforms.write import output_files

_LOGGER = logging.getLogger("hub_image_beam")

DECODE = "decode"
GATE = "gate"
CALIBRATION_DIGEST = "calibration_digest"
MODEL_DIGEST = "model_digest"
PRECISION_REASON = "precision_reason"
QUANTIZED_MODEL = "quantized_model"
EARLIER_ENGINES = "earlier_engines"


def decode_facts(d: decode_settings.DecodeSettings,
                 image_size) -> Dict[str, object]:
  """The decode and resize settings the pixels depend on."""
  return {"resize": d.resize, "max_pixels": d.max_pixels,
          "jpeg_draft": d.jpeg_draft,
          "image_size": [int(image_size[0]), int(image_size[1])]}


def facts(decode: decode_settings.DecodeSettings,
          model: resolve.ModelFacts) -> Dict[str, str]:
  """The metadata entries this module adds (strings, as Parquet keeps)."""
  out = {DECODE: json.dumps(decode_facts(decode, model.image_size),
                            sort_keys=True),
         MODEL_DIGEST: model.content_digest}
  reduced = model.engine.reduced
  if reduced is not None:
    out[PRECISION_REASON] = reduced.reason
    if reduced.gate is not None:
      out[GATE] = json.dumps(reduced.gate, sort_keys=True)
    if reduced.calibration_digest:
      out[CALIBRATION_DIGEST] = reduced.calibration_digest
    if reduced.quantized_key:
      out[QUANTIZED_MODEL] = reduced.quantized_key
  return out


def _metadata_of(path: str, run_records: Dict[str, Optional[Mapping[str, str]]]
                 ) -> Optional[Mapping[str, str]]:
  """A results file's metadata: Parquet's own; for TFRecord, which has
  none, the ``run.json`` its run wrote beside it (None when there is
  none; ``run_records`` keeps those read, by folder)."""
  if path.endswith(earlier_results.PARQUET_SUFFIXES):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with storage.open_file(path) as f:
      meta = pq.read_schema(f).metadata or {}
    prefix = columns.METADATA_PREFIX.encode()
    return {k[len(prefix):].decode(): v.decode() for k, v in meta.items()
            if k.startswith(prefix)}
  folder = path.rsplit("/", 1)[0] if "/" in path else "."
  if folder not in run_records:
    run_records[folder] = _run_record_beside(folder)
  return run_records[folder]


def _run_record_beside(folder: str) -> Optional[Mapping[str, str]]:
  record_path = FileSystems.join(folder, output_files.RUN_FILE)
  try:
    with storage.open_file(record_path) as f:
      record = json.loads(f.read().decode("utf-8"))
  except Exception:  # pylint: disable=broad-except
    return None   # missing or unreadable: the caller refuses
  metadata = record.get("metadata") if isinstance(record, dict) else None
  if not isinstance(metadata, dict):
    return None
  return {str(k): str(v) for k, v in metadata.items()}


def check_earlier(files: Sequence[str], config: options_lib.JobConfig,
                  model: resolve.ModelFacts) -> Dict[str, str]:
  """Refuses earlier results made in another precision or decode.

  Returns:
    The metadata entry naming the earlier results' engines, when any
    differs from this job's (another engine at the same precision is
    accepted, and recorded).

  Raises:
    flags.ConfigError: naming the file, its value and this job's.
  """
  ours_precision = model.engine.precision
  ours_decode = decode_facts(config.decode, model.image_size)
  engines = set()
  warned = False
  run_records: Dict[str, Optional[Mapping[str, str]]] = {}
  for path in files:
    meta = _metadata_of(path, run_records)
    if meta is None:
      if config.read.allow_mixed_results:
        continue
      raise flags.ConfigError(
          f"--skip_existing: cannot tell which model made {path!r}: it is a "
          f"TFRecord file without the {output_files.RUN_FILE} its run "
          "writes beside it (give --allow_mixed_results to accept)")
    engines.add(meta.get("engine") or "tensorflow")
    theirs_precision = meta.get("precision") or precision.FLOAT32
    decode_text = meta.get(DECODE)
    if decode_text is None and not warned:
      warned = True
      _LOGGER.warning(
          "--skip_existing: %s records no decode settings (written before "
          "they were recorded); taken as %s decode and %s", path,
          "today's", theirs_precision)
    theirs_decode = json.loads(decode_text) if decode_text else ours_decode
    if config.read.allow_mixed_results:
      continue
    theirs_task = meta.get("task")
    if theirs_task and theirs_task != config.model.task:
      raise flags.ConfigError(
          f"--skip_existing: {path!r} holds {theirs_task} results, this job "
          f"computes {config.model.task} (give --allow_mixed_results to "
          "accept)")
    theirs_digest = meta.get(MODEL_DIGEST)
    if theirs_digest and theirs_digest != model.content_digest:
      raise flags.ConfigError(
          f"--skip_existing: {path!r} holds results of another model "
          f"({meta.get('model', '?')}, content digest {theirs_digest[:12]}), "
          f"this job runs {config.model.handle} (content digest "
          f"{model.content_digest[:12]}); mixing them would put two "
          "embedding spaces in one output (give --allow_mixed_results to "
          "accept)")
    if theirs_precision != ours_precision:
      raise flags.ConfigError(
          f"--skip_existing: {path!r} holds {theirs_precision} results, this "
          f"job computes {ours_precision}; mixing them would put two "
          "precisions in one output (give --allow_mixed_results to accept)")
    if theirs_decode != ours_decode:
      raise flags.ConfigError(
          f"--skip_existing: {path!r} was decoded with {theirs_decode}, this "
          f"job decodes with {ours_decode} (give --allow_mixed_results to "
          "accept)")
  if engines - {model.engine.engine}:
    return {EARLIER_ENGINES: ",".join(sorted(engines))}
  return {}
