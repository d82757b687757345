"""A real HTTP server on 127.0.0.1 for the fetch tests: images, and every
way a server misbehaves (redirect loops, 429 / 503 with Retry-After, a body
that trickles, a body too large, HTML served with 200, opt-out headers,
robots.txt), with what it saw recorded for the test to check."""
from __future__ import annotations

import contextlib
import email.utils
import http.server
import threading
import time
from typing import Dict, Iterator, List


class Record:
  def __init__(self):
    self.lock = threading.Lock()
    self.in_flight = 0
    self.max_in_flight = 0
    self.hits: Dict[str, int] = {}
    self.user_agents: List[str] = []
    self.latency = 0.0   # seconds added to every response
    self.all_in_flight = 0
    self.all_max_in_flight = 0
    self.last_served = 0.0   # time.time() of the last image sent


def handler_for(images: Dict[str, bytes], record: Record):

  class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As production servers do: without TCP_NODELAY the headers and the
    # body go out as two writes, and Nagle's algorithm against the client's
    # delayed ACK adds ~30 ms to every response.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet
      pass

    def _send(self, status, body=b"", headers=()):
      # Out of flight once the response is decided, before it is written:
      # the client cannot send its next request on that slot before it has
      # read this one, so these intervals overlap no more than the client's.
      self._left_flight()
      self.send_response(status)
      for name, value in headers:
        self.send_header(name, value)
      if not any(n.lower() == "content-length" for n, _ in headers):
        self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      if body:
        self.wfile.write(body)

    def do_GET(self):  # pylint: disable=invalid-name
      self._in_flight = self.path != "/stats"
      if self._in_flight:
        with record.lock:
          record.all_in_flight += 1
          record.all_max_in_flight = max(record.all_max_in_flight,
                                         record.all_in_flight)
      try:
        return self._get()
      finally:
        self._left_flight()

    def _left_flight(self):
      if getattr(self, "_in_flight", False):
        self._in_flight = False
        with record.lock:
          record.all_in_flight -= 1

    def _get(self):
      path = self.path
      if path == "/stats":
        import json  # pylint: disable=g-import-not-at-top
        return self._send(200, json.dumps({
            "max_in_flight": record.all_max_in_flight,
            "requests": sum(record.hits.values()),
            "last_served": record.last_served}).encode(),
                          [("Content-Type", "application/json")])
      with record.lock:
        record.hits[path] = record.hits.get(path, 0) + 1
        hits = record.hits[path]
        record.user_agents.append(self.headers.get("User-Agent", ""))
      name = path.rsplit("/", 1)[-1]
      time.sleep(record.latency)
      if path == "/robots.txt":
        return self._send(200, b"User-agent: *\nDisallow: /private/\n",
                          [("Content-Type", "text/plain")])
      if path.startswith(("/img/", "/private/")):
        record.last_served = time.time()
        return self._send(200, images[name],
                          [("Content-Type", "image/jpeg")])
      if path.startswith("/slow/"):
        with record.lock:
          record.in_flight += 1
          record.max_in_flight = max(record.max_in_flight, record.in_flight)
        time.sleep(0.15)
        with record.lock:
          record.in_flight -= 1
        return self._send(200, images[name], [("Content-Type", "image/jpeg")])
      if path == "/html":
        return self._send(200, b"<html><body>Sorry, error</body></html>",
                          [("Content-Type", "text/html; charset=utf-8")])
      if path == "/big":
        return self._send(200, b"x" * 5000, [("Content-Type", "image/jpeg")])
      if path == "/big-unsized":
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(10):
          self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        return None
      if path == "/trickle":
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "40")
        self.end_headers()
        for _ in range(40):
          try:
            self.wfile.write(b"z")
            self.wfile.flush()
          except OSError:
            return None
          time.sleep(0.1)
        return None
      if path == "/loop":
        return self._send(302, headers=[("Location", "/loop")])
      if path.startswith("/hops/"):
        left = int(name)
        target = f"/hops/{left - 1}" if left else "/img/a.jpg"
        return self._send(302, headers=[("Location", target)])
      if path == "/to-metadata":
        return self._send(302, headers=[
            ("Location", "http://169.254.169.254/latest/meta-data/")])
      if path.startswith("/flaky/"):
        if hits == 1:
          return self._send(503, headers=[("Retry-After", "1")])
        return self._send(200, images["b.jpg"],
                          [("Content-Type", "image/jpeg")])
      if path.startswith("/busy/"):
        if hits == 1:
          when = email.utils.formatdate(time.time() + 1, usegmt=True)
          return self._send(429, headers=[("Retry-After", when)])
        return self._send(200, images["c.jpg"],
                          [("Content-Type", "image/jpeg")])
      if path.startswith("/reset/"):
        if hits == 1:  # the connection dies before any response
          self.connection.shutdown(2)
          self.close_connection = True
          return None
        return self._send(200, images["a.jpg"],
                          [("Content-Type", "image/jpeg")])
      if path.startswith("/burst/"):
        if hits <= 2:  # a burst of 503s without Retry-After
          return self._send(503)
        return self._send(200, images["b.jpg"],
                          [("Content-Type", "image/jpeg")])
      if path == "/always500":
        return self._send(500)
      if path == "/noai":
        return self._send(200, images["a.jpg"], [
            ("Content-Type", "image/jpeg"), ("X-Robots-Tag", "noai")])
      return self._send(404)

  return Handler


@contextlib.contextmanager
def serving(images: Dict[str, bytes],
            bind: str = "127.0.0.1") -> Iterator[tuple]:
  """Serves until the block ends; yields (base URL on 127.0.0.1, Record).
  ``bind="0.0.0.0"`` answers on every loopback address too (127.0.0.2,
  ... : distinct hosts to the fetch stage)."""
  record = Record()
  server = http.server.ThreadingHTTPServer((bind, 0),
                                           handler_for(images, record))
  server.daemon_threads = True
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}", record
  finally:
    server.shutdown()
    server.server_close()


def main() -> None:
  """``python -m tests.http_server DIR LATENCY PORT_FILE [BIND]``: serves
  DIR's files as /img/NAME with LATENCY seconds added, until killed."""
  import os  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  folder, latency, port_file = sys.argv[1], float(sys.argv[2]), sys.argv[3]
  bind = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
  images = {}
  for name in os.listdir(folder):
    with open(os.path.join(folder, name), "rb") as f:
      images[name] = f.read()
  with serving(images, bind) as (url, record):
    record.latency = latency
    with open(port_file + ".tmp", "w") as f:
      f.write(url)
    os.replace(port_file + ".tmp", port_file)
    while True:
      time.sleep(3600)


if __name__ == "__main__":
  main()
