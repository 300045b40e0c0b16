"""Save a full-page screenshot of a run's report.html with Debian's headless Chromium.

Usage: python scripts/screenshot_report.py RUN_DIR/report/report.html docs/report.png
       [--width 1400] [--max-height 20000] [--from-id perceptograms]

The page is laid out at ``--width`` CSS pixels and captured from the top (or from
the element ``--from-id``) downwards, at most ``--max-height`` pixels. Needs ``apt-get install chromium
chromium-driver`` and the ``test`` extra (selenium); nothing is downloaded
(selenium-manager is bypassed by naming the driver).
"""

from __future__ import annotations

import argparse
import base64
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--max-height", type=int, default=20000)
    parser.add_argument("--from-id", default=None, help="Start at this element's top.")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    f"--window-size={args.width},1000"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(args.report.resolve().as_uri())
            total = int(driver.execute_script("return document.documentElement.scrollHeight;"))
            top = 0
            if args.from_id:
                top = int(driver.execute_script(
                    "return document.getElementById(arguments[0]).getBoundingClientRect().top"
                    " + window.scrollY;", args.from_id))
            height = min(args.max_height, total - top)
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": args.width, "height": total, "deviceScaleFactor": 1,
                "mobile": False})
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": top, "width": args.width, "height": height, "scale": 1}})
            args.png.parent.mkdir(parents=True, exist_ok=True)
            args.png.write_bytes(base64.b64decode(shot["data"]))
        finally:
            driver.quit()
    print(f"wrote {args.png} ({args.width} x {height} px)")


if __name__ == "__main__":
    main()
