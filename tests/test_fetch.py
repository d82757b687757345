"""Images behind http(s) URLs (issue 28), against a real HTTP server on
127.0.0.1: every outcome recorded once, limits enforced, retries that
honour Retry-After, opt-outs, robots.txt, and addresses refused."""
from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import embed
from tests import conftest
from tests import http_server
from tests import image_corpus
from transforms.core import failures
from transforms.fetch import addresses
from transforms.fetch import client
from transforms.fetch import opt_out
from transforms.fetch import retries
from transforms.fetch import settings as fetch_settings


def _jpeg(color):
  return image_corpus.encode(image_corpus.solid("RGB", color), "JPEG")


IMAGES = {"a.jpg": _jpeg((200, 10, 10)), "b.jpg": _jpeg((10, 200, 10)),
          "c.jpg": _jpeg((10, 10, 200))}
IMAGES.update({f"s{i}.jpg": _jpeg((20 * i, 90, 90)) for i in range(12)})


@pytest.fixture()
def server():
  with http_server.serving(IMAGES) as (url, record):
    yield url, record


@pytest.mark.parametrize("address,blocked", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.9", True),
    ("172.16.5.5", True), ("169.254.169.254", True), ("169.254.1.1", True),
    ("100.64.0.1", True), ("224.0.0.1", True), ("0.0.0.0", True),
    ("::1", True), ("fe80::1", True), ("fd00:ec2::254", True),
    ("::ffff:127.0.0.1", True), ("8.8.8.8", False), ("2606:4700::1", False),
])
def test_address_policy(address, blocked):
  assert (addresses.special_use(address) is not None) == blocked


def test_retry_policy():
  rng = random.Random(0)
  assert retries.retryable_status(429) and retries.retryable_status(503)
  assert not retries.retryable_status(404)
  assert all(0 <= retries.backoff(a, rng, 60) <= 0.5 * 2 ** (a - 1)
             for a in range(1, 6))
  assert retries.retry_after("7", 0, 60) == 7
  assert retries.retry_after("600", 0, 60) == 60   # capped
  assert retries.retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470,
                             60) == 10
  assert retries.retry_after("soon", 0, 60) is None


@pytest.mark.parametrize("values,expected", [
    (["noai"], "noai"), (["noindex, noimageai"], "noimageai"),
    (["otherbot: noai"], None), (["hub-image-beam: noai"], "noai"),
    (["noindex"], None), ([], None)])
def test_opt_out_directives(values, expected):
  assert opt_out.opted_out(values, opt_out.DEFAULT_DIRECTIVES,
                           "hub-image-beam/0.1.0") == expected


def _settings(**kw):
  base = dict(allow_private_addresses=True, retries=2,
              retry_after_cap=2.0)
  base.update(kw)
  return fetch_settings.FetchSettings(**base)


def _reason(fetcher, url):
  with pytest.raises(failures.ImageFailure) as raised:
    fetcher.fetch(url)
  return raised.value.reason, raised.value.message


