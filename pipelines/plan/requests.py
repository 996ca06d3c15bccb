"""Turning a planned variant into the provider's ImageRequest (inputs resolved to local files)."""

from __future__ import annotations

from pathlib import Path

from pipelines.cache.files import file_sha256
from pipelines.cache.integrity import quarantine_damage, verified_path
from pipelines.cache.store import Store
from pipelines.catalog.variant import Variant
from pipelines.errors import BlobDamaged, BuildError
from pipelines.plan.plan import Planned
from providers.base import ImageRequest, InputImage


def image_request(p: Planned, store: Store | None = None, *, for_estimate: bool = False,
                  restore_dir: Path | None = None, notes: list[str] | None = None) -> ImageRequest:
    """The request of a planned variant; an upstream's stored image is hashed before it is used
    (and restored from its exported copy under `restore_dir` when damaged)."""
    v = p.variant
    images: list[InputImage] = []
    mask = None
    for inp, d in zip(v.inputs, p.doc["inputs"]):
        digest = d["digest"].split(":", 1)[1]
        if for_estimate:
            img = InputImage(Path(inp.ref), digest, inp.ref.rsplit("/", 1)[-1])
        elif inp.kind == "file":
            img = InputImage(inp.path, digest, inp.path.name)
        else:
            if not d["digest"].startswith("sha256:"):
                raise ValueError(f"upstream {inp.ref} of {v.key} is not built yet")
            path = verified_input(store, digest, inp, restore_dir, notes)
            img = InputImage(path, digest, f"{inp.ref.replace('/', '_')}.{sniff_ext(path)}")
        if inp.role == "mask":
            mask = img
        else:
            images.append(img)
    return request_for(v, p.cache_key, tuple(images), mask)


def verified_input(store: Store, digest: str, inp, restore_dir: Path | None, notes: list[str] | None = None) -> Path:
    """The stored image of an upstream input, verified; BlobDamaged (quarantined) when it is damaged
    and no good copy (its file under output_dir) can restore it."""
    if inp.kind == "file":  # a reference file read directly: it must still be what was planned
        if file_sha256(inp.path) != digest:
            raise BuildError(f"{inp.ref} changed since this build was planned; run the build again")
        return inp.path
    copies = [restore_dir / f"{inp.ref}.{ext}" for ext in ("png", "jpg", "webp")] if restore_dir else []
    try:
        return verified_path(store, digest, restore_from=copies, notes=notes)
    except BlobDamaged as exc:
        quarantine_damage(store, exc)
        where = f": moved to {exc.quarantined} in the cache" if exc.quarantined else ""
        raise BlobDamaged(digest, f"{exc.problem}{where}; the input {inp.ref} is rebuilt by the next build") from None


def request_for(v: Variant, cache_key: str, images=(), mask=None) -> ImageRequest:
    prm = v.params
    return ImageRequest(
        cache_key=cache_key, operation="edit" if v.operation == "edit" else "generate", prompt=v.prompt or "",
        width=v.width, height=v.height, output_format=v.output_format, model=v.model,
        quality=prm.get("quality"), background=prm.get("background"), compression=prm.get("compression"),
        fidelity=prm.get("fidelity"), images=images, mask=mask, label=v.key, text=v.text, locale=v.locale,
    )


def estimate_request(v: Variant) -> ImageRequest:
    """The request a variant makes, for pricing and capability checks before anything is built:
    its input images stand in as placeholders (an edit is priced with its inputs: token-priced
    vendors bill every input image)."""
    dummy = InputImage(Path("x.png"), "0" * 64, "x.png")
    images = tuple(dummy for i in v.inputs if i.role == "image")
    mask = dummy if any(i.role == "mask" for i in v.inputs) else None
    return request_for(v, "", images, mask)


def sniff_ext(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(12)
    if head.startswith(b"\xff\xd8"):
        return "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "png"
