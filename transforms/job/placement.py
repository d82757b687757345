"""Where the inference step runs: on the job's workers, or (Dataflow right
fitting) on accelerator workers of its own.

``--inference_accelerator "type:nvidia-l4;count:1;install-nvidia-driver"``
puts Beam's accelerator resource hint on the ``RunInference`` step only, and
a shuffle (``Reshuffle``) between decode and inference, so the two stages
fuse apart: Dataflow runs decode on as many cheap CPU workers as it needs
and inference on GPU workers, scaling the two pools separately. What crosses
the shuffle is each image's uint8 pixels at the model's size (150,528 bytes
of pixels for 224 x 224), never float32 and never the encoded bytes.

Right fitting cannot be combined with the ``worker_accelerator`` service
option (that puts a GPU on every worker), and the local runners ignore
resource hints, so the same job still runs end to end here.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, Optional, Sequence

from transforms.core import flags

# Dataflow's accelerator syntax: type and count first, then options.
_OPTION = re.compile(
    r"^(install-nvidia-driver(:[\w.=-]+)?|use_nvidia_mps|"
    r"machine_type:[a-z0-9-]+)$")
EXPECTED = ("'type:TYPE;count:N[;install-nvidia-driver][;machine_type:TYPE]"
            "[;use_nvidia_mps]', N >= 1")


@dataclasses.dataclass(frozen=True)
class Placement:
  """Attributes:
    accelerator: the accelerator hint of the inference step, or None (the
      inference step runs where the rest does).
    min_ram_gb: the inference workers' minimum memory, or None.
  """
  accelerator: Optional[str] = None
  min_ram_gb: Optional[int] = None

  @property
  def separate(self) -> bool:
    """Inference runs on workers of its own (decode and inference fuse
    apart)."""
    return self.accelerator is not None

  def resource_hints(self) -> Dict[str, str]:
    """Keyword arguments for ``PTransform.with_resource_hints``."""
    hints = {}
    if self.accelerator:
      hints["accelerator"] = self.accelerator
    if self.min_ram_gb:
      hints["min_ram"] = f"{self.min_ram_gb}GB"
    return hints


def parse_accelerator(value: str) -> str:
  """Checks a Dataflow accelerator string; returns it stripped.

  Raises:
    flags.ConfigError: naming what was expected and what was found.
  """
  text = value.strip()
  parts = [p.strip() for p in text.split(";")]
  problem = None
  if len(parts) < 2 or not parts[0].startswith("type:") or not (
      parts[1].startswith("count:")):
    problem = "type and count first"
  elif not re.fullmatch(r"type:[a-z0-9-]+", parts[0]):
    problem = f"a GPU type such as nvidia-l4 in {parts[0]!r}"
  elif not re.fullmatch(r"count:[0-9]+", parts[1]):
    problem = f"a whole count in {parts[1]!r}"
  elif int(parts[1].split(":", 1)[1]) < 1:
    problem = "at least one accelerator (count:0 would schedule no GPU)"
  else:
    unknown = [p for p in parts[2:] if not _OPTION.match(p)]
    if unknown:
      problem = f"known options only, not {unknown[0]!r}"
  if problem:
    raise flags.ConfigError(
        f"--inference_accelerator: expected {EXPECTED} ({problem}), found "
        f"{value!r}")
  return ";".join(parts)


def from_flags(accelerator: Optional[str], min_ram_gb: Optional[int],
               service_options: Sequence[str] = ()) -> Placement:
  """Builds the placement and rejects contradictions.

  Raises:
    flags.ConfigError: a malformed hint, a non-positive min_ram, min_ram
      without an accelerator, or an accelerator hint together with the
      ``worker_accelerator`` service option.
  """
  if min_ram_gb is not None and min_ram_gb < 1:
    raise flags.ConfigError(f"--inference_min_ram_gb: expected a positive "
                            f"number of GB, found {min_ram_gb}")
  if not accelerator:
    if min_ram_gb is not None:
      raise flags.ConfigError(
          "--inference_min_ram_gb sizes the inference step's own workers: "
          "expected --inference_accelerator too (found none)")
    return Placement()
  hint = parse_accelerator(accelerator)
  for option in service_options or ():
    if option.partition("=")[0].strip() == "worker_accelerator":
      raise flags.ConfigError(
          f"--inference_accelerator {hint!r} puts GPUs on the inference "
          "step's workers only (Dataflow right fitting), and "
          f"--dataflow_service_options {option!r} puts one on every worker; "
          "Dataflow refuses the two together: expected one of them")
  return Placement(accelerator=hint, min_ram_gb=min_ram_gb)
