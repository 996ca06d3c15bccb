"""The gallery: `output_dir/index.html`, a contact sheet a reviewer opens offline.

Per campaign and asset, a grid of locale (rows) x size (columns) taken from each variant's matrix
values; assets without those values list their variants. Each card links to the full image and
shows the prompt, provider, cost, whether this build paid for it and its review state (approved,
pending, changed, rejected; see pipelines.review.states). No external assets and no
JavaScript: it must open from a zip attachment or a CI artifact as well as from disk.

Thumbnails live in `output_dir/_thumbs/<source sha256>.jpg`, so an unchanged image is never
thumbnailed twice, and thumbnails no entry refers to any more are removed.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from PIL import Image

from pipelines.cache.files import atomic_write
from pipelines.outputs.preview import thumbnail_bytes

THUMBS_DIR = "_thumbs"
THUMB_PX = 256
ROW_VAR, COL_VAR = "locale", "size"
_THUMB_NAME = re.compile(r"^[0-9a-f]{64}\.jpg$")


def write_gallery(output_dir: Path, entries: list[dict], *, title: str = "assetpipe gallery") -> Path:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {str(e.get("key")): src for e in entries if (src := _source(output_dir, e)) is not None}
    thumbs = _write_thumbs(output_dir, entries, files)
    root = output_dir.resolve()
    links = {key: src.relative_to(root).as_posix() for key, src in files.items()}
    page = render_page(entries, thumbs, links, title=title)
    target = output_dir / "index.html"
    atomic_write(target, page.encode("utf-8"))
    return target


# -- thumbnails --------------------------------------------------------------------------------


def _source(output_dir: Path, entry: dict) -> Path | None:
    """The entry's image file, if it exists inside output_dir."""
    rel = entry.get("path")
    if not rel:
        return None
    root = output_dir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _write_thumbs(output_dir: Path, entries: list[dict], files: dict[str, Path]) -> dict[str, tuple[str, int, int]]:
    """entry key -> (thumbnail path relative to output_dir, width, height), for entries with an image."""
    thumb_dir = output_dir / THUMBS_DIR
    jobs: dict[str, Path] = {}  # thumb file name -> source
    names: dict[str, str] = {}  # entry key -> thumb file name
    for entry in entries:
        key = str(entry.get("key"))
        src = files.get(key)
        if src is None:
            continue
        digest = entry.get("sha256") or hashlib.sha256(src.read_bytes()).hexdigest()
        digest = str(digest).removeprefix("sha256:")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):  # it names a file: no other shape is trusted
            digest = hashlib.sha256(src.read_bytes()).hexdigest()
        name = f"{digest.lower()}.jpg"
        names[key] = name
        jobs.setdefault(name, src)
    thumb_dir.mkdir(exist_ok=True)
    todo = [(name, src) for name, src in jobs.items() if not (thumb_dir / name).is_file()]
    # decoding and resizing release the GIL: threads give a real speed-up on a first build
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        made = dict(zip((n for n, _ in todo), pool.map(lambda job: _make_thumb(thumb_dir, *job), todo)))
    for stale in thumb_dir.iterdir():
        if _THUMB_NAME.match(stale.name) and stale.name not in jobs:
            stale.unlink(missing_ok=True)
    out: dict[str, tuple[str, int, int]] = {}
    for key, name in names.items():
        if made.get(name, True) is False:
            continue
        try:
            with Image.open(thumb_dir / name) as img:  # reads the header only
                out[key] = (f"{THUMBS_DIR}/{name}", img.width, img.height)
        except OSError:
            continue
    return out


def _make_thumb(thumb_dir: Path, name: str, src: Path) -> bool:
    try:
        data = thumbnail_bytes(src, THUMB_PX)
    except Exception:  # one unreadable image must not cost the reviewer the whole page
        return False
    atomic_write(thumb_dir / name, data)
    return True



# -- the page ----------------------------------------------------------------------------------


def status(entry: dict) -> str:
    """failed | missing | cached | rendered | paid | built: what this build did for the variant.
    `paid` only when this build spent money on it; `built` is made by a provider at no cost to this
    build (a draft proof, or a job an earlier build paid for and this one collected)."""
    if entry.get("error"):
        return "failed"
    if not entry.get("path"):
        return "missing"  # never built, and not selected by this build
    if entry.get("cached"):
        return "cached"
    if entry.get("operation") == "render":
        return "rendered"
    return "paid" if float(entry.get("cost_usd") or 0.0) > 0 else "built"


def cost_now(entry: dict) -> float:
    """What this build spent on the variant (a failed call may still have cost something)."""
    return 0.0 if status(entry) in ("cached", "missing") else float(entry.get("cost_usd") or 0.0)


