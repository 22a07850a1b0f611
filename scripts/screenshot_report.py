"""Render the studies report (``earthmover study all --out DIR``) in a real browser and save a
full-page screenshot, to look at it as a reader would.

    python scripts/screenshot_report.py runs/studies/index.html --out runs/studies/report.png [--width 1280]

Uses Playwright with the system's Chromium (Debian: ``apt-get install chromium``; ``pip install
playwright``; no ``playwright install`` needed). A developer tool: the test suite does not run it
and playwright is not a dependency of earthmover.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("page", type=Path, help="the report's index.html")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: beside the page, report.png)")
    p.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default 1280)")
    p.add_argument("--height", type=int, default=800, help="window height before the full-page capture")
    p.add_argument(
        "--chromium",
        default=shutil.which("chromium") or "/usr/bin/chromium",
        help="the browser executable (default: chromium on PATH, else /usr/bin/chromium)",
    )
    args = p.parse_args(argv)
    if not args.page.is_file():
        print(f"no such page: {args.page}; run `earthmover study all --quick --out DIR` first", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(
            "playwright is not installed: pip install playwright (the system chromium is used; "
            "no `playwright install` needed)",
            file=sys.stderr,
        )
        return 2
    out = args.out or args.page.with_name("report.png")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(args.page.resolve().as_uri())
            page.wait_for_load_state("load")
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.getAttribute('src'))"
            )
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    print(f"wrote {out} ({args.width} px wide)")
    if broken:
        print(f"images that did not load: {', '.join(broken)}", file=sys.stderr)
    if overflow > 0:
        print(f"the page is {overflow} px wider than the window (horizontal scrolling)", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
