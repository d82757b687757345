"""The end-of-job summary, read from Beam's metrics."""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from apache_beam.metrics.metric import MetricsFilter

from transforms.core import counters as metrics


@dataclasses.dataclass(frozen=True)
class JobSummary:
  inputs: int
  results: int
  failures: int
  failures_by_reason: Dict[str, int]
  seconds: float
  skipped_done: int = 0
  duplicate_keys: int = 0
  fetched: int = 0
  fetched_bytes: int = 0
  fetch_failures_by_host: Dict[str, int] = dataclasses.field(
      default_factory=dict)
  skipped_failures: Dict[str, int] = dataclasses.field(default_factory=dict)

  @property
  def images_per_second(self) -> float:
    return (self.results + self.failures) / max(self.seconds, 1e-9)

  @property
  def failure_rate(self) -> float:
    return self.failures / self.inputs if self.inputs else 0.0

  def exceeds(self, max_failure_rate: Optional[float]) -> bool:
    return max_failure_rate is not None and (
        self.failure_rate > max_failure_rate)

  def format(self) -> str:
    lines = [
        f"images read:       {self.inputs}",
        f"results written:   {self.results}",
        f"failures:          {self.failures} "
        f"({100 * self.failure_rate:.1f}%)",
    ]
    for reason, count in sorted(self.failures_by_reason.items()):
      lines.append(f"  {reason:<24} {count}")
    if self.skipped_done:
      lines.append(f"skipped (done):    {self.skipped_done} (a result in "
                   "--skip_existing; not read again)")
    if self.skipped_failures:
      lines.append(f"skipped (hopeless): {sum(self.skipped_failures.values())} "
                   "earlier failures that fetching again cannot heal:")
      for reason, count in sorted(self.skipped_failures.items()):
        lines.append(f"  {reason:<24} {count}")
    if self.duplicate_keys:
      lines.append(f"repeated keys:     {self.duplicate_keys} (a key seen "
                   "earlier in the inputs; first one kept)")
    if self.fetched or self.fetch_failures_by_host:
      lines.append(f"fetched:           {self.fetched} URLs, "
                   f"{self.fetched_bytes / 2**20:.1f} MB "
                   f"({self.fetched / max(self.seconds, 1e-9):.1f} URLs/s)")
      worst = sorted(self.fetch_failures_by_host.items(),
                     key=lambda hc: (-hc[1], hc[0]))[:5]
      for host, count in worst:
        lines.append(f"  failed at {host:<24} {count}")
    lines.append(f"wall time:         {self.seconds:.1f} s "
                 f"({self.images_per_second:.1f} images/s)")
    return "\n".join(lines)


def _committed(result) -> int:
  value = result.committed
  return int(value if value is not None else result.attempted or 0)


def summarize(pipeline_result, seconds: float) -> JobSummary:
  query = pipeline_result.metrics().query(
      MetricsFilter().with_namespace(metrics.NAMESPACE))
  counts: Dict[str, int] = {}
  for counter in query["counters"]:
    name = counter.key.metric.name
    counts[name] = counts.get(name, 0) + _committed(counter)
  by_reason = {
      name[len(metrics.FAILURE_PREFIX):]: value
      for name, value in counts.items()
      if name.startswith(metrics.FAILURE_PREFIX) and value
  }
  return JobSummary(
      inputs=counts.get(metrics.INPUTS, 0),
      results=counts.get(metrics.RESULTS, 0),
      failures=counts.get(metrics.FAILURES, 0),
      failures_by_reason=by_reason, seconds=seconds,
      skipped_done=counts.get(metrics.SKIPPED_DONE, 0),
      duplicate_keys=counts.get(metrics.DUPLICATES, 0),
      fetched=counts.get(metrics.FETCHED, 0),
      fetched_bytes=counts.get(metrics.FETCHED_BYTES, 0),
      skipped_failures={
          name[len(metrics.SKIPPED_FAILURE_PREFIX):]: value
          for name, value in counts.items()
          if name.startswith(metrics.SKIPPED_FAILURE_PREFIX) and value},
      fetch_failures_by_host={
          name[len(metrics.HOST_FAILURE_PREFIX):]: value
          for name, value in counts.items()
          if name.startswith(metrics.HOST_FAILURE_PREFIX) and value})
