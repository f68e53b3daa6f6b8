"""The README's screenshot of `pitstop report`: a demo copy with 800 users and 21 days, materialized (every day
through the validation gate), its report rendered by headless Chromium. Needs Debian's chromium.

    .venv/bin/python scripts/screenshot_report.py --demo /tmp/report-demo --redis redis://127.0.0.1:6379/6
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from screenshot_catalog import run, screenshot  # noqa: E402  (the same Chromium call)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, required=True, help="a new folder for the demo copy")
    parser.add_argument("--redis", required=True, help="a Redis URL the demo may write to")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "quality_report.png")
    args = parser.parse_args(argv)
    from pitstop.demo.repo import small_demo_repo
    from pitstop.runtime.feature_store import FeatureStore

    if args.demo.exists() and any(args.demo.iterdir()):
        sys.exit(f"--demo {args.demo}: the folder is not empty; give a new one")
    args.demo.mkdir(parents=True, exist_ok=True)
    repo = small_demo_repo(ROOT, args.demo, args.redis, transactions=60_000, users=800, merchants=40, days=21)
    # the demo data ends on 2026-10-31: no later event proves that day complete, so the source check would
    # refuse it; force computes it with what the source holds (as `make demo` does)
    for summary in FeatureStore(repo).materialize(["user_transactions"], date(2026, 10, 11), date(2026, 10, 31),
                                                  force=True):
        print(summary.describe())
    html = args.demo / "report.html"
    run(str(Path(sys.executable).parent / "pitstop"), "--repo", str(repo), "report", "user_transactions",
        "--out", str(html))
    screenshot(html.resolve().as_uri(), args.out, wait_ms=2_000, size="1300,1720")
    return 0


if __name__ == "__main__":
    sys.exit(main())
