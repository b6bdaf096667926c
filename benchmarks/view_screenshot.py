"""The docs' screenshot of `comam-bench view`: committed runs side by side, one question expanded.

    .venv/bin/python benchmarks/view_screenshot.py \\
        results/runs/personamem-mini--comam--smollm2--s0--a7f0a422 \\
        results/runs/personamem-mini--rag--smollm2--s0--97309ae6 \\
        --disagree --expand 1 --out results/screenshots/view-comam-vs-rag.png

Writes the report with the real command (`comam-bench view`), opens it from disk in headless Chromium,
applies the filters asked for, expands the N-th visible question and saves a PNG of the page.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--disagree", action="store_true", help="tick 'only where runs disagree' first")
    ap.add_argument("--expand", type=int, default=1, help="expand the N-th visible question (1-based; 0: none)")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1700)
    args = ap.parse_args()

    from selenium.webdriver.common.by import By

    from comam_bench.view import browser

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        cli = Path(sys.executable).with_name("comam-bench")
        subprocess.run([str(cli), "view", *map(str, args.runs), "--out", str(page)], check=True)
        drv = browser.launch(args.width, args.height)
        try:
            drv.get(page.as_uri())
            if args.disagree:
                drv.find_element(By.ID, "f-disagree").click()
            if args.expand:
                drv.find_elements(By.CSS_SELECTOR, "#rows tr.q")[args.expand - 1].click()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            drv.save_screenshot(str(args.out))
        finally:
            browser.quit(drv)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