def test_the_fetcher_one_outcome_at_a_time(server, tmp_path):
  url, record = server
  fetcher = client.Fetcher(_settings(max_bytes=1000, total_timeout=1.0),
                           str(tmp_path))
  assert fetcher.fetch(f"{url}/img/a.jpg").data == IMAGES["a.jpg"]
  assert fetcher.fetch(f"{url}/hops/4").data == IMAGES["a.jpg"]  # 5 hops
  assert _reason(fetcher, f"{url}/hops/5")[0] == "redirect"  # 6
  assert "loop" in _reason(fetcher, f"{url}/loop")[1]
  assert _reason(fetcher, f"{url}/big")[0] == "response_too_large"
  assert _reason(fetcher, f"{url}/big-unsized")[0] == "response_too_large"
  reason, message = _reason(fetcher, f"{url}/trickle")
  assert reason == "timeout" and "deadline" in message
  assert _reason(fetcher, f"{url}/noai")[0] == "opted_out"
  assert _reason(fetcher, f"{url}/nothing")[0] == "http"
  # Each redirect hop is checked: metadata stays refused even with
  # --allow_private_addresses.
  assert _reason(fetcher, f"{url}/to-metadata")[0] == "blocked_address"
  assert _reason(fetcher, "ftp://example.com/a.jpg")[0] == "unsupported_url"
  # Retries heal 503 and 429, waiting as Retry-After says.
  assert fetcher.fetch(f"{url}/flaky/1").data == IMAGES["b.jpg"]
  assert fetcher.fetch(f"{url}/busy/1").data == IMAGES["c.jpg"]
  assert record.hits["/flaky/1"] == 2 and record.hits["/busy/1"] == 2
  # A connection reset and a burst of 503s heal with retries too.
  assert fetcher.fetch(f"{url}/reset/1").data == IMAGES["a.jpg"]
  assert fetcher.fetch(f"{url}/burst/1").data == IMAGES["b.jpg"]
  assert record.hits["/reset/1"] == 2 and record.hits["/burst/1"] == 3
  reason, message = _reason(fetcher, f"{url}/always500")
  assert reason == "http" and "after 3 attempts" in message
  assert record.hits["/always500"] == 3
  assert not any(b"Sorry" in m.encode() for m in [message])
  # The address connected to is what is checked: 'localhost' resolves to
  # loopback, refused without the flag.
  strict = client.Fetcher(_settings(allow_private_addresses=False),
                          str(tmp_path))
  port = url.rsplit(":", 1)[1]
  before = record.hits.get("/img/a.jpg")
  reason, message = _reason(strict, f"http://localhost:{port}/img/a.jpg")
  assert reason == "blocked_address" and "loopback" in message
  assert record.hits.get("/img/a.jpg") == before  # nothing was sent


def _main(argv, capsys):
  status = embed.main(list(argv))
  captured = capsys.readouterr()
  return status, captured.out, captured.err


def test_urls_through_the_job_each_exactly_once(server, simple_model,
                                                tmp_path, capsys):
  url, record = server
  listing = tmp_path / "urls.txt"
  urls = [f"{url}/img/a.jpg", f"{url}/img/b.jpg", f"{url}/html",
          f"{url}/noai", f"{url}/private/c.jpg", f"{url}/loop",
          f"{url}/nothing", f"{url}/img/a.jpg"]
  listing.write_text("# a URL list\n" + "\n".join(urls) + "\n\n")
  out = str(tmp_path / "out")
  status, printed, err = _main([
      "--model", simple_model, "--input_format", "urls", "--input",
      str(listing), "--output", out, "--allow_private_addresses",
      "--respect_robots_txt", "--user_agent", "ops@example.com"], capsys)
  assert status == 0, err
  # The summary: what was fetched, and the hosts with the most failures.
  assert "fetched:           3 URLs" in printed
  assert "failed at 127.0.0.1" in printed and " 4\n" in printed
  rows = conftest.read_parquet_rows(out)
  failed = conftest.read_failures(out)
  assert sorted(r["key"] for r in rows) == sorted(urls[:2])
  got = sorted((f["key"].replace(url, ""), f["stage"], f["reason"])
               for f in failed)
  assert got == [("/html", "decode", "not_an_image"),
                 ("/img/a.jpg", "read", "duplicate_key"),
                 ("/loop", "fetch", "redirect"),
                 ("/noai", "fetch", "opted_out"),
                 ("/nothing", "fetch", "http"),
                 ("/private/c.jpg", "fetch", "robots")]
  html = next(f for f in failed if f["key"].endswith("/html"))
  assert "text/html" in html["message"] and "Sorry" not in html["message"]
  assert all(ua.startswith("hub-image-beam/0.1.0") and
             "ops@example.com" in ua for ua in record.user_agents)
  assert record.hits["/robots.txt"] == 1   # once per host, cached
  # The report: bytes, rate, and the failing host with its reasons.
  from transforms.report import build  # pylint: disable=g-import-not-at-top
  page = build.build_report(out, thumbnail=lambda path: None)
  fetching = page[page.index("<h2>Fetching</h2>"):]
  assert ">3 URLs, " in fetching and " URLs/s<" in fetching
  hosts = fetching[fetching.index('id="fetch-hosts"'):]
  assert "<td>127.0.0.1</td><td>4</td>" in hosts
  for reason in ("http 1", "opted_out 1", "redirect 1", "robots 1"):
    assert reason in hosts

  # A re-run that also takes the earlier failures skips those that cannot
  # heal (404, opted out, robots, a redirect loop), and tries the rest.
  again = str(tmp_path / "again")
  status, printed, err = _main([
      "--model", simple_model, "--input_format", "urls", "--input",
      str(listing), "--output", again, "--allow_private_addresses",
      "--respect_robots_txt", "--skip_existing",
      f"{out}/results-*,{out}/failures/failures-*"], capsys)
  assert status == 0, err
  # (the repeated a.jpg has a result: both its lines are done.)
  assert [f["reason"] for f in conftest.read_failures(again)] == [
      "not_an_image"]
  assert "skipped (hopeless): 4" in printed
  for reason in ("http", "opted_out", "redirect", "robots"):
    assert f"  {reason:<24} 1" in printed

  # Without the opt-in, every URL to this machine is refused.
  status, _, err = _main([
      "--model", simple_model, "--input_format", "urls", "--input",
      str(listing), "--output", str(tmp_path / "strict")], capsys)
  assert status == 0, err
  reasons = {f["reason"] for f in conftest.read_failures(
      str(tmp_path / "strict"))}
  assert reasons == {"blocked_address", "duplicate_key"}