def cost_ever(entry: dict) -> float:
    """What the variant's current image cost when it was paid for, this build or earlier."""
    if entry.get("original_cost_usd") is not None:
        return float(entry["original_cost_usd"])
    return float(entry.get("cost_usd") or 0.0)


def totals(entries: list[dict]) -> dict[str, Any]:
    counts = {s: 0 for s in ("paid", "built", "cached", "rendered", "failed", "missing")}
    for e in entries:
        counts[status(e)] += 1
    counts["built"] += counts["paid"]  # built: every variant a provider made this build; paid: those that cost money
    return {
        "variants": len(entries),
        **counts,
        "cost_this_build_usd": sum(cost_now(e) for e in entries),
        "total_cost_usd": sum(cost_now(e) if status(e) == "failed" else cost_ever(e) for e in entries),
        "checks_failed": sum(1 for e in entries if _failed_checks(e)),
        "checks_not_run": sum(1 for e in entries if _unrun_checks(e)),
        "awaiting_review": sum(1 for e in entries if _review(e) in ("pending", "changed")),
    }


def _failed_checks(entry: dict) -> list[str]:
    checks = entry.get("checks") or {}
    return [str(name) for name, c in checks.items()
            if isinstance(c, dict) and c.get("passed") is False and not c.get("skipped")]


def _unrun_checks(entry: dict) -> list[str]:
    """Checks that did not run: never shown as passed."""
    checks = entry.get("checks") or {}
    return [str(name) for name, c in checks.items() if isinstance(c, dict) and c.get("status") == "not_run"]


def render_page(
    entries: list[dict],
    thumbs: dict[str, tuple[str, int, int]],
    links: dict[str, str],
    *,
    title: str,
) -> str:
    """The HTML; `thumbs` and `links` (key -> path under output_dir) only hold files that exist."""
    t = totals(entries)
    built = max((str(e["built_at"]) for e in entries if e.get("built_at")), default="")
    campaigns = _group(entries, "campaign")
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>",
        '<dl class="totals">',
        _total("variants", "variants", t["variants"]),
        _total("built", "built this build", t["built"]),
    ]
    if t["paid"]:
        out.append(_total("paid", "paid for this build", t["paid"]))
    out.append(_total("cached", "cached", t["cached"]))
    if t["rendered"]:
        out.append(_total("rendered", "rendered locally", t["rendered"]))
    if t["missing"]:
        out.append(_total("missing", "not built", t["missing"]))
    if t["checks_failed"]:
        out.append(_total("checks-failed", "checks failed", t["checks_failed"]))
    if t["checks_not_run"]:
        out.append(_total("checks-not-run", "text not checked", t["checks_not_run"]))
    if any(_review(e) for e in entries):
        out.append(_total("awaiting-review", "awaiting review", t["awaiting_review"]))
    out += [
        _total("failed", "failed", t["failed"]),
        _total("cost-this-build", "cost this build", _usd(t["cost_this_build_usd"])),
        _total("total-cost", "total cost (incl. cached)", _usd(t["total_cost_usd"])),
        "</dl>",
    ]
    if built:
        out.append(f'<p class="built">last built {_e(built)}</p>')
    out.append('<nav><ul>' + "".join(
        f'<li><a href="#{_anchor("c", name)}">{_e(name)}</a> <small>({len(items)})</small></li>'
        for name, items in campaigns) + "</ul></nav></header><main>")
    for campaign, items in campaigns:
        out.append(f'<section class="campaign" id="{_anchor("c", campaign)}"><h2>{_e(campaign)}</h2>')
        for asset, variants in _group(items, "asset"):
            out.append(f'<section class="asset" id="{_anchor("a", campaign + "/" + asset)}">'
                       f'<h3>{_e(asset)} <small>{len(variants)} variant{"s" if len(variants) != 1 else ""}</small></h3>')
            out.append(_asset_body(variants, thumbs, links))
            out.append("</section>")
        out.append("</section>")
    out.append("</main></body></html>\n")
    return "\n".join(out)


