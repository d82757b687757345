"""Picks the source transform for the read settings' input format.

Every source yields ``EncodedImage`` on its ``images`` output and
``Failure`` on its ``failures`` output; none of them counts inputs (the job
does, once, on both outputs).
"""
from __future__ import annotations

import apache_beam as beam

from transforms.read import files
from transforms.read import manifest
from transforms.read import settings as read_settings
from transforms.read import tfrecord


def make_source(settings: read_settings.ReadSettings) -> beam.PTransform:
  if settings.input_format == read_settings.FORMAT_FILES:
    return files.ReadImageFiles(settings.patterns)
  if settings.input_format == read_settings.FORMAT_TFRECORD:
    return tfrecord.ReadTFRecordImages(
        settings.patterns, settings.image_feature, settings.key_feature)
  if settings.input_format == read_settings.FORMAT_MANIFEST:
    return manifest.ReadManifestImages(
        settings.patterns, settings.uri_column, settings.key_column,
        settings.passthrough_columns)
  raise ValueError(
      f"unknown input format {settings.input_format!r} (expected one of "
      f"{', '.join(read_settings.INPUT_FORMATS)})")