def test_per_host_limit_holds(server, simple_model, tmp_path, capsys):
  url, record = server
  record.latency = 0.05
  listing = tmp_path / "urls.txt"
  listing.write_text("\n".join(f"{url}/slow/s{i}.jpg" for i in range(12)))
  status, _, err = _main([
      "--model", simple_model, "--input_format", "urls", "--input",
      str(listing), "--output", str(tmp_path / "out"),
      "--allow_private_addresses", "--per_host_concurrency", "2"], capsys)
  assert status == 0, err
  assert len(conftest.read_parquet_rows(str(tmp_path / "out"))) == 12
  assert record.max_in_flight == 2


def test_laion_style_parquet_with_captions(server, simple_model, tmp_path,
                                           capsys):
  url, _ = server
  # URLs and local files mixed: both pass the one fetch step, in place.
  photo = conftest.photo_paths()[0]
  path = tmp_path / "laion.parquet"
  pq.write_table(pa.table({
      "url": [f"{url}/img/a.jpg", "/no/such/file.jpg", f"{url}/img/b.jpg",
              photo],
      "caption": ["a red square", "a local file", "a green square",
                  "a local photo"]}), path)
  out = str(tmp_path / "out")
  status, _, err = _main([
      "--model", simple_model, "--input_format", "manifest", "--input",
      str(path), "--uri_column", "url", "--passthrough_columns", "caption",
      "--output", out, "--allow_private_addresses"], capsys)
  assert status == 0, err
  rows = {r["key"]: r["caption"] for r in conftest.read_parquet_rows(out)}
  assert rows == {f"{url}/img/a.jpg": "a red square",
                  f"{url}/img/b.jpg": "a green square",
                  photo: "a local photo"}
  assert [(f["reason"]) for f in conftest.read_failures(out)] == ["not_found"]


def test_credentials_in_urls_are_refused_at_launch(simple_model, tmp_path,
                                                   capsys):
  listing = tmp_path / "urls.txt"
  listing.write_text("https://example.com/a.jpg\n"
                     "https://user:hunter2@example.com/b.jpg\n")
  status, _, err = _main(["--model", simple_model, "--input_format", "urls",
                          "--input", str(listing), "--output",
                          str(tmp_path / "out")], capsys)
  assert status == 2
  assert "row 2" in err and "credentials" in err and "hunter2" not in err
  assert not (tmp_path / "out").exists()


