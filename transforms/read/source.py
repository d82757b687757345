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
from transforms.read import slices
from transforms.read import tfrecord
from transforms.read import url_list
from transforms.read import watch
from transforms.read import webdataset


def _file_inputs() -> beam.DoFn:
  return files.ListedInputDoFn()


def _manifest_rows(uri_column, key_column, passthrough):
  return lambda: manifest.ListManifestDoFn(uri_column, key_column,
                                           passthrough)


def _url_lines() -> beam.DoFn:
  return url_list.ListUrlsDoFn()


def _records(image_feature, key_feature):
  return lambda: tfrecord.ListRecordsDoFn(image_feature, key_feature,
                                          with_images=True)


def _row_groups(image_column, key_column, passthrough):
  return lambda: parquet_images.RowGroupsLister(image_column, key_column,
                                                passthrough)


class ReadInputs(beam.PTransform):
  """PBegin -> ``images`` (ImageInput) and ``failures`` (Failure), for the
  settings' input format; inputs whose key is done (a result, or a final
  failure, of an earlier run) and repeated keys are dropped before they
  are read or decoded."""

  def __init__(self, settings: read_settings.ReadSettings,
               done: Optional[slices.DoneKeys] = None,
               passthrough: Optional[Sequence[str]] = None,
               live_job: Optional[str] = None, in_slices: bool = False):
    """Args:
      settings: the read stage's settings.
      done: the keys earlier runs finished (results, a resumed run's
        committed failures, URL failures that cannot heal), or None.
      passthrough: the columns to pass through, as the launch check
        resolved them (``inputs_check``); default the settings'.
      live_job: a ``core.live_counts`` job id whose ``listed`` count the
        listing adds to as inputs are listed (the progress line).
      in_slices: the job runs on the local runner: loose files, manifests,
        URL lists, TFRecord and Parquet images on a local disk are listed
        in slices, with no shuffle (``read.slices``).
    """
    super().__init__()
    self._settings = settings
    self._done = done
    self._live_job = live_job
    self._in_slices = in_slices
    self._passthrough = tuple(settings.passthrough_columns
                              if passthrough is None else passthrough)

  def _sliced(self) -> Optional[beam.PTransform]:
    settings = self._settings
    if not self._in_slices or not slices.all_local(settings.patterns):
      return None
    kind = settings.input_format
    if kind == read_settings.FORMAT_FILES:
      lister, in_order = _file_inputs, False
    elif kind == read_settings.FORMAT_MANIFEST:
      lister, in_order = _manifest_rows(
          settings.uri_column, settings.key_column, self._passthrough), True
    elif kind == read_settings.FORMAT_URLS:
      lister, in_order = _url_lines, True
    elif kind == read_settings.FORMAT_TFRECORD:
      lister, in_order = _records(settings.image_feature,
                                  settings.key_feature), True
    elif kind == read_settings.FORMAT_PARQUET:
      lister, in_order = _row_groups(
          settings.image_column, settings.key_column, self._passthrough), True
    else:
      return None
    return slices.ListInSlices(settings.patterns, lister, self._done,
                               in_order, self._live_job)

  def expand(self, pbegin):
    settings = self._settings
    if settings.watch is not None:
      return pbegin | "Source" >> watch.WatchImageFiles(
          settings.patterns, settings.watch, settings.window_seconds,
          settings.lateness)
    sliced = self._sliced()
    if sliced is not None:
      return pbegin | "Source" >> sliced
    settings = self._settings
    done = (self._done.collection(pbegin)
            if self._done is not None and self._done.files() else None)
    live = self._live_job
    if settings.input_format == read_settings.FORMAT_FILES:
      source: beam.PTransform = files.ReadImageFiles(settings.patterns, done,
                                                     live)
    elif settings.input_format == read_settings.FORMAT_TFRECORD:
      source = tfrecord.ReadTFRecordImages(
          settings.patterns, settings.image_feature, settings.key_feature,
          done, live)
    elif settings.input_format == read_settings.FORMAT_MANIFEST:
      source = manifest.ReadManifestImages(
          settings.patterns, settings.uri_column, settings.key_column,
          self._passthrough, done, live, settings.list_split_bytes)
    elif settings.input_format == read_settings.FORMAT_WEBDATASET:
      source = webdataset.ReadWebDataset(
          settings.patterns, settings.image_extensions, self._passthrough,
          done, settings.max_member_bytes)
    elif settings.input_format == read_settings.FORMAT_URLS:
      source = url_list.ReadUrlLists(settings.patterns, done, live,
                                     settings.list_split_bytes)
    elif settings.input_format == read_settings.FORMAT_PARQUET:
      source = parquet_images.ReadParquetImages(
          settings.patterns, settings.image_column, settings.key_column,
          self._passthrough, done, live)
    else:
      raise ValueError(
          f"unknown input format {settings.input_format!r} (expected one of "
          f"{', '.join(read_settings.INPUT_FORMATS)})")
    return pbegin | "Source" >> source
