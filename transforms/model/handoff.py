"""The launcher-to-worker model hand-off, keyed on the ModelSettings itself.

The launcher loads, traces and probes the model while it plans the job. A
worker in the same process (the local runners) asking for equal settings
takes that model instead of loading it a second time; a worker elsewhere
(Dataflow) finds nothing here and loads from ``settings.handle``. The key is
the frozen settings object the handler carries in its pickled state, so no
field-name convention couples the two sides.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional

from transforms.model import loading
from transforms.model import settings as model_settings

_lock = threading.Lock()
_offered: Dict[model_settings.ModelSettings, loading.ImageModel] = {}


def offer(settings: model_settings.ModelSettings,
          model: loading.ImageModel) -> None:
  """Lets the first later :func:`take` of equal settings reuse ``model``."""
  with _lock:
    _offered.clear()  # Hold at most one model.
    _offered[settings] = model


def take(settings: model_settings.ModelSettings
         ) -> Optional[loading.ImageModel]:
  """The offered model for these settings (once), else None."""
  with _lock:
    return _offered.pop(settings, None)