def test_hostile_url_list_each_line_fails_alone_and_nothing_else_is_read(
    server, simple_model, tmp_path, capsys):
  url, record = server
  photo = conftest.photo_paths()[0]    # a real photo on this machine
  secret = tmp_path / "secret.txt"
  secret.write_text("TOPSECRET-credentials for the bucket\n")
  lines = [
      f"{url}/img/a.jpg",                        # 1: fetched
      "http://[abc]/x.jpg",                      # 2: malformed IPv6 host
      "http://[::1/x.jpg",                       # 3: unclosed bracket
      photo,                                     # 4: a local path
      str(secret),                               # 5: a local secret
      "gs://another-teams-bucket/x.jpg",         # 6: confused deputy
      f"file://{photo}",                         # 7
      "ftp://example.com/x.jpg",                 # 8
      "javascript:alert(1)",                     # 9
      "data:image/png;base64,iVBORw0KGgo=",      # 10
      "http://example.com:99999/x.jpg",          # 11: port out of range
      "not a url at all",                        # 12: no scheme: a path
      f"{url}/html",                             # 13: HTML served as 200
  ]
  listing = tmp_path / "urls.txt"
  listing.write_bytes(("\n".join(lines) + "\n").encode()
                      + b"http://example.com/\xff\xfe.jpg\n")  # 14: not UTF-8
  out = str(tmp_path / "out")
  status, _, err = _main([
      "--model", simple_model, "--input_format", "urls", "--input",
      str(listing), "--output", out, "--allow_private_addresses"], capsys)
  assert status == 0, err
  rows = conftest.read_parquet_rows(out)
  failed = conftest.read_failures(out)
  assert [r["key"] for r in rows] == [lines[0]]
  by_key = {f["key"]: f for f in failed}
  assert len(by_key) == len(failed) == 13          # each line exactly once
  expected = {2: "bad_url", 3: "bad_url", 4: "unsupported_url",
              5: "unsupported_url", 6: "unsupported_url",
              7: "unsupported_url", 8: "unsupported_url",
              9: "unsupported_url", 10: "unsupported_url", 11: "bad_url",
              12: "unsupported_url", 14: "bad_url"}
  for line, reason in expected.items():
    failure = by_key[f"{listing}:{line}"]
    assert (failure["stage"], failure["reason"]) == ("read", reason), line
    assert f"line {line} of {listing}" in failure["message"]
  assert "workers' own credentials" in by_key[f"{listing}:6"]["message"]
  html = by_key[f"{url}/html"]
  assert html["reason"] == "not_an_image" and "HTML" in html["message"]
  # Nothing but the two http URLs reached the server, and no message
  # copies a byte of a line, a file or a body.
  assert set(record.hits) == {"/img/a.jpg", "/html"}
  everything = err + "".join(f["message"] for f in failed)
  for leaked in ("TOPSECRET", "<html", "Sorry", "alert", "another-teams",
                 "iVBOR", "99999", "[abc]"):
    assert leaked not in everything, leaked
  # The canary's bytes appear in no output file at all (results, failures,
  # run.json, the report).
  import os  # pylint: disable=g-import-not-at-top
  for folder, _, names in os.walk(out):
    for name in names:
      with open(os.path.join(folder, name), "rb") as f:
        assert b"TOPSECRET" not in f.read(), name


