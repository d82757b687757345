"""The library: TF Hub image models as steps of your own Beam pipeline.

Three transforms, the command's own stages (``python -m pipelines.embed``
is built from them, :func:`build_command`)::

    import apache_beam as beam
    from transforms import api

    infer = api.InferImages("mobilenet_v2/", task="classification",
                            labels_file="labels.txt", top_k=5)
    with beam.Pipeline() as p:
      inferred = (p | beam.Create([("cat", cat_jpeg), ("dog", dog_png)])
                  | infer)
      inferred.results   # one dict per image: a result row's columns
      inferred.failures  # one dict per failed input: the failures' columns
      inferred | api.WriteResults("/tmp/out")

- :class:`ReadImages` ``(inputs, input_format=...)``: PBegin -> images, from
  every source the command reads (globs, TFRecord, manifests, WebDataset,
  Parquet, URL lists), with the read failures beside them.
- :class:`InferImages` ``(model, task, ...)``: a PCollection of
  ``(key, image_bytes)`` or ``(key, uri)`` tuples, or what ``ReadImages``
  returns -> ``.results`` and ``.failures``. Every input comes out once, in
  one of the two. URIs are paths or ``gs://`` objects (read as the command
  reads files) or http(s) URLs (fetched under the fetch settings:
  private addresses refused, robots and opt-outs honoured).
- :class:`WriteResults` ``(output, ...)``: ``InferImages``' output to
  files, exactly as the command writes them (schema, metadata, committed
  parts, failures).

Keyword arguments are the command's flags without ``--`` (``top_k=5``,
``precision="int8"``), with the same defaults and the same checks, made
when the transform is constructed; what the command refuses with exit 2
raises :class:`ConfigError` (a bad value or an unknown keyword, which names
the closest one) or :class:`ModelError` (a model that breaks the TF Hub
image contract). ``InferImages`` loads, probes and (for OpenVINO) converts
the model when it is constructed, as the command does at launch.
"""
from __future__ import annotations

