"""The lean TensorFlow import: Keras is left out of start-up, not out of
reach."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests import conftest

_CHILD = r'''
import json, sys
from transforms.model.tensorflow import lean_import as tf_import
tf = tf_import.import_tensorflow()
at_import = {name: name in sys.modules
             for name in ("keras", "pandas", "tensorflow_hub")}
blocked_left = [name for name, module in sys.modules.items() if module is None
                and name.endswith("src.optimizers")]
layer = tf.keras.layers.Dense(2)  # Keras, imported on demand, works in full.
print(json.dumps({"at_import": at_import, "blocked_left": blocked_left,
                  "optimizers_loaded": "keras.src.optimizers" in sys.modules,
                  "layer": type(layer).__name__,
                  "same_module": tf_import.import_tensorflow() is tf}))
'''


def test_keras_is_not_imported_with_tensorflow_but_still_importable_later():
  done = subprocess.run([sys.executable, "-c", _CHILD], cwd=conftest.ROOT,
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=conftest.ROOT,
                                 TF_CPP_MIN_LOG_LEVEL="3"), check=True)
  seen = json.loads(done.stdout.strip().splitlines()[-1])
  assert seen["at_import"] == {"keras": False, "pandas": False,
                               "tensorflow_hub": False}
  assert seen["blocked_left"] == []
  assert seen["optimizers_loaded"] is True
  assert seen["layer"] == "Dense"
  assert seen["same_module"] is True