def _asset_body(variants: list[dict], thumbs: dict[str, tuple[str, int, int]], links: dict[str, str]) -> str:
    rows = _values(variants, ROW_VAR)
    cols = _values(variants, COL_VAR)
    if rows == [None] and cols == [None]:
        return '<div class="list">' + "".join(_card(v, thumbs, links) for v in variants) + "</div>"
    cells: dict[tuple[Any, Any], list[dict]] = {}
    for v in variants:
        cells.setdefault((_var(v, ROW_VAR), _var(v, COL_VAR)), []).append(v)
    head = "".join(f'<th scope="col">{_e(c) if c is not None else "&mdash;"}</th>' for c in cols)
    body = []
    for r in rows:
        tds = []
        for c in cols:
            cards = cells.get((r, c), [])
            inner = "".join(_card(v, thumbs, links) for v in cards) or '<span class="none">&mdash;</span>'
            tds.append(f'<td class="cell">{inner}</td>')
        label = _e(r) if r is not None else "&mdash;"
        body.append(f'<tr><th scope="row">{label}</th>{"".join(tds)}</tr>')
    corner = f"{_e(ROW_VAR)} \\ {_e(COL_VAR)}"
    return (f'<table class="grid"><thead><tr><th class="corner">{corner}</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _card(v: dict, thumbs: dict[str, tuple[str, int, int]], links: dict[str, str]) -> str:
    key = str(v.get("key", ""))
    s = status(v)
    thumb = thumbs.get(key)
    href = _href(links[key]) if key in links else None
    if thumb:
        img = f'<img src="{_e(_href(thumb[0]))}" width="{thumb[1]}" height="{thumb[2]}" alt="{_e(key)}" loading="lazy">'
    else:
        img = f'<div class="nothumb">{"no image" if s in ("failed", "missing") else "no preview"}</div>'
    picture = f'<a href="{_e(href)}">{img}</a>' if href and thumb else img
    size = f'{v["width"]}x{v["height"]}' if v.get("width") and v.get("height") else ""
    facts = [
        ("provider", " / ".join(str(x) for x in (v.get("provider"), v.get("model")) if x)),
        ("pool", v.get("pool") or ""),  # the member above was chosen from this pool
        ("lane", f"batch {v.get('batch_id') or ''}".strip() if v.get("lane") == "batch" else ""),
        ("size", size),
        ("cost", _card_cost(v, s)),
        ("request id", v.get("request_id") or ""),
        ("built", v.get("built_at") or ""),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(val)}</dd>" for k, val in facts if val)
    parts = [
        f'<figure class="variant {s}" id="{_anchor("v", key)}" data-key="{_e(key)}">',
        picture,
        "<figcaption>",
        f'<div class="head"><span class="vid">{_e(v.get("variant", key))}</span> '
        f'<span class="badge {s}">{s}</span> <span class="op">{_e(v.get("operation", ""))}</span>{_review_badge(v)}</div>',
    ]
    if v.get("error"):
        parts.append(f'<p class="error">{_e(v["error"])}</p>')
        if v.get("maybe_billed"):
            parts.append('<p class="error">the request was sent and its answer lost: it may have been billed</p>')
    for name in _failed_checks(v):
        detail = (v["checks"][name] or {}).get("description") or ""
        parts.append(f'<p class="check">check failed: {_e(name)}{": " + _e(detail) if detail else ""}</p>')
    for name in _unrun_checks(v):
        fix = (v["checks"][name] or {}).get("fix") or ""
        parts.append(f'<p class="check not-run">not checked: {_e(name)}{" (fix: " + _e(fix) + ")" if fix else ""}</p>')
    if v.get("takes", 1) > 1:
        parts.append(f'<p class="takes">take {_e(v.get("take"))} of {_e(v["takes"])} tried</p>')
    if href:
        parts.append(f'<div class="path"><a href="{_e(href)}">{_e(links[key])}</a></div>')
    elif v.get("path"):
        parts.append(f'<div class="path missing">{_e(v["path"])} (missing)</div>')
    parts.append(f"<dl>{dl}</dl>")
    texts = [str(t) for t in (v.get("text") or [])]
    if texts:
        parts.append('<ul class="text">' + "".join(f"<li>{_e(t)}</li>" for t in texts) + "</ul>")
    if v.get("prompt"):
        parts.append(f'<details><summary>prompt</summary><pre class="prompt">{_e(v["prompt"])}</pre></details>')
    parts.append("</figcaption></figure>")
    return "".join(parts)


# -- helpers -----------------------------------------------------------------------------------


def _review(entry: dict) -> str | None:
    review = entry.get("review")
    return str(review.get("state")) if isinstance(review, dict) and review.get("state") else None


def _review_badge(entry: dict) -> str:
    state = _review(entry)
    if state is None:
        return ""
    review = entry["review"]
    who = f"{state} by {review.get('by')} at {review.get('at')}" if review.get("by") else state
    return f' <span class="review {_e(state)}" title="{_e(who)}">{_e(state)}</span>'


def _group(entries: Iterable[dict], field: str) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}  # insertion order: the catalog's order
    for e in entries:
        groups.setdefault(str(e.get(field) or "—"), []).append(e)
    return list(groups.items())


def _var(entry: dict, name: str) -> str | None:
    value = (entry.get("vars") or {}).get(name)
    return None if value is None else str(value)


