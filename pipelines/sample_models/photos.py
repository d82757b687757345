"""Sample photos for the demo, taken from scikit-image's wheel.

scikit-image ships several real photos (public domain or CC0, see its
``data/README.txt``); they are copied to a samples folder on first run so
the project itself carries no third-party images.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Dict, List

# File in skimage/data -> what is in the picture.
SAMPLE_PHOTOS: Dict[str, str] = {
    "chelsea.png": "Chelsea the cat",
    "coffee.png": "a cup of coffee",
    "rocket.jpg": "a rocket on its launch pad",
    "motorcycle_left.png": "a motorcycle",
    "camera.png": "a cameraman (grayscale)",
}


def skimage_data_dir() -> str:
  spec = importlib.util.find_spec("skimage")
  if spec is None or not spec.submodule_search_locations:
    raise RuntimeError("scikit-image is not installed; install the project "
                       "with its 'samples' extra: pip install -e .[samples]")
  return os.path.join(list(spec.submodule_search_locations)[0], "data")


def write_sample_photos(folder: str) -> List[str]:
  """Copies the sample photos into ``folder`` (once); returns their paths."""
  os.makedirs(folder, exist_ok=True)
  source = skimage_data_dir()
  paths = []
  for name in SAMPLE_PHOTOS:
    target = os.path.join(folder, name)
    if not os.path.exists(target):
      shutil.copyfile(os.path.join(source, name), target + ".tmp")
      os.replace(target + ".tmp", target)
    paths.append(target)
  return paths
