"""Notes on a valid catalog: things that work but that its author should know before paying
(issue #15, item 13). Printed by `validate` and `plan` on stderr; never an error."""

from __future__ import annotations

from pipelines.catalog.variant import Variant
from providers.sizes import gpt_image_2_problems, nearest_valid, parse_size


def size_notes(variants: list[Variant]) -> list[str]:
    """One note per asset and size that gpt-image-2 cannot make exactly: vendors are asked for the
    nearest valid size and the image is resized locally (renditions are resized locally anyway)."""
    seen: dict[tuple[str, str], list[Variant]] = {}
    for v in variants:
        if v.operation == "render":
            continue
        size = str(v.params.get("size", ""))
        try:
            w, h = parse_size(size)
        except ValueError:
            continue  # validation reports it
        if gpt_image_2_problems(w, h):
            seen.setdefault((v.source, size), []).append(v)
    notes = []
    for (source, size), vs in seen.items():
        w, h = parse_size(size)
        nw, nh = nearest_valid(w, h)
        why = "; ".join(gpt_image_2_problems(w, h))
        count = f"{len(vs)} variants, e.g. {vs[0].key}" if len(vs) > 1 else vs[0].key
        notes.append(f"{source}: note: size {size} is not one gpt-image-2 makes ({why}): vendors are asked for "
                     f"the nearest valid size, {nw}x{nh}, and the image is resized to {size} ({count})")
    return notes
