"""robots.txt per RFC 9309 (issue 36): protego's matching, what each status
means, redirects, one fetch per origin with no origin waiting on another,
and a bounded cache."""
from __future__ import annotations

import threading
import time

import pytest

from transforms.fetch import robots

RULES = b"""User-agent: *
Disallow: /private/
Disallow: /*.gif$
Allow: /private/public/
"""


class Server:
  """Canned answers per URL, as the fetcher's getter gives them."""

  def __init__(self, answers):
    self.answers = answers
    self.asked = []

  def __call__(self, url):
    self.asked.append(url)
    answer = self.answers[url]
    if isinstance(answer, Exception):
      raise answer
    if callable(answer):
      return answer()
    return answer


def _verdicts(cache, origin):
  return [cache.verdict(origin + path, "hub-image-beam/0.1.0")
          for path in ("/a.jpg", "/private/x.jpg", "/private/public/y.jpg",
                       "/z.gif", "/z.gif?v=1")]


def test_rules_match_with_wildcards_and_the_longest_match():
  server = Server({"https://a.example/robots.txt": (200, RULES, None)})
  cache = robots.RobotsCache(server)
  assert _verdicts(cache, "https://a.example") == [
      "allowed", "disallowed", "allowed", "disallowed", "allowed"]
  assert server.asked == ["https://a.example/robots.txt"]   # cached


@pytest.mark.parametrize("answers, expected", [
    ({"http://b.example/robots.txt": (404, b"", None)}, "allowed"),
    ({"http://b.example/robots.txt": (503, b"", None)}, "unreachable"),
    ({"http://b.example/robots.txt": ConnectionResetError()}, "unreachable"),
    ({"http://b.example/robots.txt": (301, b"", "https://b.example/r.txt"),
      "https://b.example/r.txt": (200, RULES, None)}, "disallowed"),
])
def test_each_status_means_what_rfc_9309_says(answers, expected):
  cache = robots.RobotsCache(Server(answers))
  assert cache.verdict("http://b.example/private/x.jpg", "bot") == expected


def test_more_than_five_redirects_is_unavailable():
  answers = {f"http://c.example/r{i}": (302, b"", f"/r{i + 1}")
             for i in range(10)}
  answers["http://c.example/robots.txt"] = (302, b"", "/r0")
  server = Server(answers)
  cache = robots.RobotsCache(server)
  assert cache.verdict("http://c.example/private/x", "bot") == "allowed"
  assert len(server.asked) == robots.MAX_HOPS + 1


def test_unreachable_is_asked_again_after_a_while():
  now = [0.0]
  server = Server({"http://d.example/robots.txt": (500, b"", None)})
  cache = robots.RobotsCache(server, clock=lambda: now[0])
  assert cache.verdict("http://d.example/x", "bot") == "unreachable"
  server.answers["http://d.example/robots.txt"] = (200, RULES, None)
  assert cache.verdict("http://d.example/x", "bot") == "unreachable"
  now[0] += robots.UNREACHABLE_TTL_S + 1
  assert cache.verdict("http://d.example/x", "bot") == "allowed"
  assert len(server.asked) == 2


def test_a_slow_origin_holds_no_other_and_is_fetched_once():
  release = threading.Event()

  def slow():
    release.wait(10)
    return (200, RULES, None)

  server = Server({"http://slow.example/robots.txt": slow,
                   "http://fast.example/robots.txt": (404, b"", None)})
  cache = robots.RobotsCache(server)
  waiting = [threading.Thread(
      target=cache.verdict, args=("http://slow.example/x", "bot"))
             for _ in range(4)]
  for thread in waiting:
    thread.start()
  start = time.monotonic()
  assert cache.verdict("http://fast.example/x", "bot") == "allowed"
  assert time.monotonic() - start < 1.0
  release.set()
  for thread in waiting:
    thread.join(10)
  assert server.asked.count("http://slow.example/robots.txt") == 1


def test_the_cache_is_bounded():
  answers = {f"http://h{i}.example/robots.txt": (404, b"", None)
             for i in range(50)}
  cache = robots.RobotsCache(Server(answers), max_origins=10)
  for i in range(50):
    cache.verdict(f"http://h{i}.example/x", "bot")
  assert len(cache) == 10
