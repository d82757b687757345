"""Screenshots of a report for the README, through the tests' browser path
(Debian's chromium driven by Playwright).

    .venv/bin/python scripts/screenshot_report.py REPORT.html OUT.png
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import browser  # pylint: disable=wrong-import-position


def main() -> int:
  report, png = sys.argv[1], sys.argv[2]
  with browser.open_page(report, width=1100, height=760) as (page, errors):
    if errors:
      print(f"JavaScript errors: {errors}", file=sys.stderr)
      return 1
    page.screenshot(path=png)
  print(png)
  return 0


if __name__ == "__main__":
  sys.exit(main())
