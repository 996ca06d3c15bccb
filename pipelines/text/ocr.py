"""Reading the text in an image: Tesseract 5 through `tesserocr` (its wheel carries the engine), with
the language data the system has installed (Debian: `tesseract-ocr-<lang>`, data only, 0.5-5 MB
each).

Tesseract must not be run once, plainly: it reads best when the text is 30-60 px tall, its page
segmentation gives up on some posters, and light text on a busy picture defeats its global
threshold. `readings()` is a short *ladder* of passes (a reduced size, a page mode, the image with
only its near-white or near-black pixels as ink), cheapest and most often right first, produced
lazily: the caller stops at the first reading that holds what it expects (median 0.12 s, at most
~0.8 s). Only a check that fails walks every rung (~3 s). `bench/text_ocr.py` measures it on draft
proofs (results/text_ocr.json): 17 locales x 3 sizes read, 70 short CJK banners read (the 160 px
rungs are for their very large glyphs), 51 one-letter misspellings all failed.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageChops

from pipelines.errors import OcrUnavailable
from pipelines.text.locales import Language

ENGINE = "tesseract"
# Where distributions put the language data (Debian/Ubuntu 5.x and 4.x, Fedora, Homebrew, source).
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)

# (ink, shorter side in px or 0 = as is, Tesseract page segmentation mode). psm 6 = one block of
# text, 11 = sparse text, 3 = automatic. "light"/"dark" keep only near-white/near-black pixels.
# (Reading each text line alone at a normalized height was measured too: it read nothing this
# ladder misses, so it is not a rung.)
LADDER: tuple[tuple[str, int, int], ...] = (
    ("", 280, 6), ("light", 280, 6), ("dark", 280, 6), ("dark", 160, 6), ("", 160, 6), ("light", 160, 6),
    ("", 512, 6), ("light", 512, 6), ("", 340, 11), ("", 240, 11), ("dark", 300, 11),
    ("", 220, 11), ("", 420, 6), ("", 768, 6), ("", 0, 11), ("", 0, 3), ("light", 340, 11), ("dark", 512, 6),
)


@dataclass(frozen=True)
class Reading:
    label: str  # which rung: "280px/psm6", "light ink 512px/psm6" ...
    lines: tuple[str, ...]


def tessdata_dir() -> Path | None:
    """The directory holding *.traineddata: $TESSDATA_PREFIX when set, else the first usual place
    that has any."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env:
        return Path(env)
    for d in TESSDATA_DIRS:
        p = Path(d)
        if p.is_dir() and any(p.glob("*.traineddata")):
            return p
    return None


def engine_problem() -> str | None:
    """Why no text can be read at all, or None."""
    try:
        import tesserocr  # noqa: F401
    except ImportError as exc:
        return f"the OCR engine does not load ({exc}); reinstall assetpipe (pip install tesserocr)"
    return None


def missing_language(lang: Language) -> str | None:
    """Why `lang` cannot be read (with the command that fixes it), or None."""
    problem = engine_problem()
    if problem:
        return problem
    where = tessdata_dir()
    if where is None or not (where / f"{lang.code}.traineddata").is_file():
        place = f"{where}" if where else "no tessdata directory found"
        return (f"no OCR data for {lang.locale} ({lang.code}.traineddata; {place}): `{lang.install}` "
                "(Debian/Ubuntu), or set TESSDATA_PREFIX to a directory that has it")
    return None


_local = threading.local()  # one engine per thread and language: the API object is not shareable


def _api(code: str, psm: int):
    import tesserocr

    cache = getattr(_local, "apis", None)
    if cache is None:
        cache = _local.apis = {}
    api = cache.get((code, psm))
    if api is None:
        where = tessdata_dir()
        try:
            api = tesserocr.PyTessBaseAPI(path=str(where) + os.sep if where else "", lang=code, psm=psm)
        except RuntimeError as exc:  # the data file is missing or unreadable
            raise OcrUnavailable(f"Tesseract cannot load {code}: {exc}") from None
        cache[(code, psm)] = api
    return api


def read(image: Image.Image, code: str, psm: int = 3) -> tuple[str, ...]:
    """One Tesseract pass: the non-empty lines, top to bottom."""
    api = _api(code, psm)
    api.SetImage(image)
    text = api.GetUTF8Text()
    return tuple(line for line in text.splitlines() if line.strip())


def load(data: bytes | Path) -> Image.Image:
    """Decode an image for reading; transparent areas become white (black text on a transparent
    poster would vanish on a black matte)."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    with Image.open(io.BytesIO(raw)) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
            flat.alpha_composite(im)
            return flat.convert("RGB")
        return im.convert("RGB")


def readings(image: Image.Image, lang: Language) -> Iterator[Reading]:
    """The ladder's readings of `image`, lazily, one per rung."""
    inked = {"": image}
    for ink, side, psm in LADDER:
        if ink not in inked:
            inked[ink] = _ink(image, light=ink == "light")
        img = inked[ink]
        scale = side / min(img.size) if side else 1.0
        if scale < 1:
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
        label = f"{ink + ' ink ' if ink else ''}{side or 'full'}{'px' if side else ''}/psm{psm}"
        yield Reading(label, read(img, lang.code, psm))


def _ink(image: Image.Image, light: bool) -> Image.Image:
    """Only the near-white (light) or near-black pixels as black ink on white."""
    r, g, b = image.split()
    if light:
        darkest = ImageChops.darker(ImageChops.darker(r, g), b)
        return darkest.point(lambda v: 0 if v >= 215 else 255)
    brightest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    return brightest.point(lambda v: 0 if v <= 60 else 255)
