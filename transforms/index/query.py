"""Query images embedded exactly as the run did: the same model (checked
by its content digest), engine, precision and decode, all from the index's
manifest. When that cannot be reproduced the query is refused, naming what
differs, unless forced."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from transforms.core import elements
from transforms.core import failures
from transforms.core import tasks
from transforms.decode import batch
from transforms.decode import settings as decode_settings
from transforms.index import recipe
from transforms.model import precision as precision_lib
from transforms.model import process_policy
from transforms.model import settings as model_settings
from transforms.model.openvino import engine as ov_engine
from transforms.model.tensorflow import entry as tf_entry


class NotReproducible(Exception):
  """The run's embedding cannot be reproduced here; says what differs."""


def _image_size(manifest: recipe.IndexRecipe) -> Tuple[int, int]:
  height, width = (int(v) for v in str(manifest.fields["image_size"]).split(
      ","))
  return height, width


class QueryEmbedder:
  """Embeds query images as the indexed run did."""

  def __init__(self, manifest: recipe.IndexRecipe,
               openvino_cache: Optional[str], force: bool = False):
    missing = manifest.missing()
    if missing and not force:
      raise NotReproducible(
          "the indexed results are older and lack the manifest fields "
          f"{', '.join(missing)}; cannot embed a query as the run did "
          "(--force embeds anyway; --key queries always work)")
    fields = manifest.fields
    self._size = _image_size(manifest)
    decode = manifest.decode_settings()
    self._decode = decode_settings.DecodeSettings(
        resize=decode.get("resize", decode_settings.DecodeSettings().resize),
        max_pixels=int(decode.get("max_pixels",
                                  decode_settings.DecodeSettings().max_pixels)),
        jpeg_draft=decode.get("jpeg_draft", 1.0))
    engine = fields.get("engine") or model_settings.ENGINE_TENSORFLOW
    run_precision = fields.get("precision") or precision_lib.FLOAT32
    entry = fields.get("entry")
    settings = model_settings.ModelSettings(
        handle=str(fields.get("model")), task=tasks.TASK_FEATURE_VECTOR,
        signature=entry if entry and entry != tf_entry.CALL_ENTRY else None,
        engine=engine, openvino_cache=openvino_cache)
    try:
      tf_model = process_policy.load_tensorflow(
          settings, self._size,
          run_precision if engine == model_settings.ENGINE_TENSORFLOW
          else precision_lib.FLOAT32)
    except Exception as e:  # pylint: disable=broad-except
      raise NotReproducible(f"the model {fields.get('model')!r} cannot be "
                            f"loaded here: {e}") from None
    digest = tf_model.content_digest()
    recorded = fields.get("model_digest") or ""
    if recorded and digest != recorded and not force:
      raise NotReproducible(
          f"the model at {fields.get('model')!r} is not the one indexed: "
          f"content digest {digest[:12]} vs {recorded[:12]} "
          "(--force embeds anyway)")
    self.runner = self._runner(settings, tf_model, engine, run_precision,
                               fields.get("quantized_model"), force)

  def _runner(self, settings, tf_model, engine, run_precision, key, force):
    if engine == model_settings.ENGINE_TENSORFLOW:
      return tf_model
    try:
      if run_precision == precision_lib.INT8:
        from transforms.model.openvino.quantization import quantizer  # pylint: disable=g-import-not-at-top
        return ov_engine.compile_model(
            quantizer.load_quantized(settings.openvino_cache or "", key),
            tf_model.info)
      precision_lib.check_supported(run_precision,
                                    precision_lib.read_cpuinfo())
      return process_policy.openvino_from(tf_model, settings, run_precision)
    except Exception as e:  # pylint: disable=broad-except
      if not force:
        raise NotReproducible(
            f"precision {run_precision} on {engine} is not available here: "
            f"{e}") from None
      return process_policy.openvino_from(tf_model, settings,
                                          precision_lib.FLOAT32)

  def embed(self, paths: Sequence[str]
            ) -> Tuple[np.ndarray, List[Optional[str]]]:
    """float32 [n, dim] for the images that decode (in order), and per
    path the failure message, or None."""
    vectors, outcomes = self.embed_inputs(
        [elements.ImageInput(elements.ImageKey(path), uri=path)
         for path in paths])
    return vectors, [None if f is None else f"{f.reason}: {f.message}"
                     for f in outcomes]

  def embed_inputs(self, items: Sequence[elements.ImageInput]
                   ) -> Tuple[np.ndarray, List[Optional[failures.Failure]]]:
    """float32 [n, dim] for the inputs that read and decode (in order), and
    per input its ``Failure``, or None."""
    pixels: List[np.ndarray] = []
    outcomes: List[Optional[failures.Failure]] = []
    for item in items:
      outcome = batch.load_pixels(item, self._size, self._decode)
      if isinstance(outcome, failures.Failure):
        outcomes.append(outcome)
      else:
        outcomes.append(None)
        pixels.append(outcome)
    if not pixels:
      return np.zeros((0, 0), np.float32), outcomes
    out = self.runner.run_uint8(np.stack(pixels))
    return np.asarray(out[tasks.DEFAULT_OUTPUT], np.float32), outcomes
