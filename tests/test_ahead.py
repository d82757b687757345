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


def test_as_completed_lets_fast_items_pass_a_slow_one():
  release = threading.Event()

  def work(i):
    if i == 0:
      assert release.wait(10)   # the slow head of the line
    return i * 10

  with futures.ThreadPoolExecutor(4) as pool:
    run = ahead.AsCompleted(pool, work, depth=3)
    got = []
    for i in range(8):
      run.submit(i)
      got += list(run.ready())
    # 0 is still in flight; 1..7 left while it was, never more than
    # depth + 1 held.
    assert [i for i, _ in got] == list(range(1, 8 - len(run) + 1))
    assert 0 not in [i for i, _ in got] and len(run) <= 4
    release.set()
    got += list(run.drain())
  assert sorted(got) == [(i, i * 10) for i in range(8)]
