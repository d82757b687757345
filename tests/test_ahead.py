"""core.ahead: batches leave in order, and the pool works on the next ones
while the caller handles the oldest."""
from __future__ import annotations

import threading
from concurrent import futures

from transforms.core import ahead


def test_later_batches_run_while_the_oldest_is_handled():
  started = {i: threading.Event() for i in range(6)}

  def work(i):
    started[i].set()
    return i * 10

  with futures.ThreadPoolExecutor(2) as pool:
    run = ahead.RunAhead(pool, work, depth=1)
    run.submit([0, 1])
    assert list(run.ready()) == []          # the newest stays in flight
    run.submit([2, 3])
    (items, outcomes), = list(run.ready())
    assert (list(items), outcomes) == ([0, 1], [0, 10])
    # While the caller holds batch [0, 1], batch [2, 3] is being worked on.
    assert started[2].wait(5) and started[3].wait(5)
    run.submit([4, 5])
    left = list(run.ready()) + list(run.drain())
  assert [(list(i), o) for i, o in left] == [([2, 3], [20, 30]),
                                             ([4, 5], [40, 50])]


def test_depth_zero_emits_each_batch_at_once_and_errors_surface():
  def work(i):
    if i == 3:
      raise ValueError("bad item 3")
    return i

  with futures.ThreadPoolExecutor(2) as pool:
    run = ahead.RunAhead(pool, work, depth=0)
    run.submit([1, 2])
    assert [o for _, o in run.ready()] == [[1, 2]]
    run.submit([3])
    try:
      list(run.ready())
    except ValueError as e:
      assert "bad item 3" in str(e)
    else:
      raise AssertionError("the work's error was swallowed")
