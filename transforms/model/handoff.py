"""The launcher-to-worker model hand-off, keyed on what the handler carries.

The launcher loads, traces, probes (and, for OpenVINO, converts and
compiles) the model while it plans the job. A worker in the same process
(the local runners) asking for equal settings, image size and engine takes
that model instead of loading it a second time; a worker
elsewhere (Dataflow) finds nothing here and loads from ``settings.handle``.
The key is the frozen settings object and the image size the handler
carries in its pickled state, so no field-name convention couples the two
sides.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from transforms.model import description
from transforms.model import settings as model_settings

_Key = Tuple[model_settings.ModelSettings, Tuple[int, int], str]
_lock = threading.Lock()
_offered: Dict[_Key, description.ImageRunner] = {}


def _key(settings: model_settings.ModelSettings, image_size: Tuple[int, int],
         engine: str) -> _Key:
  return settings, (int(image_size[0]), int(image_size[1])), engine


def offer(settings: model_settings.ModelSettings, image_size: Tuple[int, int],
          engine: str, model: description.ImageRunner) -> None:
  """Lets the first later :func:`take` of equal settings, size and engine
  reuse ``model``."""
  with _lock:
    _offered.clear()  # Hold at most one model.
    _offered[_key(settings, image_size, engine)] = model


def take(settings: model_settings.ModelSettings, image_size: Tuple[int, int],
         engine: str) -> Optional[description.ImageRunner]:
  """The offered model for these settings, size and engine (once), else
  None."""
  with _lock:
    return _offered.pop(_key(settings, image_size, engine), None)
