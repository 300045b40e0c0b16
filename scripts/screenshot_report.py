"""Save a screenshot of a run's report.html with Debian's headless Chromium.

Usage: python scripts/screenshot_report.py RUN_DIR/report/report.html docs/report.png

Needs ``apt-get install chromium chromium-driver`` and the ``test`` extra (selenium);
nothing is downloaded (selenium-manager is bypassed by naming the driver).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    f"--window-size={args.width},{args.height}"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(args.report.resolve().as_uri())
            args.png.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.png))
        finally:
            driver.quit()
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