import dataclasses
import re
from typing import (Any, Dict, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import apache_beam as beam
from apache_beam import typehints
from apache_beam.typehints.typehints import is_consistent_with
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window
from apache_beam.typehints.decorators import TypeCheckError

from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.core import flags
from transforms.decode import dofn as decode_dofn
from transforms.decode import settings as decode_settings
from transforms.fetch import dofn as fetch_dofn
from transforms.fetch import settings as fetch_settings
from transforms.job import dataflow
from transforms.job import image_sample
from transforms.job import keywords as keywords_lib
from transforms.job import options as options_lib
from transforms.job import placement as placement_lib
from transforms.job import plan as plan_lib
from transforms.job import provenance
from transforms.model import description
from transforms.model import handler
from transforms.model import precision as precision_lib
from transforms.model import resolve
from transforms.model import settings as model_settings
from transforms.read import inputs_check
from transforms.read import settings as read_settings
from transforms.read import slices
from transforms.read import source
from transforms.write import columns
from transforms.write import dofn as write_dofn
from transforms.write import earlier_results
from transforms.write import layout as layout_lib
from transforms.write import output_dir
from transforms.write import output_files
from transforms.write import parts
from transforms.write import settings as write_settings
from transforms.write import sinks
from transforms.write import windowed

ConfigError = flags.ConfigError
ModelError = description.ModelError

# What InferImages takes, besides ReadImages' output.
KeyedBytes = Tuple[str, bytes]
KeyedUri = Tuple[str, str]
# None for the image: a failure (``missing_image``), not an error.
INPUT_TYPE = typehints.Union[Tuple[str, Optional[bytes]],
                             Tuple[str, Optional[str]], elements.ImageInput]
Row = Dict[str, Any]

# Which keywords each transform takes: its stages' flags, less those only
# the whole command can honour (they need the inputs and the model at once).
_COMMAND_ONLY = ("skip_existing", "allow_mixed_results", "resume")
_ROW_FLAGS = ("labels_file", "top_k", "score")
_READ_KEYWORDS = tuple(n for n in keywords_lib.flag_names("read")
                       if n not in ("input",) + _COMMAND_ONLY)
_INFER_KEYWORDS = (keywords_lib.flag_names("model") +
                   keywords_lib.flag_names("decode") +
                   keywords_lib.flag_names("fetch") + _ROW_FLAGS)
_WRITE_KEYWORDS = tuple(n for n in keywords_lib.flag_names("write")
                        if n not in _ROW_FLAGS + _COMMAND_ONLY)
_TAKEN_BY = {**{n: "ReadImages" for n in _READ_KEYWORDS},
             **{n: "InferImages" for n in _INFER_KEYWORDS},
             **{n: "WriteResults" for n in _WRITE_KEYWORDS},
             **{n: "the command (python -m pipelines.embed)"
                for n in _COMMAND_ONLY}}


def _elsewhere(allowed: Sequence[str]) -> Dict[str, str]:
  return {n: t for n, t in _TAKEN_BY.items() if n not in allowed}


class ReadOutput(NamedTuple):
  """What :class:`ReadImages` returns.

  Attributes:
    images: one ``elements.ImageInput`` per input (where its bytes are).
    failures: one ``failures.Failure`` per input that could not be listed
      or read (a damaged shard's records, a malformed line).
  """
  images: beam.PCollection
  failures: beam.PCollection


class InferOutput(NamedTuple):
  """What :class:`InferImages` returns.

  Attributes:
    results: one dict per image, the columns of a result row (``key``,
      ``embedding`` or ``top_k_ids`` / ``top_k_scores`` / ``top_k_labels``,
      pass-through columns).
    failures: one dict per failed input, the failures output's columns
      (``key``, ``stage``, ``reason``, ``message``, ...).
  """
  results: beam.PCollection
  failures: beam.PCollection


class ReadImages(beam.PTransform):
  """PBegin -> :class:`ReadOutput`, from ``inputs`` in ``input_format``.

  Keywords: the command's read flags (``input_format``, ``uri_column``,
  ``key_column``, ``passthrough_columns``, ``image_feature``,
  ``image_column``, ...). The inputs are checked when it is constructed
  (a glob that matches nothing, a manifest without its column). Repeated
  keys are read once (the others are ``duplicate_key`` failures).
  """

  def __init__(self, inputs: Union[str, Sequence[str]], **keywords: Any):
    super().__init__()
    namespace = keywords_lib.parse("ReadImages", keywords, ("read",),
                                   _READ_KEYWORDS,
                                   _elsewhere(_READ_KEYWORDS))
    namespace.input = [inputs] if isinstance(inputs, str) else list(inputs)
    if not namespace.input:
      raise ConfigError("ReadImages: expected at least one input glob, "
                        "found none")
    settings = read_settings.from_flags(namespace)
    options_lib.check_across_stages(
        model_settings.ModelSettings(handle=""),
        write_settings.WriteSettings(output=""), settings.passthrough_columns)
    self._settings = settings
    # A watching source may start before its first file lands.
    self.passthrough = (inputs_check.check_inputs(settings)
                        if settings.watch is None else ())
    self._done: Optional[slices.DoneKeys] = None
    self._live_job: Optional[str] = None
    self._in_slices: Optional[bool] = None

  @classmethod
  def planned(cls, plan: plan_lib.JobPlan, done: Optional[slices.DoneKeys],
              live_job: Optional[str] = None) -> "ReadImages":
    """The command's read stage, from its checked plan."""
    read = cls.__new__(cls)
    beam.PTransform.__init__(read)
    read._settings = plan.config.read
    read.passthrough = tuple(zip(plan.layout.passthrough_columns,
                                 plan.layout.passthrough_types))
    read._done, read._live_job = done, live_job
    read._in_slices = plan.workers_here
    return read

  @property
  def input_format(self) -> str:
    return self._settings.input_format

  def expand(self, pbegin) -> ReadOutput:
    in_slices = self._in_slices
    if in_slices is None:
      in_slices = not dataflow.is_dataflow(pbegin.pipeline.options)
    read = pbegin | "ReadInputs" >> source.ReadInputs(
        self._settings, self._done, [name for name, _ in self.passthrough],
        self._live_job, in_slices=in_slices)
    # Inputs are counted once, whatever the source: the decode step counts
    # those it takes, and here those the source could not list or read.
    read_failures = read[failures.FAILURES_TAG] | "CountReadFailures" >> (
        beam.ParDo(counters.CountInputDoFn()))
    return ReadOutput(images=read["images"], failures=read_failures)


class _AsImageInput(beam.DoFn):
  """(key, bytes) or (key, uri) -> ``elements.ImageInput``; ImageInput as
  it is. A keyed input with no image (None, an empty uri) is a failure;
  an element with no str key is a programming error, raised (the type
  check refuses it at construction when Beam knows the types)."""

  def process(self, element):
    if isinstance(element, elements.ImageInput):
      yield element
      return
    if (not isinstance(element, tuple) or len(element) != 2 or
        not isinstance(element[0], str) or
        not isinstance(element[1], (bytes, str, type(None)))):
      raise TypeError(
          "InferImages: expected (key, image bytes) or (key, uri) tuples of "
          f"str and bytes/str, found a {type(element).__name__}" +
          (f" of ({', '.join(type(v).__name__ for v in element)})"
           if isinstance(element, tuple) else ""))
    key, value = element
    image_key = elements.ImageKey(key)
    if isinstance(value, bytes):
      yield elements.ImageInput(image_key, data=value)
    elif value is None:
      yield failures.tagged(failures.Failure(
          key, failures.STAGE_READ, failures.REASON_MISSING_IMAGE,
          "the input has no image (None)"))
    elif not value:
      yield failures.tagged(failures.Failure(
          key, failures.STAGE_READ, failures.REASON_MISSING_URI,
          "the input's uri is empty"))
    else:
      yield elements.ImageInput(image_key, uri=value)


@dataclasses.dataclass(frozen=True)
class _Inference:
  """What InferImages runs, resolved at construction."""
  model: model_settings.ModelSettings
  decode: decode_settings.DecodeSettings
  fetch: fetch_settings.FetchSettings
  write: write_settings.WriteSettings
  facts: resolve.ModelFacts
  metadata: Dict[str, str]
  placement: placement_lib.Placement = placement_lib.Placement()


class InferImages(beam.PTransform):
  """Images -> :class:`InferOutput` (``.results``, ``.failures``).

  Input: a PCollection of ``(key, image_bytes)`` or ``(key, uri)`` tuples
  (``str`` keys), or :class:`ReadImages`' output (its read failures join
  ``.failures``). Any other element type is refused when the pipeline is
  built (Beam type hints; a PCollection whose type Beam cannot infer is
  checked element by element).

  Keywords: the command's model, decode and fetch flags, and the rows'
  ``labels_file``, ``top_k``, ``score``. Besides them:

  Args:
    model: a SavedModel directory (local or ``gs://``) or TF Hub handle.
    task: ``feature_vector`` (default) or ``classification``.
    int8_sample: ``precision="int8"`` and ``"auto"`` calibrate and gate
      the quantized model on images like the job's, and a transform cannot
      see its input when it is built: give them here, as a glob (or list
      of globs) of image files, or a list of ``(key, image_bytes)``.
      ``calibration_images`` and ``int8_check_images`` of them are used,
      spread by key hash as the command spreads its sample.
    remote_workers: the pipeline runs on Dataflow: this machine's CPU does
      not decide the precision (the command's ``--runner
      DataflowRunner``). Refused at ``expand`` if it does not match the
      pipeline's runner.
  """

  def __init__(self, model: str, task: Optional[str] = None, *,
               int8_sample: Union[None, str, Sequence[str],
                                  Sequence[KeyedBytes]] = None,
               remote_workers: bool = False, **keywords: Any):
    super().__init__()
    given = dict(keywords, model=model, task=task)
    namespace = keywords_lib.parse(
        "InferImages", given, ("model", "decode", "fetch", "write"),
        _INFER_KEYWORDS + ("model", "task"), _elsewhere(_INFER_KEYWORDS))
    namespace.output = ""
    settings = model_settings.from_flags(namespace, remote_workers)
    decode = decode_settings.from_flags(namespace)
    fetch = fetch_settings.from_flags(namespace)
    write = write_settings.from_flags(namespace)
    options_lib.check_across_stages(settings, write)
    sample_for = _sample_for(settings, decode, fetch, int8_sample)
    facts = resolve.resolve_model(settings, not remote_workers, sample_for)
    self._setup = _Inference(
        model=settings, decode=decode, fetch=fetch, write=write, facts=facts,
        metadata=_metadata(settings, decode, write, facts))
    self._remote = remote_workers
    self._live_job: Optional[str] = None
    self._layout: Optional[columns.RowLayout] = None

  @classmethod
  def planned(cls, plan: plan_lib.JobPlan,
              live_job: Optional[str] = None) -> "InferImages":
    """The command's inference stage, from its checked plan."""
    infer = cls.__new__(cls)
    beam.PTransform.__init__(infer)
    config = plan.config
    infer._setup = _Inference(
        model=config.model, decode=config.decode, fetch=config.fetch,
        write=config.write, facts=plan.model, metadata=plan.metadata,
        placement=config.placement)
    infer._remote = not plan.workers_here
    infer._live_job = live_job
    infer._layout = plan.layout
    return infer

  @property
  def image_size(self) -> Tuple[int, int]:
    """(height, width) the model takes."""
    return self._setup.facts.image_size

  @property
  def metadata(self) -> Dict[str, str]:
    """The facts written beside the results (model, digest, precision)."""
    return dict(self._setup.metadata)

  @property
  def layout(self) -> columns.RowLayout:
    """What a result row holds; known once the transform is applied."""
    if self._layout is None:
      raise ConfigError("InferImages: the row layout is known once the "
                        "transform is applied to its input")
    return self._layout

  def type_check_inputs(self, pvalueish) -> None:
    if isinstance(pvalueish, ReadOutput):
      return
    element_type = getattr(pvalueish, "element_type", None)
    if not isinstance(pvalueish, beam.PCollection) or (
        not is_consistent_with(element_type, INPUT_TYPE)):
      found = (f"elements of type {_type_name(element_type)}"
               if isinstance(pvalueish, beam.PCollection)
               else type(pvalueish).__name__)
      raise TypeCheckError(
          "InferImages: expected a PCollection of (key, image bytes) or "
          f"(key, uri) tuples (Tuple[str, bytes] / Tuple[str, str]) or "
          f"ReadImages' output, found {found}")

  def expand(self, inputs) -> InferOutput:
    setup = self._setup
    is_dataflow = dataflow.is_dataflow(_pipeline_of(inputs).options)
    if is_dataflow != self._remote:
      raise ConfigError(
          f"InferImages: built with remote_workers={self._remote}, applied in "
          f"a pipeline {'on' if is_dataflow else 'off'} Dataflow; expected "
          f"remote_workers={is_dataflow}")
    images, passthrough, fetch, read_failures = _images_of(inputs)
    stages: List[Tuple[str, beam.PCollection]] = [
        ("CountFailedReads", read_failures)]
    if self._layout is None:
      self._layout = layout_lib.row_layout(
          setup.write, setup.model.task, setup.facts.num_outputs,
          setup.facts.extra_shapes, [n for n, _ in passthrough],
          [t for _, t in passthrough])
    if fetch:
      fetched = images | "FetchImages" >> fetch_dofn.FetchImages(setup.fetch)
      images = fetched["images"]
      # Fetch failures are inputs the decode step never takes.
      stages.append(("CountFailedFetches", fetched[failures.FAILURES_TAG]
                     | "CountFetchInputs" >> beam.ParDo(
                         counters.CountInputDoFn())))
    decoded = images | "DecodeImages" >> decode_dofn.DecodeImages(
        setup.decode, setup.facts.image_size,
        (setup.model.min_batch_size, setup.model.max_batch_size))
    engine = setup.facts.engine
    model_handler = handler.HubImageModelHandler(
        setup.model, setup.facts.image_size, engine.engine, engine.precision,
        engine.quantized_key)
    to_model = decoded.images
    if setup.placement.separate:
      # Decode and inference fuse apart: decode on CPU workers, inference on
      # accelerator workers; batches of uint8 pixels at the model's size
      # cross.
      to_model = to_model | "ShuffleToInference" >> beam.Reshuffle()
    inference: beam.PTransform = RunInference(model_handler)
    if setup.placement.resource_hints():
      inference = inference.with_resource_hints(
          **setup.placement.resource_hints())
    predicted = to_model | "RunInference" >> inference
    built = predicted | "BuildRows" >> write_dofn.build_rows(self._layout,
                                                             self._live_job)
    # Each stage's failures are counted before they are merged, so they are
    # counted as they happen (the step fuses with the one that found them).
    stages += [("CountFailedDecodes", decoded[failures.FAILURES_TAG]),
               ("CountFailedInference", built[failures.FAILURES_TAG])]
    counted = [stage | label >> beam.ParDo(
        counters.CountFailureDoFn(self._live_job))
               for label, stage in stages]
    failure_rows = (tuple(counted)
                    | "CollectFailures" >> beam.Flatten()
                    | "FailureRows" >> beam.Map(
                        failures.Failure.as_row).with_output_types(Row))
    return InferOutput(results=built.rows, failures=failure_rows)


def _images_of(inputs):
  """InferImages' input as (ImageInput PCollection, pass-through columns
  and types, whether to fetch URLs, the read failures)."""
  if isinstance(inputs, ReadOutput):
    reader = _producer(inputs.images, ReadImages)
    if reader is None:
      return inputs.images, (), True, inputs.failures
    return (inputs.images, reader.passthrough,
            reader.input_format in read_settings.URL_FORMATS,
            inputs.failures)
  converted = inputs | "AsImageInputs" >> beam.ParDo(
      _AsImageInput()).with_outputs(failures.FAILURES_TAG, main="images")
  # Inputs with no image are counted here: the decode step never sees them.
  empty = converted[failures.FAILURES_TAG] | "CountReadInputs" >> beam.ParDo(
      counters.CountInputDoFn())
  # Bytes need no fetch; any uri may be a URL.
  fetch = not is_consistent_with(inputs.element_type,
                                 Tuple[str, Optional[bytes]])
  return converted.images, (), fetch, empty


class WriteResults(beam.PTransform):
  """:class:`InferOutput` -> files under ``output``, as the command writes
  them: results and failures in committed parts (or Beam's sinks with
  ``num_shards``), with the results' schema and metadata.

  Keywords: the command's write flags (``output_format``, ``compression``,
  ``num_shards``, ``failures_format``, ``overwrite``, ``part_rows``). The
  output is checked (and with ``overwrite`` cleared) when it is built.
  """

  def __init__(self, output: str, **keywords: Any):
    super().__init__()
    namespace = keywords_lib.parse(
        "WriteResults", dict(keywords, output=output),
        ("write",), _WRITE_KEYWORDS, _elsewhere(_WRITE_KEYWORDS))
    if not output:
      raise ConfigError("WriteResults: expected an output location, found "
                        "none")
    self._write = write_settings.from_flags(namespace)
    output_dir.clear_output(self._write)
    self._plan: Optional[plan_lib.JobPlan] = None

  @classmethod
  def planned(cls, plan: plan_lib.JobPlan) -> "WriteResults":
    """The command's write stage, from its checked plan."""
    write = cls.__new__(cls)
    beam.PTransform.__init__(write)
    write._write = plan.config.write
    write._plan = plan
    return write

  def expand(self, inferred: InferOutput):
    if not isinstance(inferred, InferOutput):
      raise TypeCheckError("WriteResults: expected InferImages' output (its "
                           f"results and failures), found "
                           f"{type(inferred).__name__}")
    if self._plan is not None:
      plan = self._plan
      schema, identity = plan.results_schema, plan.identity
    else:
      infer = _producer(inferred.results, InferImages)
      if infer is None:
        raise TypeCheckError("WriteResults: expected InferImages' output; "
                             "its results come from another transform")
      schema = columns.results_schema(infer.layout, infer.metadata)
      identity = parts.identity({
          **infer.metadata,
          **{f"write.{k}": v for k, v in dataclasses.asdict(
              self._write).items() if k not in ("output", "overwrite")}})
    _write(self._write, schema, identity, inferred.results,
           inferred.failures)
    return beam.pvalue.PDone(_pipeline_of(inferred))


def _write(write: write_settings.WriteSettings, schema, identity,
           rows, failure_rows) -> None:
  """Results and failures to the output: in committed parts (resumable,
  ``write.parts``), with Beam's sinks for a fixed ``num_shards``, or, in
  windows (streaming), as each window fires (``write.windowed``)."""
  if write.failures_format == write_settings.FAILURES_AS_RESULTS:
    failure_format = (write.output_format, write.compression)
  else:
    failure_format = (sinks.JSONL, "none")
  formats = {
      parts.RESULTS_PARTS: parts.PartFormat(
          write.output_format, schema, write.compression),
      parts.FAILURES_PARTS: parts.PartFormat(
          failure_format[0], columns.FAILURE_SCHEMA, failure_format[1])}
  by_kind = {parts.RESULTS_PARTS: rows, parts.FAILURES_PARTS: failure_rows}
  if _windowed(rows):
    _ = by_kind | "WriteWindows" >> windowed.WriteInWindows(
        write.output, formats, max(1, write.num_shards))
    return
  if not rows.is_bounded:
    raise ConfigError(
        "WriteResults: a streaming pipeline's results must be in windows, "
        "which are written as they fire; expected beam.WindowInto(...) "
        "before InferImages, found the global window")
  if write.num_shards == 0:
    _ = by_kind | "WriteOutput" >> parts.WriteInParts(
        write.output, formats, identity, write.part_rows)
    return
  _ = rows | "WriteResults" >> sinks.make_sink(
      write.output_format, output_files.results_prefix(write.output), schema,
      write.compression, write.num_shards)
  _ = failure_rows | "WriteFailures" >> sinks.make_sink(
      failure_format[0], output_files.failures_prefix(write.output),
      columns.FAILURE_SCHEMA, failure_format[1])


def build_command(pipeline: beam.Pipeline, plan: plan_lib.JobPlan,
                  live_job: Optional[str] = None) -> None:
  """Adds ``python -m pipelines.embed``'s whole job to ``pipeline``: these
  three transforms, each built from the command's checked plan, so the
  command and the library cannot drift. Each step has a stable label
  (Dataflow's UI, metrics and job updates key on them;
  ``tests/test_dataflow_offline.py`` pins them).

  Args:
    pipeline: where to add it.
    plan: the planned job (``job.plan``).
    live_job: a ``core.live_counts`` job id whose counts the counting steps
      add to, for a live display in the launching process.
  """
  result_parts, failure_parts = parts.part_keys_files(plan.resumed_parts)
  done = earlier_results.EarlierKeys(
      plan.earlier_results + result_parts, plan.earlier_failures,
      failure_parts)
  _ = (pipeline
       | "ReadImages" >> ReadImages.planned(plan, done, live_job)
       | "InferImages" >> InferImages.planned(plan, live_job)
       | "WriteResults" >> WriteResults.planned(plan))


def pipeline_options(argv: Sequence[str] = ()) -> PipelineOptions:
  """Beam options for a pipeline using these transforms, as the command
  takes them: Dataflow's flags checked before anything is staged; without
  ``--runner``, Beam's in-process runner with two workers (Beam's default
  DirectRunner first tries to download its Prism binary).

  Raises:
    ConfigError: a Dataflow flag is missing or wrong.
  """
  return options_lib.runner_options(argv)


def failure_row(key: str, reason: str, message: str,
                stage: str = failures.STAGE_READ) -> Row:
  """A failure found by the caller's own step (a bad message, a row with no
  image), in the failures' columns: flattened with ``InferImages``'
  ``.failures`` it is written with them. ``message`` must not quote the
  input's bytes."""
  return failures.Failure(key, stage, reason, message).as_row()


is_dataflow = dataflow.is_dataflow


def _windowed(pcoll: beam.PCollection) -> bool:
  return not isinstance(pcoll.windowing.windowfn, window.GlobalWindows)


def _metadata(settings: model_settings.ModelSettings,
              decode: decode_settings.DecodeSettings,
              write: write_settings.WriteSettings,
              facts: resolve.ModelFacts) -> Dict[str, str]:
  """The results' metadata, as the command's plan writes it."""
  metadata = columns.job_metadata(
      settings.handle, settings.task, facts.image_size, facts.entry,
      write.top_k.score, facts.engine.precision, facts.engine.engine,
      facts.engine.version)
  metadata.update(provenance.facts(decode, facts))
  return metadata


def _sample_for(settings: model_settings.ModelSettings,
                decode: decode_settings.DecodeSettings,
                fetch: fetch_settings.FetchSettings, given):
  """image size -> the int8 sample, from ``int8_sample``; None when the
  precision needs none.

  Raises:
    ConfigError: int8 or auto without a sample.
  """
  if settings.precision not in precision_lib.OPENVINO_ONLY:
    return None
  if not given:
    raise ConfigError(
        f"InferImages: precision={settings.precision!r} calibrates and gates "
        "on images like the job's; expected int8_sample= (a glob, or a list "
        "of (key, image bytes)), found none")
  if isinstance(given, str) or all(isinstance(g, str) for g in given):
    read = read_settings.ReadSettings(
        patterns=(given,) if isinstance(given, str) else tuple(given))
    inputs_check.check_inputs(read)
    inputs = None
  else:
    read = read_settings.ReadSettings(patterns=())
    inputs = [elements.ImageInput(elements.ImageKey(key), data=data)
              for key, data in given]
  return lambda size: image_sample.JobImageSample(
      read, decode, size, settings.quantization, fetch, inputs)


def _type_name(hint) -> str:
  """``Tuple[<class 'str'>, <class 'int'>]`` -> ``Tuple[str, int]``."""
  return re.sub(r"<class '(?:builtins\.)?([\w.]+)'>", r"\1", str(hint))


def _pipeline_of(pvalueish) -> beam.Pipeline:
  if isinstance(pvalueish, tuple):
    return pvalueish[0].pipeline
  return pvalueish.pipeline


def _producer(pcollection: beam.PCollection, kind: type):
  """The ``kind`` transform whose expansion made ``pcollection``, or
  None."""
  applied = pcollection.producer
  while applied is not None:
    if isinstance(applied.transform, kind):
      return applied.transform
    applied = applied.parent
  return None

