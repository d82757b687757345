"""pipelines.inspect_model: PASS on good models, FAIL on each broken rule."""
from __future__ import annotations

import json
import os

import pytest

from pipelines import inspect_model
from tests import conftest
from tests import model_builders
from transforms.model import contract as model_contract


def _inspect(capsys, *argv):
  status = inspect_model.main(list(argv) + ["--json"])
  report = json.loads(capsys.readouterr().out)
  return status, report


def _failed_rules(report):
  return [r["rule"] for r in report["rules"] if not r["passed"]]


@conftest.needs_shared
@pytest.mark.parametrize("model, task, labels", [
    (conftest.MOBILENET_CLS, "classification", conftest.IMAGENET_LABELS),
    (conftest.MOBILENET_FV, "feature_vector", None),
    (conftest.MOBILENET_V1_SMALL, "classification", conftest.IMAGENET_LABELS),
])
def test_shared_models_pass(capsys, model, task, labels):
  argv = [model, "--task", task] + (["--labels_file", labels] if labels else [])
  status, report = _inspect(capsys, *argv)
  assert status == 0, _failed_rules(report)
  assert report["passed"] and report["format"] == "tf2_call"
  assert report["output_width"] == (1280 if task == "feature_vector"
                                    else 1001)
  size = 128 if "v1_025_128" in model else 224
  assert report["expected_image_size"] == [size, size]


def test_test_models_pass(capsys, models_dir, training_model, dynamic_model):
  tf1 = model_builders.save_tf1_hub_module(
      os.path.join(models_dir, "tf1_inspect"))
  labels = model_builders.write_labels(
      os.path.join(models_dir, "labels4.txt"), model_builders.NUM_CLASSES)
  status, report = _inspect(capsys, tf1, "--task", "classification",
                            "--labels_file", labels)
  assert status == 0, _failed_rules(report)
  assert report["format"] == "tf1_hub_signature"
  assert report["entry"] == "image_classification"
  assert set(report["signatures"]) == {"default", "image_classification",
                                       "image_feature_vector"}
  status, report = _inspect(capsys, training_model)
  assert status == 0 and report["accepts_training"]
  status, report = _inspect(capsys, dynamic_model, "--image_size", "40,30")
  assert status == 0 and report["expected_image_size"] is None


@pytest.mark.parametrize("kind, rules", [
    ("uint8_input", [model_contract.RULE_INPUT]),
    ("rank3_output", [model_contract.RULE_OUTPUT]),
    # Its output is [1, N] too: the batch is fixed on both sides.
    ("fixed_batch", [model_contract.RULE_INPUT, model_contract.RULE_OUTPUT,
                     model_contract.RULE_ANY_BATCH]),
    # Random outputs also make a batch of 3 disagree with three batches of 1.
    ("dropout", [model_contract.RULE_ANY_BATCH,
                 model_contract.RULE_DETERMINISTIC]),
])
def test_broken_models_fail_exactly_their_rule(capsys, models_dir, kind,
                                               rules):
  path = model_builders.save_broken(os.path.join(models_dir, f"bad_{kind}"),
                                    kind)
  status, report = _inspect(capsys, path)
  assert status == 1
  assert not report["passed"]
  assert _failed_rules(report) == rules


def test_label_count_mismatch_fails(capsys, simple_model, tmp_path):
  labels = model_builders.write_labels(str(tmp_path / "l.txt"), 5)
  status, report = _inspect(capsys, simple_model, "--task", "classification",
                            "--labels_file", labels)
  assert status == 1
  assert _failed_rules(report) == [model_contract.RULE_LABELS]
  assert "5 labels, model output N = 6" in report["rules"][-1]["detail"]


def test_text_report_and_unloadable_model(capsys, simple_model, tmp_path):
  assert inspect_model.main([simple_model]) == 0
  text = capsys.readouterr().out
  assert "expected image size: 32x32" in text
  assert "result: PASS (4/4 rules pass)" in text
  assert inspect_model.main([str(tmp_path)]) == 2
  assert "expected a SavedModel" in capsys.readouterr().out


def test_old_labels_spelling_names_the_flag_to_use(capsys):
  # --labels means Beam's job labels in pipelines.embed; the inspector takes
  # the same class-names flag as the job.
  status = inspect_model.main([conftest.MOBILENET_CLS, "--labels",
                               conftest.IMAGENET_LABELS])
  assert status == 2
  out = capsys.readouterr().out
  assert "--labels is not a flag of inspect_model: expected --labels_file " \
         "FILE" in out


def test_the_job_s_model_flags_apply(capsys, dynamic_model):
  # The same flags as pipelines.embed, from the model stage's settings.
  status, report = _inspect(capsys, "--model", dynamic_model,
                            "--image_size", "40,30")
  assert status == 0 and report["probe_size"] == [40, 30]
  status, report = _inspect(capsys, "--model", dynamic_model, "--task",
                            "segmentation")
  assert status == 2 and "--task: expected one of" in report["error"]
  status, report = _inspect(capsys, "--model", dynamic_model,
                            "--engine", "onnx")
  assert status == 2 and "--engine: expected one of" in report["error"]
