"""Picks the source transform for ``--input_format``.

Every source yields ``EncodedImage`` on its main output and ``Failure`` on
its ``failures`` output.
"""
from __future__ import annotations

import apache_beam as beam

from transforms import file_source
from transforms import manifest_source
from transforms import options as options_lib
from transforms import tfrecord_source


def make_source(config: options_lib.JobConfig) -> beam.PTransform:
  if config.input_format == "files":
    return file_source.ReadImageFiles(config.input_patterns)
  if config.input_format == "tfrecord":
    return tfrecord_source.ReadTFRecordImages(
        config.input_patterns, config.image_feature, config.key_feature)
  if config.input_format == "manifest":
    return manifest_source.ReadManifestImages(
        config.input_patterns, config.uri_column, config.key_column,
        config.passthrough_columns)
  raise options_lib.ConfigError(
      f"--input_format: expected one of {', '.join(options_lib.INPUT_FORMATS)}"
      f", found {config.input_format!r}")
