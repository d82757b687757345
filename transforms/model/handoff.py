"""The launcher-to-worker model hand-off, keyed on what the handler carries.

The launcher loads, traces and probes the model while it plans the job. A
worker in the same process (the local runners) asking for equal settings and
image size takes that model instead of loading it a second time; a worker
elsewhere (Dataflow) finds nothing here and loads from ``settings.handle``.
The key is the frozen settings object and the image size the handler
carries in its pickled state, so no field-name convention couples the two
sides.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from transforms.model import settings as model_settings
from transforms.model import tf_engine

_Key = Tuple[model_settings.ModelSettings, Tuple[int, int]]
_lock = threading.Lock()
_offered: Dict[_Key, tf_engine.ImageModel] = {}


def offer(settings: model_settings.ModelSettings, image_size: Tuple[int, int],
          model: tf_engine.ImageModel) -> None:
  """Lets the first later :func:`take` of equal settings reuse ``model``."""
  with _lock:
    _offered.clear()  # Hold at most one model.
    _offered[(settings, (int(image_size[0]), int(image_size[1])))] = model


def take(settings: model_settings.ModelSettings, image_size: Tuple[int, int]
         ) -> Optional[tf_engine.ImageModel]:
  """The offered model for these settings and size (once), else None."""
  with _lock:
    return _offered.pop(
        (settings, (int(image_size[0]), int(image_size[1]))), None)