def test_a_url_list_cut_short_keeps_its_first_lines(server, simple_model,
                                                    tmp_path, capsys):
  url, _ = server
  import gzip  # pylint: disable=g-import-not-at-top
  text = "".join(f"{url}/img/s{i}.jpg\n" for i in range(12)).encode()
  whole = gzip.compress(text * 200)   # 2,400 lines, repeats are duplicates
  cut = tmp_path / "urls.txt.gz"
  cut.write_bytes(whole[:len(whole) // 2])
  good = tmp_path / "more.txt"
  good.write_text(f"{url}/img/a.jpg\n")
  out = str(tmp_path / "out")
  status, _, err = _main([
      "--model", simple_model, "--input_format", "urls", "--input",
      f"{tmp_path}/*.txt*", "--output", out, "--allow_private_addresses"],
      capsys)
  assert status == 0, err
  keys = {r["key"] for r in conftest.read_parquet_rows(out)}
  assert keys == {f"{url}/img/a.jpg"} | {f"{url}/img/s{i}.jpg"
                                         for i in range(12)}
  cut_failures = [f for f in conftest.read_failures(out)
                  if f["reason"] != "duplicate_key"]
  assert [(f["key"], f["reason"]) for f in cut_failures] == [
      (str(cut), "read_error")]
  assert "could not be read after line" in cut_failures[0]["message"]


def test_a_hanging_url_at_the_head_holds_no_url_behind_it(server):
  # Outcomes leave the fetch step as they complete: the fast URLs behind a
  # URL whose server never answers leave while it is still in flight.
  import socket  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from transforms.core import elements  # pylint: disable=g-import-not-at-top
  from transforms.fetch import dofn as fetch_dofn  # pylint: disable=g-import-not-at-top
  url, _ = server
  silent = socket.socket()   # accepts connections, never answers
  silent.bind(("127.0.0.1", 0))
  silent.listen(16)
  dead = f"http://127.0.0.1:{silent.getsockname()[1]}/x.jpg"
  try:
    step = fetch_dofn.FetchDoFn(_settings(
        concurrency=4, retries=0, connect_timeout=1.0, read_timeout=3.0,
        total_timeout=3.0))
    step.setup()
    items = [elements.ImageInput(elements.ImageKey(u), uri=u)
             for u in [dead] + [f"{url}/img/s{i}.jpg" for i in range(12)]]
    start = time.monotonic()
    left = []
    for item in items:
      for output in step.process(item):
        left.append((output, time.monotonic() - start))
    fast = [t for output, t in left
            if isinstance(output, elements.ImageInput)]
    assert len(fast) >= 8            # left while the dead URL hung
    assert max(fast) < 2.5
    left += [(o, time.monotonic() - start) for o in step.finish_bundle()]
    assert len(left) == 13
    step.teardown()
  finally:
    silent.close()


def test_errors_that_cannot_heal_are_not_retried(server):
  import time  # pylint: disable=g-import-not-at-top
  fetcher = client.Fetcher(_settings(retries=3, retry_after_cap=5.0))
  start = time.monotonic()
  reason, message = _reason(fetcher, "http://nonexistent-host.invalid/x.jpg")
  assert reason == "connection" and "does not resolve" in message
  assert "not retried" in message
  assert time.monotonic() - start < 1.0    # no backoff between attempts


def test_a_host_with_a_dead_address_is_reached_at_the_next(server,
                                                            monkeypatch):
  # The name resolves to an address where nothing listens, then to the
  # server's: the fetch connects to the second.
  import socket  # pylint: disable=g-import-not-at-top
  url, record = server
  port = int(url.rsplit(":", 1)[1])
  real = socket.getaddrinfo

  def two_addresses(host, *args, **kwargs):
    if host == "two.example":
      return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
              (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    return real(host, *args, **kwargs)

  monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
  nothing = socket.socket()
  try:   # 127.0.0.2 refuses: only the server's 127.0.0.1 listens there
    nothing.connect(("127.0.0.2", port))
    pytest.skip("127.0.0.2 accepts connections on this machine")
  except OSError:
    pass
  finally:
    nothing.close()
  fetcher = client.Fetcher(_settings(retries=0))
  got = fetcher.fetch(f"http://two.example:{port}/img/a.jpg")
  assert got.data == IMAGES["a.jpg"] and record.hits["/img/a.jpg"] >= 1


def test_a_host_that_stopped_answering_costs_a_few_timeouts_not_one_per_url():
  import socket  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  silent = socket.socket()   # accepts connections, never answers
  silent.bind(("127.0.0.1", 0))
  silent.listen(64)
  port = silent.getsockname()[1]
  try:
    fetcher = client.Fetcher(_settings(
        retries=0, connect_timeout=0.3, read_timeout=0.3, total_timeout=0.3))
    took, outcomes = [], []
    for i in range(12):
      start = time.monotonic()
      outcomes.append(_reason(fetcher, f"http://127.0.0.1:{port}/{i}.jpg"))
      took.append(time.monotonic() - start)
  finally:
    silent.close()
  assert {reason for reason, _ in outcomes} == {"timeout"}
  tried = [m for _, m in outcomes if not m.startswith("not tried")]
  assert len(tried) == 5                    # the breaker's threshold
  assert all("failed its last 5 requests" in m for _, m in outcomes[5:])
  assert max(took[5:]) < 0.1                # no request, no wait


def test_a_robots_txt_that_trickles_is_cut_at_the_total_deadline(server):
  # The test server's /trickle sends 40 bytes, one every 0.1 s (4 s in
  # all): read as the host's robots.txt, the fetch stops at the 1-s total
  # deadline and the host counts as unreachable (disallow, asked again
  # later), holding no other origin.
  import time  # pylint: disable=g-import-not-at-top
  from transforms.fetch import robots  # pylint: disable=g-import-not-at-top
  url, _ = server
  fetcher = client.Fetcher(_settings(read_timeout=10.0, total_timeout=1.0))
  cache = robots.RobotsCache(
      lambda u: fetcher._get_small(  # pylint: disable=protected-access
          u.replace("/robots.txt", "/trickle")))
  start = time.monotonic()
  assert cache.verdict(f"{url}/img/a.jpg", "bot") == robots.UNREACHABLE
  assert time.monotonic() - start < 2.0
