"""A local stand-in for the Dataflow service's REST API (jobs.create,
jobs.get, jobs.messages.list, jobs.getMetrics), enough for Beam's real
DataflowRunner to submit a job, poll it to DONE and read its metrics.

No Dataflow service can run here; everything on our side of the HTTP
boundary is real. Each request is recorded in ``requests`` as (method,
path, body).
"""
from __future__ import annotations

import http.server
import json
import threading
from typing import Dict, List, Tuple

JOB_STATE_DONE = 3  # enum-encoding=int, as the client asks for


class FakeDataflowService:
  """Serves one project's jobs on 127.0.0.1:<port> in a thread."""

  def __init__(self, job_id: str = "2026-11-24_01_02_03-1234567890",
               counters: Dict[str, int] = None):
    self.job_id = job_id
    self.counters = counters or {}
    self.requests: List[Tuple[str, str, dict]] = []
    service = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def log_message(self, *args):  # keep test output clean
        pass

      def _reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        service.requests.append(("POST", self.path, body))
        job = dict(body)
        job.update({"id": service.job_id, "currentState": 1})
        self._reply(job)

      def do_GET(self):
        service.requests.append(("GET", self.path, {}))
        path = self.path.split("?")[0]
        if path.endswith("/messages"):
          self._reply({"jobMessages": []})
        elif path.endswith("/metrics"):
          self._reply({"metrics": service.metric_updates()})
        else:
          self._reply({"id": service.job_id, "name": "job",
                       "currentState": JOB_STATE_DONE,
                       "type": 1})

    self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.endpoint = f"http://localhost:{self._server.server_address[1]}"
    self._thread = threading.Thread(target=self._server.serve_forever,
                                    daemon=True)

  def metric_updates(self):
    updates = []
    for name, value in self.counters.items():
      for tentative in (False, True):
        context = {"namespace": "hub_image_beam", "step": "BuildRows"}
        if tentative:
          context["tentative"] = "true"
        updates.append({"name": {"origin": "user", "name": name,
                                 "context": context},
                        "scalar": value, "kind": "Sum"})
    return updates

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._server.shutdown()
