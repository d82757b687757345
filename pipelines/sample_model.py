"""Builds the real pretrained sample models (EfficientNet-Lite0, ImageNet).

    python -m pipelines.sample_model [--cache_dir DIR] [--force]
        [--photos_dir DIR]

Prints the paths of the classification model, feature-vector model and
labels file (and writes the sample photos when --photos_dir is given).
"""
from __future__ import annotations

import argparse
import sys

from pipelines.cli import quiet


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cache_dir", default=None)
  parser.add_argument("--photos_dir", default=None)
  parser.add_argument("--force", action="store_true")
  parser.add_argument("--verbose", action="store_true")
  args = parser.parse_args(argv)
  quiet.configure(args.verbose)
  from pipelines.sample_models import builder  # pylint: disable=g-import-not-at-top
  from pipelines.sample_models import photos  # pylint: disable=g-import-not-at-top
  paths = builder.build_sample_models(args.cache_dir, force=args.force)
  from transforms.core import tasks  # pylint: disable=g-import-not-at-top
  for name in tasks.TASKS + ("labels",):
    print(f"{name}={paths[name]}")
  if args.photos_dir:
    photos.write_sample_photos(args.photos_dir)
    print(f"photos={args.photos_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