def _values(entries: list[dict], name: str) -> list[str | None]:
    seen: dict[str | None, None] = {}
    for e in entries:
        seen.setdefault(_var(e, name), None)
    values = list(seen)
    if len(values) > 1 and None in values:  # variants without the value go last
        values.remove(None)
        values.append(None)
    return values


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _href(rel: str) -> str:
    return quote(str(rel).replace(os.sep, "/"), safe="/")


def _anchor(prefix: str, text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:60]
    return f"{prefix}-{slug}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def _card_cost(v: dict, s: str) -> str:
    if s == "cached":
        return f"{_usd(cost_ever(v))} (paid earlier)" if cost_ever(v) else "free"
    if s == "built":
        by = v.get("collected_from_build")
        return f"{_usd(cost_ever(v))} (paid by build {str(by)[:8]})" if by and cost_ever(v) else "free"
    if s == "rendered":
        return "free (rendered locally)"
    if s == "missing" or (s == "failed" and not v.get("cost_usd")):
        return ""
    return _usd(cost_now(v))


def _usd(value: float) -> str:
    # vendors bill fractions of a cent per image: keep the third decimal when there is one
    text = f"{value:,.3f}"
    return "$" + (text[:-1] if text.endswith("0") else text)


def _total(name: str, label: str, value: Any) -> str:
    return f'<div class="total"><dt>{_e(label)}</dt><dd data-total="{name}">{_e(value)}</dd></div>'


_CSS = """
:root{--ink:#1b1b1f;--muted:#62636b;--line:#d9d9de;--paid:#b4530b;--cached:#1f6f43;--failed:#b3122f;--rendered:#2f55a4;--built:#4b4f8a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC",sans-serif;color:var(--ink);background:#f6f6f4}
header{padding:16px 24px;background:#fff;border-bottom:1px solid var(--line)}
h1{margin:0 0 8px;font-size:22px}
.totals{display:flex;flex-wrap:wrap;gap:8px 24px;margin:0}
.total dt{font-size:12px;color:var(--muted)} .total dd{margin:0;font-size:20px;font-weight:600}
.built{color:var(--muted);margin:8px 0 0}
nav ul{list-style:none;padding:0;margin:10px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px}
main{padding:8px 24px 40px}
h2{margin:28px 0 4px;font-size:20px;border-bottom:2px solid var(--ink)}
h3{margin:18px 0 8px;font-size:16px} h3 small{color:var(--muted);font-weight:400}
.grid{border-collapse:collapse} .grid th,.grid td{border:1px solid var(--line);padding:6px;vertical-align:top}
.grid thead th{background:#ecece8;font-weight:600} .grid tbody th{background:#ecece8;text-align:left;white-space:nowrap}
.corner{color:var(--muted);font-weight:400}
.list{display:flex;flex-wrap:wrap;gap:12px}
.variant{margin:0 0 6px;width:236px;background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px}
.variant.failed{border-color:var(--failed)}
.variant img{display:block;max-width:100%;height:auto;max-height:260px;margin:0 auto;background:#ddd}
.nothumb{height:120px;display:flex;align-items:center;justify-content:center;background:#eee;color:var(--muted)}
.head{margin-top:4px} .vid{font-weight:600;word-break:break-all}
.badge{display:inline-block;padding:0 6px;border-radius:9px;color:#fff;font-size:11px;text-transform:uppercase}
.badge.missing{background:var(--muted)} .check{color:var(--paid);margin:4px 0} .check.not-run{color:var(--muted)} .takes{margin:4px 0}
.badge.paid{background:var(--paid)} .badge.built{background:var(--built)} .badge.cached{background:var(--cached)} .badge.failed{background:var(--failed)} .badge.rendered{background:var(--rendered)}
.op{color:var(--muted);font-size:12px}
.review{display:inline-block;padding:0 6px;border-radius:9px;border:1px solid;font-size:11px;text-transform:uppercase}
.review.approved{color:var(--cached)} .review.pending{color:var(--muted)} .review.changed{color:var(--paid)} .review.rejected{color:var(--failed)}
.error{color:var(--failed);white-space:pre-wrap;word-break:break-word;margin:4px 0}
.path{font-size:12px;word-break:break-all}
dl{margin:4px 0;display:grid;grid-template-columns:auto 1fr;gap:0 8px;font-size:12px}
figcaption dt{color:var(--muted)} figcaption dd{margin:0;word-break:break-all}
.text{margin:4px 0;padding-left:18px;font-size:12px}
pre.prompt{white-space:pre-wrap;word-break:break-word;font-size:12px;background:#f3f3f0;padding:6px;margin:4px 0}
.none{color:var(--muted)}
"""
