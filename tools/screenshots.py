"""Screenshots of the report pages for the documentation (docs/*.png).

Runs ``appariement demo`` into a temporary folder (or uses ``--from`` an existing demo output),
then photographs the quality report, its enclave page and the counterfactual page with headless
Chromium (``chromium --headless --screenshot``). The enclave page is photographed from the
synthetic demo only: its pairs are made up.

Usage::

    PYTHONPATH=. python tools/screenshots.py            # writes docs/report_*.png
    PYTHONPATH=. python tools/screenshots.py --from /tmp/rdemo --language en
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
PAGES = {"quality": "report/report.html", "enclave": "report/enclave/enclave.html",
         "counterfactual": "counterfactual/counterfactual.html"}


def shoot(page: Path, png: Path, *, width: int = 1200, height: int = 4200,
          offset: int = 0) -> None:
    """One screenshot of ``page``, ``height`` pixels from ``offset`` down (charts drawn:
    virtual time budget). The page is framed in a wrapper scrolled by ``offset``, since one very
    tall screenshot is slow to rasterise."""
    with tempfile.TemporaryDirectory() as profile:
        if offset:
            wrapper = Path(profile) / "frame.html"
            wrapper.write_text(
                f'<body style="margin:0;overflow:hidden"><iframe src="{page.as_uri()}" '
                f'style="border:0;width:{width}px;height:{offset + height}px;'
                f'margin-top:-{offset}px"></iframe></body>', encoding="utf-8")
            page = wrapper
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--no-first-run",
                        "--disable-background-networking", f"--user-data-dir={profile}",
                        "--virtual-time-budget=15000", f"--window-size={width},{height}",
                        f"--screenshot={png}", page.as_uri()],
                       check=True, capture_output=True, timeout=300)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", help="an existing `appariement demo --out` folder")
    ap.add_argument("--out", default="docs", help="folder of the PNG files (default docs)")
    ap.add_argument("--height", type=int, default=4000, help="height of one screenshot")
    ap.add_argument("--parts", type=int, default=2, help="screenshots per page, top down")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(args.source) if args.source else Path(tmp) / "demo"
        if not args.source:
            subprocess.run([sys.executable, "-m", "appariement", "demo", "--out", str(demo)],
                           check=True, capture_output=True)
        for name, rel in PAGES.items():
            page = demo / "results" / rel
            if not page.exists():
                continue
            for part in range(args.parts if name != "enclave" else 1):
                png = out / f"report_{name}{'' if part == 0 else f'_{part + 1}'}.png"
                shoot(page.resolve(), png.resolve(), height=args.height,
                      offset=part * args.height)
                print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
