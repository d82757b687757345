"""The write stage's part of planning a job: what each result row holds.

:func:`row_layout` takes what the model stage learned (output width, extra
output shapes) as arguments, reads the class names and checks ``--top_k``
against the model, so a bad flag fails before any input is read.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

from transforms.core import flags
from transforms.core import labels as labels_lib
from transforms.core import tasks
from transforms.write import columns
from transforms.write import settings as write_settings
from transforms.write import sinks


def read_class_names(labels_file: Optional[str],
                     num_outputs: int) -> Optional[Tuple[str, ...]]:
  """The class names, one per model output; None without a file.

  Raises:
    flags.ConfigError: the file cannot be read or has the wrong count.
  """
  if not labels_file:
    return None
  try:
    labels = labels_lib.read_labels(labels_file)
  except (IOError, OSError) as e:
    raise flags.ConfigError(
        f"--labels_file: cannot read {labels_file!r}: {e}") from None
  if len(labels) != num_outputs:
    raise flags.ConfigError(
        f"--labels_file: {labels_file!r} has {len(labels)} lines, but the "
        f"model outputs {num_outputs} classes (expected one label per class)")
  return labels


def row_layout(settings: write_settings.WriteSettings, task: str,
               num_outputs: int,
               extra_shapes: Sequence[Tuple[str, Tuple[int, ...]]] = (),
               passthrough_columns: Sequence[str] = (),
               passthrough_types: Sequence[Any] = ()) -> columns.RowLayout:
  """The result rows' layout for this job.

  Args:
    settings: the write stage's settings.
    task: feature_vector or classification.
    num_outputs: the model's output width N.
    extra_shapes: (name, shape without batch) per extra model output.
    passthrough_columns: source columns copied to each row.
    passthrough_types: their Arrow types (default: strings).

  Raises:
    flags.ConfigError: --top_k above N, a bad --labels_file, or a nested
      pass-through type for TFRecord results.
  """
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  if settings.output_format == sinks.TFRECORD:
    nested = [f"{c} ({t})" for c, t in zip(passthrough_columns,
                                           passthrough_types)
              if pa.types.is_nested(t)]
    if nested:
      raise flags.ConfigError(
          f"--passthrough_columns: {', '.join(nested)} is nested, which a "
          "tf.train.Example cannot hold; expected scalar columns for "
          "--output_format tfrecord (use parquet, or leave them out)")
  if task == tasks.TASK_CLASSIFICATION and settings.top_k.k > num_outputs:
    raise flags.ConfigError(
        f"--top_k {settings.top_k.k} is more than the model's "
        f"{num_outputs} classes")
  return columns.RowLayout(
      task=task, num_outputs=num_outputs, top_k=settings.top_k,
      labels=read_class_names(settings.labels_file, num_outputs),
      extra_shapes=tuple(extra_shapes),
      passthrough_columns=tuple(passthrough_columns),
      passthrough_types=tuple(passthrough_types))
