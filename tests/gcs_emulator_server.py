"""Starts gcp-storage-emulator (PyPI) on 127.0.0.1 for a test session."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def running_emulator(data_dir: str):
  """Yields the emulator's URL (for ``STORAGE_EMULATOR_HOST``)."""
  port = _free_port()
  binary = os.path.join(os.path.dirname(sys.executable),
                        "gcp-storage-emulator")
  process = subprocess.Popen(
      [binary, "start", "--host", "127.0.0.1", "--port", str(port),
       "--in-memory"], cwd=data_dir, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 30
    while True:
      with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
          break
      if time.monotonic() > deadline or process.poll() is not None:
        raise RuntimeError("gcp-storage-emulator did not start")
      time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
  finally:
    process.terminate()
    process.wait(timeout=10)


def client(url: str):
  """A google-cloud-storage client for the emulator."""
  from google.auth.credentials import AnonymousCredentials  # pylint: disable=g-import-not-at-top
  from google.cloud import storage  # pylint: disable=g-import-not-at-top
  os.environ["STORAGE_EMULATOR_HOST"] = url
  return storage.Client(project="test", credentials=AnonymousCredentials())


def upload_dir(bucket, local_dir: str, prefix: str) -> None:
  for folder, _, names in os.walk(local_dir):
    for name in names:
      path = os.path.join(folder, name)
      relative = os.path.relpath(path, local_dir).replace(os.sep, "/")
      bucket.blob(f"{prefix}/{relative}").upload_from_filename(path)
