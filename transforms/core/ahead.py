"""Work a batch ahead: a DoFn submits each batch's per-item work to a thread
pool and emits a batch only once later ones are submitted, so the pool
works on the next batches while the steps fused downstream (decode, the
model) run on the DoFn's own thread.

Every output and counter stays on the calling thread. The decode step
reads and decodes ahead (:class:`RunAhead`: output order is input order,
which keeps a batch whole). The fetch step fetches ahead
(:class:`AsCompleted`): each URL leaves as soon as it is fetched, so one
slow or dead host never holds the URLs behind it (head-of-line blocking).
"""
from __future__ import annotations

import collections
from concurrent import futures
from typing import (Callable, Deque, Dict, Generic, Iterator, List, Optional,
                    Sequence, Tuple, TypeVar)

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils import timestamp
from apache_beam.utils import windowed_value

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class RunAhead(Generic[Item, Outcome]):
  """Batches in flight in a pool, oldest first.

  ``submit`` starts a batch; ``ready`` yields the batches that may leave
  (all but the newest ``depth``), each with its outcomes in input order,
  waiting for them as needed; ``drain`` yields the rest (at the bundle's
  end).
  """

  def __init__(self, pool: futures.Executor,
               work: Callable[[Item], Outcome], depth: int = 1):
    self._pool = pool
    self._work = work
    self._depth = max(0, int(depth))
    self._pending: Deque[Tuple[Sequence[Item], List[futures.Future]]] = (
        collections.deque())

  def submit(self, items: Sequence[Item]) -> None:
    self._pending.append((items, [self._pool.submit(self._work, item)
                                  for item in items]))

  def ready(self) -> Iterator[Tuple[Sequence[Item], List[Outcome]]]:
    while len(self._pending) > self._depth:
      yield self._oldest()

  def drain(self) -> Iterator[Tuple[Sequence[Item], List[Outcome]]]:
    while self._pending:
      yield self._oldest()

  def _oldest(self) -> Tuple[Sequence[Item], List[Outcome]]:
    items, pending = self._pending.popleft()
    return items, [future.result() for future in pending]


class AsCompleted(Generic[Item, Outcome]):
  """Items in flight in a pool; each leaves once its work is done, in
  whatever order the work finishes (earlier-submitted first among those
  done at once).

  ``submit`` starts an item; ``ready`` yields the (item, outcome) pairs
  already done, waiting for the first to finish only while more than
  ``depth`` are in flight (so at most ``depth`` + 1 are ever held);
  ``drain`` yields the rest as they finish (at the bundle's end).
  """

  def __init__(self, pool: futures.Executor,
               work: Callable[[Item], Outcome], depth: int = 1):
    self._pool = pool
    self._work = work
    self._depth = max(0, int(depth))
    self._pending: Dict[futures.Future, Item] = {}

  def submit(self, item: Item) -> None:
    self._pending[self._pool.submit(self._work, item)] = item

  def __len__(self) -> int:
    return len(self._pending)

  def ready(self) -> Iterator[Tuple[Item, Outcome]]:
    while True:
      done = [future for future in self._pending if future.done()]
      if not done and len(self._pending) > self._depth:
        finished, _ = futures.wait(list(self._pending),
                                   return_when=futures.FIRST_COMPLETED)
        done = [future for future in self._pending if future in finished]
      if not done:
        return
      for future in done:
        yield self._pending.pop(future), future.result()

  def drain(self) -> Iterator[Tuple[Item, Outcome]]:
    for future in futures.as_completed(list(self._pending)):
      yield self._pending.pop(future), future.result()


# Where an input was: its timestamp and window (``DoFn.TimestampParam``,
# ``DoFn.WindowParam``), for what is emitted for it later.
Where = Tuple[timestamp.Timestamp, window.BoundedWindow]
GLOBAL: Where = (timestamp.MIN_TIMESTAMP, window.GlobalWindow())


def where_of(at, in_window_) -> Where:
  """A DoFn's (TimestampParam, WindowParam) as a ``Where``; the global
  window when it is called outside Beam (the parameters' defaults)."""
  if isinstance(at, timestamp.Timestamp) and isinstance(
      in_window_, window.BoundedWindow):
    return at, in_window_
  return GLOBAL


def in_window(value, where: Where = GLOBAL,
              current: Optional[Where] = None):
  """``value`` in the window of the input it came from: work emitted after
  its input's own ``process`` call (a later call, or ``finish_bundle``)
  would otherwise take the window of whatever input is current (or none).
  In a streaming job's windows each result must stay in its image's.
  ``value`` as it is when ``where`` is the ``current`` input's own (always,
  in a batch job's global window)."""
  if current is not None and where == current:
    return value
  if isinstance(value, beam.pvalue.TaggedOutput):
    return beam.pvalue.TaggedOutput(value.tag, in_window(value.value, where))
  return windowed_value.WindowedValue(value, where[0], (where[1],))
