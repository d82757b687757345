"""Options, top-k, rows, Example encoding and failure isolation: pure
functions, tested without a pipeline."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from tensorflow.core.example import example_pb2

from transforms.core import failures
from transforms.job import options as options_lib
from transforms.model import handler as model_handler
from transforms.write import columns
from transforms.write import examples
from transforms.write import rows as predictions
from transforms.write import top_k as top_k_lib
from pipelines.cli import quiet
from transforms.core.elements import InferenceFailure
from transforms.model import outputs as model_outputs

BASE = ["--model", "m", "--input", "a/*", "--output", "out"]


def _config(argv):
  return options_lib.build_config(PipelineOptions(
      options_lib.expand_config_file(argv)))


def test_labels_are_beams_job_labels_and_class_names_a_file():
  argv = options_lib.expand_config_file(
      BASE + ["--task", "classification", "--labels_file", "l.txt",
              "--labels", "airflow-version=v3-3-2", "--labels",
              "team=vision"])
  options = PipelineOptions(argv)
  assert options_lib.build_config(options).write.labels_file == "l.txt"
  assert options.view_as(GoogleCloudOptions).labels == [
      "airflow-version=v3-3-2", "team=vision"]


@pytest.mark.parametrize("typo, suggestion", [
    (["--top_kk", "3"], "--top_k"),
    (["--bacth_size", "8"], "--batch_size"),
    (["--outptu", "elsewhere"], "--output"),
    (["--labels_flie", "l.txt"], "--labels_file"),
    (["--direct_num_workres=3"], "--direct_num_workers"),
])
def test_misspelled_flags_are_errors_naming_the_closest(typo, suggestion):
  name = typo[0].split("=")[0]
  with pytest.raises(options_lib.ConfigError,
                     match=f"unknown flag {name}: .*did you mean "
                     f"{suggestion}\\?"):
    options_lib.expand_config_file(BASE + typo)


def test_beam_flags_pass_and_stray_values_are_errors():
  argv = BASE + ["--runner", "DataflowRunner", "--project", "p",
                 "--experiments", "a", "--experiments", "b"]
  assert options_lib.expand_config_file(argv) == argv
  with pytest.raises(options_lib.ConfigError, match="unexpected argument"):
    options_lib.expand_config_file(BASE + ["--top_k", "3", "4"])


def test_repeated_single_value_flag_is_an_error_inputs_add_up():
  with pytest.raises(options_lib.ConfigError,
                     match="--top_k was given 2 times"):
    options_lib.expand_config_file(BASE + ["--top_k", "3", "--top_k", "4"])
  job = _config(["--model", "m", "--output", "o", "--input", "a/*", "b/*",
                 "--input", "c/*"])
  assert job.read.patterns == ("a/*", "b/*", "c/*")


def test_yaml_typo_is_named_with_the_file(tmp_path):
  config = tmp_path / "job.yaml"
  config.write_text("model: m\ninput: [x]\noutput: o\nbacth_size: 8\n")
  with pytest.raises(options_lib.ConfigError,
                     match=r"job.yaml: unknown flag --bacth_size"):
    _config(["--config", str(config)])


def test_command_line_input_replaces_the_files_inputs(tmp_path):
  config = tmp_path / "job.yaml"
  config.write_text("model: m\ninput: [x/*, y/*]\noutput: o\n"
                    "labels: [team=vision, env=prod]\n")
  job = _config(["--config", str(config), "--input", "z/*"])
  assert job.read.patterns == ("z/*",)
  options = PipelineOptions(options_lib.expand_config_file(
      ["--config", str(config)]))
  assert options.view_as(GoogleCloudOptions).labels == ["team=vision",
                                                        "env=prod"]


def test_yaml_values_and_command_line_override(tmp_path):
  config = tmp_path / "job.yaml"
  config.write_text("model: m\ninput: [x/*.jpg, y/*.png]\noutput: out\n"
                    "top_k: 3\ntask: classification\nverbose: true\n"
                    "extra_outputs: [a, b]\nimage_size: 160,128\n")
  job = _config(["--config", str(config), "--top_k", "7"])
  assert job.read.patterns == ("x/*.jpg", "y/*.png")
  assert (job.write.top_k.k, job.model.image_size) == (7, (160, 128))
  assert job.model.extra_outputs == ("a", "b")
  # verbose is the command line's: read from the same file before anything
  # is imported.
  assert quiet.wants_verbose(["--config", str(config)])
  assert not quiet.wants_verbose(["--config", str(config), "--verbose=false"])


@pytest.mark.parametrize("argv, verbose", [
    ([], False),
    (["--verbose"], True),
    (["--verbose", "--model", "m"], True),
    (["--verbose=true"], True),
    (["--verbose=false"], False),
    (["--verbose", "false"], False),
    (["--verbose=true", "--verbose=false"], False),  # the last one wins
])
def test_verbose_from_the_command_line(argv, verbose):
  assert quiet.wants_verbose(argv) is verbose


@pytest.mark.parametrize("text, verbose", [
    ("verbose: true\n", True), ("verbose: false\n", False),
    ("verbose: 'yes'\n", True), ("model: m\n", False)])
def test_verbose_from_the_config_file(tmp_path, text, verbose):
  config = tmp_path / "job.yaml"
  config.write_text(text)
  assert quiet.wants_verbose([f"--config={config}"]) is verbose
  # A verbose=false in the file (or none) and --verbose on the command line:
  # the command line wins.
  assert quiet.wants_verbose(["--config", str(config), "--verbose"])


def test_yaml_must_be_a_mapping(tmp_path):
  config = tmp_path / "bad.yaml"
  config.write_text("- just\n- a list\n")
  with pytest.raises(options_lib.ConfigError, match="expected a mapping"):
    _config(["--config", str(config)])


@pytest.mark.parametrize("extra, message", [
    (["--image_size", "0,5"], "--image_size: expected H,W"),
    (["--batch_size", "8", "--max_batch_size", "9"], "not both"),
    (["--min_batch_size", "9", "--max_batch_size", "4"], "1 <= "),
    (["--max_failure_rate", "2"], r"fraction in \[0, 1\], found 2.0"),
    (["--resize", "zoom"], "--resize: expected one of squash, center_crop, "
     "pad, found 'zoom'"),
    (["--labels_file", "l.txt"], "only used with --task classification"),
    (["--passthrough_columns", "sku"], "needs --input_format manifest"),
    (["--extra_outputs", "embedding"], "reserved"),
    (["--jpeg_draft", "0.5"], "--jpeg_draft"),
])
def test_contradictions_are_rejected_when_the_config_is_built(extra,
                                                              message):
  with pytest.raises(options_lib.ConfigError, match=message):
    _config(BASE + extra)


def test_missing_required_flag_names_it():
  with pytest.raises(options_lib.ConfigError, match="--output is required"):
    _config(["--model", "m", "--input", "x"])


@pytest.mark.parametrize("argv, runner, workers, mode", [
    ([], "FnApiRunner", 2, "multi_threading"),
    (["--direct_num_workers", "1"], "FnApiRunner", 1, "multi_threading"),
    (["--runner", "DataflowRunner"], "DataflowRunner", 1, "in_memory"),
])
def test_local_runner_defaults_yield_to_flags(argv, runner, workers, mode):
  options = PipelineOptions(argv)
  options_lib.apply_local_runner_defaults(options)
  assert options.view_as(StandardOptions).runner == runner
  assert options.view_as(DirectOptions).direct_num_workers == workers
  assert options.view_as(DirectOptions).direct_running_mode == mode


@pytest.mark.parametrize("score", top_k_lib.SCORES)
def test_top_k_orders_by_logit_and_scores_match(score):
  logits = np.array([0.5, 3.0, -1.0, 3.0, 2.0], np.float32)
  indices, scores = top_k_lib.top_k(logits, 3, score)
  assert indices.tolist() == [1, 3, 4]  # tie: lower index first
  assert indices.dtype == np.int32 and scores.dtype == np.float32
  expected = {"logits": logits,
              "softmax": np.exp(logits) / np.exp(logits).sum(),
              "sigmoid": 1 / (1 + np.exp(-logits))}[score]
  np.testing.assert_allclose(scores, expected[[1, 3, 4]], rtol=1e-6)


@pytest.mark.parametrize("main, found", [
    (np.array([1.0, np.nan]), "1 non-finite"),
    (np.array([np.inf, -np.inf, 0.0]), "2 non-finite"),
    (np.zeros((2, 2)), r"shape \[2, 2\], expected \[N\]"),
])
def test_the_model_stage_rejects_unusable_outputs(main, found):
  with pytest.raises(failures.ImageFailure, match=found) as raised:
    model_outputs.check_image_outputs({"default": main})
  assert raised.value.reason == failures.REASON_BAD_OUTPUT


def test_an_unusable_output_fails_only_its_own_element():
  def model(images):
    out = images.reshape(len(images), -1).copy()
    out[2] = np.nan
    return {"default": out}

  results = model_handler.infer_isolating_failures(
      model, np.ones((4, 3), np.float32))
  assert [type(r).__name__ for r in results] == [
      "dict", "dict", "InferenceFailure", "dict"]
  assert results[2].reason == failures.REASON_BAD_OUTPUT


CLASSIFY_LAYOUT = columns.RowLayout(
    task="classification", num_outputs=3, top_k=top_k_lib.TopKSettings(k=2),
    labels=("cat", "dog", "owl"), extra_shapes=(("hidden", (2, 2)),),
    passthrough_columns=("sku",))
FEATURE_LAYOUT = columns.RowLayout(task="feature_vector", num_outputs=3)


@pytest.mark.parametrize("layout", [CLASSIFY_LAYOUT, FEATURE_LAYOUT,
                                    columns.RowLayout(task="classification",
                                                      num_outputs=3)])
def test_rows_and_schema_come_from_one_column_list(layout):
  # A column in the row but not the schema would be dropped by Beam's
  # Parquet sink without a word; one declaration makes that impossible.
  schema = columns.results_schema(layout, {"model": "m"})
  row = predictions.build_row(
      "img.jpg", {"default": np.array([0.1, 2.0, 1.0], np.float32),
                  "hidden": np.zeros((2, 2), np.float32)}, layout,
      {"sku": 7})
  assert list(row) == schema.names
  table = pa.Table.from_pylist([row], schema=schema)  # types agree
  assert table.num_rows == 1
  assert schema.metadata[b"hub_image_beam.model"] == b"m"


def test_row_to_example_round_trip():
  layout = CLASSIFY_LAYOUT
  schema = columns.results_schema(layout, {})
  row = predictions.build_row(
      "img.jpg", {"default": np.array([0.1, 2.0, 1.0], np.float32),
                  "hidden": np.arange(4, dtype=np.float32).reshape(2, 2)},
      layout, {"sku": 42})
  assert schema.field("hidden").type == pa.list_(pa.float32(), 4)
  example = example_pb2.Example.FromString(
      examples.row_to_example(row, schema))
  feature = example.features.feature
  assert feature["key"].bytes_list.value == [b"img.jpg"]
  assert list(feature["top_k_indices"].int64_list.value) == [1, 2]
  assert list(feature["top_k_labels"].bytes_list.value) == [b"dog", b"owl"]
  assert list(feature["hidden"].float_list.value) == [0, 1, 2, 3]
  assert feature["sku"].bytes_list.value == [b"42"]
  # The one reader of our Examples gives the row back (lists stay lists,
  # the key a scalar).
  back = examples.example_to_row(example.SerializeToString())
  assert back["key"] == "img.jpg" and back["top_k_labels"] == ["dog", "owl"]
  assert back["top_k_indices"] == [1, 2] and back["sku"] == ["42"]
  assert columns.task_from_columns(back) == "classification"


def test_failure_isolation_bisects_to_the_bad_elements():
  calls = []

  def model(images):
    calls.append(len(images))
    if np.any(images < 0):
      raise ValueError("negative pixel")
    return {"default": images.reshape(len(images), -1) * 2}

  images = np.arange(16, dtype=np.float32).reshape(16, 1)
  images[5] = images[11] = -1
  results = model_handler.infer_isolating_failures(model, images)
  assert len(results) == 16
  bad = [i for i, r in enumerate(results)
         if isinstance(r, InferenceFailure)]
  assert bad == [5, 11]
  assert results[5].reason == failures.REASON_INFERENCE_ERROR
  assert "negative pixel" in results[5].message
  assert results[6]["default"].tolist() == [12.0]
  assert len(calls) < 16  # bisection, not one call per element


def test_help_lists_our_flags(capsys):
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  assert embed.main(["--help"]) == 0
  text = capsys.readouterr().out
  for flag in ("--model", "--input_format", "--max_failure_rate",
               "--labels_file"):
    assert flag in text
  # Grouped by stage, each flag under its own stage.
  at = {name: text.index(f"\n{name}:\n") for name in
        ("model", "read", "decode", "fetch", "write", "job")}
  assert list(at) == sorted(at, key=at.get)
  assert at["model"] < text.index("--precision PRECISION") < at["read"]
  assert at["read"] < text.index("--watch SECONDS") < at["decode"]
  assert at["write"] < text.index("--top_k TOP_K") < at["job"]


@pytest.mark.parametrize("typo", [["--top_kk", "3"], ["--bacth_size", "8"],
                                  ["--outptu", "x"], ["--labels_flie", "l"]])
def test_misspelled_flag_exits_2_before_any_work(typo, tmp_path, capsys):
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  out = tmp_path / "out"
  argv = ["--model", str(tmp_path / "no_model"), "--input",
          str(tmp_path / "*.jpg"), "--output", str(out)] + typo
  assert embed.main(argv) == 2
  err = capsys.readouterr().err
  assert f"unknown flag {typo[0]}" in err
  assert not out.exists()
