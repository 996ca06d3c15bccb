"""The cache key: sha256 of canonical JSON of everything that decides an image.

operation, model, the rendered prompt, normalized params, the digest of every input (a file's
bytes; an upstream variant's stored output once built, its cache key before that) and the
revision, and the take: a retake after a failed text check (pipelines.engine.retakes) is take 1,
2 ... of the same request, each its own key, so every take is cached and none is paid twice; the
first take has no `take` field, so keys made before retakes existed still match. A rejected take
(pipelines.review) moves the variant's first take past every take it has had: its next build makes
take n+1, n+2 ..., so a retake is never the rejected image again. The vendor that
serves the model is not in it: moving between gpt-image-2 vendors rebuilds nothing. Bump
KEY_VERSION only with a migration note: it re-keys every catalog.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipelines.catalog.variant import Variant

KEY_VERSION = 1
PARAM_KEYS = ("size", "quality", "background", "output_format", "compression", "n", "fidelity", "fit")


def key_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def key_doc(v: Variant, input_digests: list[str], take: int = 0) -> dict[str, Any]:
    params = {k: v.params[k] for k in PARAM_KEYS if v.params.get(k) is not None}
    params.setdefault("n", 1)
    doc: dict[str, Any] = {
        "v": KEY_VERSION,
        "operation": v.operation,
        "model": v.model,
        "prompt": v.prompt,
        "params": params,
        "inputs": [{"role": i.role, "digest": d} for i, d in zip(v.inputs, input_digests)],
        "revision": v.revision,
    }
    if v.model == "draft":  # the draft proof draws the expected text in its language: both decide the output
        doc["text"] = list(v.text)
        if v.locale:
            doc["locale"] = v.locale
    if take:
        doc["take"] = take
    return doc


def with_take(doc: dict[str, Any], take: int) -> dict[str, Any]:
    """The key document of another take of the same request."""
    out = {k: val for k, val in doc.items() if k != "take"}
    if take:
        out["take"] = take
    return out


def take_of(doc: dict[str, Any]) -> int:
    return int(doc.get("take") or 0)
