"""How well the text check reads draft proofs, and how long it takes: the measurement behind the
OCR ladder (pipelines/text/ocr.py).

- every headline of tests/text_samples.py (17 locales) drawn by the draft provider at 1536x1024,
  1024x1024 and 1024x1536: must be read;
- short Chinese/Japanese/Korean headlines (very large glyphs) on banners with ten backgrounds each:
  must be read (the case that made the ladder try 160 px as well);
- each headline misspelt three ways (a letter dropped, swapped, changed) on a banner: must fail.

    .venv/bin/python -m bench.text_ocr        # ~3 min; writes bench/results/text_ocr.json
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from pipelines.text.check import check_text
from providers.base import ImageRequest
from providers.draft import draw_proof
from tests.text_samples import HEADLINES, mutations

SIZES = ((1536, 1024), (1024, 1024), (1024, 1536))
SHORT = [("冷泡季节", "zh-CN"), ("夏日限定", "zh-CN"), ("冷萃咖啡", "zh-TW"), ("為創造者而釀", "zh-TW"),
         ("春のブレンド", "ja"), ("新発売", "ja"), ("봄 한정", "ko")]


def _proof(text: str, locale: str, w: int, h: int, seed: str) -> bytes:
    key = hashlib.sha256(seed.encode()).hexdigest()
    return draw_proof(ImageRequest(cache_key=key, operation="generate", prompt="p", width=w, height=h, text=(text,),
                                   label=f"campaign/asset/{locale}/{w}x{h}", locale=locale))


def _timed(data: bytes, text: str, locale: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    status = check_text(data, [text], locale).status
    return status, time.perf_counter() - t0


def run() -> dict:
    out: dict = {"read": [], "short": [], "misspelt": []}
    for (loc, text), (w, h) in itertools.product(HEADLINES.items(), SIZES):
        out["read"].append((loc, f"{w}x{h}", *_timed(_proof(text, loc, w, h, f"{loc}{w}"), text, loc)))
    for (text, loc), k in itertools.product(SHORT, range(10)):
        out["short"].append((loc, text, *_timed(_proof(text, loc, 1536, 1024, f"{text}{k}"), text, loc)))
    for loc, text in HEADLINES.items():
        for kind, wrong in mutations(text).items():
            out["misspelt"].append((loc, kind, *_timed(_proof(wrong, loc, 1536, 1024, f"{loc}{kind}"), text, loc)))
    return out


def summary(rows: dict) -> dict:
    def stats(items, want):
        secs = [r[-1] for r in items]
        return {"n": len(items), "as_expected": sum(r[-2] == want for r in items),
                "unexpected": [r[:-1] for r in items if r[-2] != want],
                "median_s": round(statistics.median(secs), 3), "max_s": round(max(secs), 3)}
    return {"read": stats(rows["read"], "passed"), "short_cjk_banners": stats(rows["short"], "passed"),
            "misspelt_must_fail": stats(rows["misspelt"], "failed")}


def main() -> None:
    t0 = time.perf_counter()
    result = summary(run())
    result.update(date=datetime.now(timezone.utc).isoformat(timespec="seconds"), machine=platform.platform(),
                  cpus=os.cpu_count(), load_avg=os.getloadavg(), elapsed_s=round(time.perf_counter() - t0, 1))
    for name in ("read", "short_cjk_banners", "misspelt_must_fail"):
        r = result[name]
        print(f"{name:<20} {r['as_expected']}/{r['n']} as expected; median {r['median_s']} s, max {r['max_s']} s"
              + (f"; unexpected: {r['unexpected']}" if r["unexpected"] else ""))
    path = Path(__file__).parent / "results" / "text_ocr.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
