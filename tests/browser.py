"""Debian's Chromium driven by Playwright for Python, never a downloaded
browser: ``scripts/ensure_browser.sh`` installs the ``chromium`` package."""
from __future__ import annotations

import contextlib
import os
import subprocess

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]


def ensure_chromium() -> str:
  if not os.path.exists(CHROMIUM):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["bash", os.path.join(root, "scripts",
                                         "ensure_browser.sh")],
                   check=True, timeout=1800)
  return CHROMIUM


@contextlib.contextmanager
def open_page(path: str, width: int = 1200, height: int = 900):
  """Yields (page, errors): a page showing the local file ``path`` and the
  JavaScript errors it raised (uncaught exceptions and console errors)."""
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=ensure_chromium(),
                                         args=FLAGS)
    try:
      page = browser.new_page(viewport={"width": width, "height": height})
      errors = []
      page.on("pageerror", lambda e: errors.append(str(e)))
      page.on("console", lambda m: errors.append(m.text)
              if m.type == "error" else None)
      page.goto("file://" + os.path.abspath(path))
      page.wait_for_load_state("load")
      yield page, errors
    finally:
      browser.close()
