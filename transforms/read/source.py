"""Picks the source transform for the read settings' input format.

Every source yields ``ImageInput`` on its ``images`` output (the bytes, or
the file the decode step reads them from) and ``Failure`` on its
``failures`` output; none of them counts inputs (the decode step counts
those it takes, the job those that failed here).
"""
from __future__ import annotations

from typing import Optional, Sequence

import apache_beam as beam

from transforms.read import files
from transforms.read import manifest
from transforms.read import parquet_images
from transforms.read import settings as read_settings
from transforms.read import tfrecord
from transforms.read import url_list
from transforms.read import webdataset


class ReadInputs(beam.PTransform):
  """PBegin -> ``images`` (ImageInput) and ``failures`` (Failure), for the
  settings' input format; inputs whose key is in ``done`` (keys with a
  result from an earlier run) and repeated keys are dropped before they are
  read or decoded."""

  def __init__(self, settings: read_settings.ReadSettings,
               done: Optional[beam.PCollection] = None,
               passthrough: Optional[Sequence[str]] = None,
               live_job: Optional[str] = None):
    """Args:
      settings: the read stage's settings.
      done: keys with a result from an earlier run.
      passthrough: the columns to pass through, as the launch check
        resolved them (``inputs_check``); default the settings'.
      live_job: a ``core.live_counts`` job id whose ``listed`` count the
        listing adds to as inputs are listed (the progress line).
    """
    super().__init__()
    self._settings = settings
    self._done = done
    self._live_job = live_job
    self._passthrough = tuple(settings.passthrough_columns
                              if passthrough is None else passthrough)

  def expand(self, pbegin):
    settings = self._settings
    done = self._done
    live = self._live_job
    if settings.input_format == read_settings.FORMAT_FILES:
      source: beam.PTransform = files.ReadImageFiles(settings.patterns, done, live)
    elif settings.input_format == read_settings.FORMAT_TFRECORD:
      source = tfrecord.ReadTFRecordImages(
          settings.patterns, settings.image_feature, settings.key_feature,
          done, live)
    elif settings.input_format == read_settings.FORMAT_MANIFEST:
      source = manifest.ReadManifestImages(
          settings.patterns, settings.uri_column, settings.key_column,
          self._passthrough, done, live)
    elif settings.input_format == read_settings.FORMAT_WEBDATASET:
      source = webdataset.ReadWebDataset(
          settings.patterns, settings.image_extensions, self._passthrough,
          done, settings.max_member_bytes)
    elif settings.input_format == read_settings.FORMAT_URLS:
      source = url_list.ReadUrlLists(settings.patterns, done, live)
    elif settings.input_format == read_settings.FORMAT_PARQUET:
      source = parquet_images.ReadParquetImages(
          settings.patterns, settings.image_column, settings.key_column,
          self._passthrough, done, live)
    else:
      raise ValueError(
          f"unknown input format {settings.input_format!r} (expected one of "
          f"{', '.join(read_settings.INPUT_FORMATS)})")
    return pbegin | "Source" >> source
