"""The model inspector's report: format, signatures, size, contract rules."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

from transforms.core import tasks
from transforms.model import contract as model_contract
from transforms.core import labels as labels_lib
from transforms.model import description
from transforms.model import process_policy
from transforms.model import settings as model_settings

# Probe size for models that accept any size, when --image_size is not given.
DEFAULT_PROBE_SIZE = (224, 224)

_FORMAT_NAMES = {
    description.FORMAT_TF2_CALL: "TF2 SavedModel, obj(images)",
    description.FORMAT_TF1_HUB: "TF1 Hub format, named signatures",
    description.FORMAT_SIGNATURE: "SavedModel signature (no usable "
                                    "__call__)",
}


@dataclasses.dataclass(frozen=True)
class ModelReport:
  info: description.ImageModelInfo
  task: str
  probe_size: Tuple[int, int]
  output_width: Optional[int]
  rules: Tuple[model_contract.RuleResult, ...]

  @property
  def passed(self) -> bool:
    return all(r.passed for r in self.rules)

  def to_dict(self) -> Dict:
    info = self.info
    tensor = lambda t: {"name": t.name, "dtype": t.dtype,
                        "shape": None if t.shape is None else list(t.shape)}
    return {
        "model": info.handle,
        "format": info.format,
        "entry": info.entry,
        "accepts_training": info.accepts_training,
        "signatures": {
            s.name: {"inputs": [tensor(t) for t in s.inputs.values()],
                     "outputs": [tensor(t) for t in s.outputs.values()]}
            for s in info.signatures},
        "input": tensor(info.input),
        "output": tensor(info.output),
        "expected_image_size": (list(info.expected_image_size)
                                if info.expected_image_size else None),
        "output_width": self.output_width,
        "probe_size": list(self.probe_size),
        "task": self.task,
        "rules": [{"rule": r.rule, "passed": r.passed, "detail": r.detail}
                  for r in self.rules],
        "passed": self.passed,
    }

  def format(self) -> str:
    info = self.info
    lines = [f"model:   {info.handle}",
             f"format:  {_FORMAT_NAMES[info.format]}"]
    if info.format == description.FORMAT_TF2_CALL:
      lines.append(f"         training argument: "
                   f"{'yes (called with training=False)' if info.accepts_training else 'no'}")
    lines.append("signatures:" if info.signatures else "signatures: none")
    for sig in info.signatures:
      lines.append(f"  {sig.name}")
      for label, tensors in (("in ", sig.inputs), ("out", sig.outputs)):
        for t in tensors.values():
          lines.append(f"    {label} {t.name}: {t}")
    lines.append(f"entry point ({self.task}): {info.entry}")
    lines.append(f"  input:  {info.input.name}: {info.input}")
    lines.append(f"  output: {info.output.name}: {info.output}")
    size = info.expected_image_size
    lines.append("expected image size: " + (
        f"{size[0]}x{size[1]}" if size else
        f"any (give --image_size; probed at {self.probe_size[0]}x"
        f"{self.probe_size[1]})"))
    kind = ("num_classes" if self.task == tasks.TASK_CLASSIFICATION
            else "num_features")
    lines.append(f"output width ({kind}): {self.output_width}")
    lines.append("contract:")
    lines += [f"  {r}" for r in self.rules]
    passed = sum(r.passed for r in self.rules)
    lines.append(f"result: {'PASS' if self.passed else 'FAIL'} "
                 f"({passed}/{len(self.rules)} rules pass)")
    return "\n".join(lines)


def inspect_model(settings: model_settings.ModelSettings,
                  labels_file: Optional[str] = None) -> ModelReport:
  """Loads a model as a job would and checks every rule of the contract.

  Args:
    settings: the model stage's settings, from the same flags as a job's.
    labels_file: class names to count against the output width.

  Raises:
    description.ModelError: the model cannot be loaded or has no entry
      point for the task (nothing to check).
  """
  model = process_policy.load_tensorflow(settings, settings.image_size,
                                         settings.precision)
  info = model.info
  size = settings.image_size or info.expected_image_size or DEFAULT_PROBE_SIZE
  input_rule, static_output = model_contract.static_rules(info)
  probe, outputs = model_contract.probe_output(model, size)
  width = None
  if outputs is not None and outputs[tasks.DEFAULT_OUTPUT].ndim == 2:
    width = int(outputs[tasks.DEFAULT_OUTPUT].shape[1])
  output_rule = model_contract.RuleResult(
      model_contract.RULE_OUTPUT, static_output.passed and probe.passed,
      f"{static_output.detail}; {probe.detail}")
  rules: List[model_contract.RuleResult] = [
      input_rule, output_rule,
      model_contract.check_any_batch(model, size),
      model_contract.check_deterministic(model, size)]
  if labels_file:
    rules.append(model_contract.check_labels(
        len(labels_lib.read_labels(labels_file)), width))
  return ModelReport(info=info, task=settings.task, probe_size=size,
                     output_width=width, rules=tuple(rules))
