"""Full-page screenshots of the documentation site in a real browser, to read it as a reader would.

    mkdocs build --strict                         # writes site/
    python scripts/screenshot_docs.py site --out runs/docs-shots [--width 1280]

Serves the built site on a local port (no network beyond localhost) and captures the home page, the story
tutorial and one API page (and any --page PATH given) as PNGs. Reports images that did not load and pages
wider than the window. Uses Playwright with the system's Chromium (Debian: ``apt-get install chromium``;
``pip install playwright``; no ``playwright install``). A developer tool: not a dependency of earthmover.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading
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
PAGES = ["", "tutorials/wgan-story/", "api/penalties/"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log on stderr
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("site", type=Path, help="the built site (mkdocs build's site/)")
    p.add_argument("--out", type=Path, default=Path("runs/docs-shots"), help="folder for the PNGs")
    p.add_argument("--page", action="append", default=[], help="another page to capture, e.g. guides/evaluation/")
    p.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default 1280)")
    p.add_argument("--height", type=int, default=800, help="window height before the full-page capture")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium", help="browser executable")
    args = p.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"no site at {args.site}: run `mkdocs build --strict` first", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright is not installed: pip install playwright (no `playwright install` needed)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Quiet, directory=str(args.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                for path in PAGES + args.page:
                    page.goto(base + path)
                    page.wait_for_load_state("load")
                    broken = page.evaluate(
                        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                        ".map(i => i.getAttribute('src'))"
                    )
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                    )
                    name = (path.strip("/").replace("/", "_") or "home") + ".png"
                    page.screenshot(path=str(args.out / name), full_page=True)
                    print(f"wrote {args.out / name}")
                    if broken:
                        problems += 1
                        print(f"  images that did not load: {', '.join(broken)}", file=sys.stderr)
                    if overflow > 0:
                        print(f"  {overflow} px wider than the window (horizontal scrolling)", file=sys.stderr)
            finally:
                browser.close()
    finally:
        server.shutdown()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
