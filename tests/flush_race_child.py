"""Child of tests/test_local_runner.py: one bundle emits for about 2 s,
each element pausing mid-encoding, then a GroupByKey reads them back.

Run under the job's local runner defaults, it prints each group it read, one per line.
"""
from __future__ import annotations

import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.job import options as options_lib

ELEMENTS = 40


class SlowToPickle:
  """An element value whose encoding pauses for 50 ms after its key is
  already in the output stream (FastPrimitivesCoder pickles it)."""

  def __init__(self, n: int):
    self.n = n

  def __reduce__(self):
    time.sleep(0.05)
    return (SlowToPickle, (self.n,))


def main(argv) -> None:
  options = PipelineOptions(argv)
  options_lib.apply_local_runner_defaults(options)
  with beam.Pipeline(options=options) as p:
    _ = (p
         | beam.Create([None])
         | beam.FlatMap(lambda _: ((f"key{i}", SlowToPickle(i))
                                   for i in range(ELEMENTS)))
         | beam.GroupByKey()
         | beam.MapTuple(lambda key, values: (key, [v.n for v in values]))
         | beam.Map(lambda group: print(repr(group), flush=True)))


if __name__ == "__main__":
  main(sys.argv[1:])
