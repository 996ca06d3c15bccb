"""The offline draft provider: deterministic, exact-size layout proofs with legible (CJK) text.
The same bytes in another process, and OCR reading the text back: tests/integration/test_draft.py."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipelines.errors import UnsupportedError
from providers.base import InputImage, ProviderConfig
from providers.draft import DraftProvider, fit_text, font_path, load_font, wrap
from providers.registry import provider_class
from tests.helpers.providers import draft_request, run_draft


def open_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def input_image(path: Path) -> InputImage:
    return InputImage(path=path, digest=hashlib.sha256(path.read_bytes()).hexdigest(), filename=path.name)


def test_registered_offline_and_free():
    assert provider_class("draft") is DraftProvider
    assert DraftProvider.needs_key is False
    provider = DraftProvider("draft", ProviderConfig(type="draft"), env={})  # no key anywhere
    caps = provider.capabilities()
    assert caps.generate and caps.edit and caps.mask and caps.max_input_images == 16
    assert set(caps.formats) == {"png", "jpeg", "webp"}
    assert provider.estimate_cost(draft_request()) == 0.0
    result = asyncio.run(provider.run(draft_request("abcdef0123456789" * 4)))
    assert result.cost_usd == 0.0
    assert result.request_id == "draft-abcdef012345"
    assert result.provider == "draft"


def test_same_request_same_bytes_and_other_keys_differ():
    req = draft_request(text=("Fresh every day",))
    first, second = run_draft(req).data, run_draft(req).data
    assert first == second
    other = run_draft(draft_request("j" * 64, text=("Fresh every day",))).data
    assert other != first
    # the palette comes from the key, so variants differ in colour, not only in a few pixels
    a, b = open_image(first).convert("RGB"), open_image(other).convert("RGB")
    assert a.getpixel((3, 3)) != b.getpixel((3, 3))


@pytest.mark.parametrize(
    "width,height,fmt",
    [
        (1080, 1920, "jpeg"),
        (512, 512, "png"),
        (3840, 1280, "webp"),
        (1024, 1536, "png"),
        (1536, 1024, "jpeg"),
        (1000, 333, "png"),  # neither a multiple of 16 nor a gpt-image-2 size: a draft does not care
        (64, 48, "webp"),
    ],
)
def test_exact_size_and_format(width, height, fmt):
    result = run_draft(draft_request(width=width, height=height, output_format=fmt, text=("Frisch gebrüht. Jeden Tag.",)))
    img = open_image(result.data)
    assert img.size == (width, height)
    assert img.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert (result.width, result.height, result.output_format) == (width, height, fmt)


def test_transparent_background_keeps_alpha_only_where_the_format_can():
    png = open_image(run_draft(draft_request(background="transparent", output_format="png")).data)
    assert png.mode == "RGBA" and png.getextrema()[3][0] == 0
    jpeg = open_image(run_draft(draft_request(background="transparent", output_format="jpeg")).data)
    assert jpeg.mode == "RGB"


def test_prompt_excerpt_when_no_expected_text():
    a = run_draft(draft_request(prompt="A mug on a table")).data
    b = run_draft(draft_request(prompt="A cup on a table")).data
    assert a != b


# -- CJK ---------------------------------------------------------------------------------------

CJK = {"zh-CN": "你好世界", "ja": "こんにちは", "ko": "안녕하세요"}


@pytest.mark.parametrize("locale", sorted(CJK))
def test_cjk_glyphs_exist_in_the_font(locale):
    font = load_font(64)
    notdef = _glyph(font, "\U0010fffd")  # a code point no font has: the tofu box
    masks = [_glyph(font, ch) for ch in CJK[locale]]
    assert all(m != notdef for m in masks), "the font draws tofu for these characters"
    assert len(set(masks)) == len(set(CJK[locale]))  # every distinct character has its own glyph
    # control: Pillow's own font draws every one of them as the same box, which this test would catch
    fallback = ImageFont.load_default(64)
    assert len({_glyph(fallback, ch) for ch in CJK[locale]}) == 1


def _glyph(font, ch: str) -> tuple:
    mask = font.getmask(ch)
    return mask.size, bytes(mask)


@pytest.mark.parametrize("locale", sorted(CJK))
def test_cjk_text_is_drawn_in_the_proof(locale):
    text = CJK[locale]
    forward = open_image(run_draft(draft_request(text=(text,))).data).convert("L")
    backward = open_image(run_draft(draft_request(text=(text[::-1],))).data).convert("L")
    # tofu boxes are all alike, so reversing the string would change nothing; real glyphs move
    diff = sum(1 for a, b in zip(forward.tobytes(), backward.tobytes()) if abs(a - b) > 64)
    assert diff > 2000
    assert _ink_components(forward) >= len(text) * 2


def _ink_components(img: Image.Image) -> int:
    """Dark connected components inside the light text panel (the strokes of the glyphs)."""
    w, h = img.size
    px = img.load()
    # the panel is the light box in the middle; take the rows and columns of its interior
    cy = h * 0.45
    row = [x for x in range(w) if px[x, int(cy)] > 230]
    col = [y for y in range(h) if px[w // 2 - w // 8, y] > 230]
    x0, x1, y0, y1 = min(row) + 4, max(row) - 4, min(col) + 4, max(col) - 4
    seen = set()
    count = 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            if px[x, y] < 110 and (x, y) not in seen:
                count += 1
                stack = [(x, y)]
                seen.add((x, y))
                while stack:
                    cx, cy2 = stack.pop()
                    for nx, ny in ((cx + 1, cy2), (cx - 1, cy2), (cx, cy2 + 1), (cx, cy2 - 1)):
                        if x0 <= nx < x1 and y0 <= ny < y1 and (nx, ny) not in seen and px[nx, ny] < 110:
                            seen.add((nx, ny))
                            stack.append((nx, ny))
    return count


def test_font_comes_from_the_cjk_package():
    path = font_path()
    assert path.is_file() and path.suffix.lower() in (".otf", ".ttf", ".ttc")
    assert "CJK" in load_font(20).getname()[0]


# -- text layout ---------------------------------------------------------------------------------


def test_wrap_keeps_latin_words_and_breaks_cjk_between_characters():
    font = load_font(40)
    latin = "Fresh coffee roasted every morning in small batches by BREW LAB"
    lines = wrap(latin, font, 400)
    assert len(lines) > 1 and " ".join(lines) == latin
    assert all(font.getlength(line) <= 400 for line in lines)
    chinese = "新鲜烘焙的咖啡每天都有，欢迎光临我们的新店。" * 3
    lines = wrap(chinese, font, 300)
    assert len(lines) > 3 and "".join(lines) == chinese
    assert all(font.getlength(line) <= 300 for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)  # closing marks stay at line ends


def test_fit_text_is_large_for_short_text_and_fits_long_text():
    blocks, tw, th, size = fit_text(["SALE"], 800, 600, 160)
    assert size == 160  # short copy is set at the cap, not timidly
    long = ["Terms and conditions apply. " * 40]
    blocks, tw, th, size = fit_text(long, 400, 300, 160)
    assert tw <= 400 and th <= 300 and size < 30


# -- edits -------------------------------------------------------------------------------------


def test_edit_uses_the_input_image(tmp_path):
    red = tmp_path / "red.png"
    Image.new("RGB", (700, 500), (230, 10, 10)).save(red)
    result = run_draft(draft_request(operation="edit", width=1024, height=1024, images=(input_image(red),),
                          text=("SALE",)))
    img = open_image(result.data).convert("RGB")
    data = img.tobytes()
    reds = sum(1 for r, g, b in zip(data[0::3], data[1::3], data[2::3]) if r > 150 and g < 110 and b < 110)
    assert reds / (img.width * img.height) > 0.5


def test_edit_outlines_the_mask_region(tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (800, 800), (40, 90, 200)).save(photo)
    mask = tmp_path / "mask.png"
    m = Image.new("RGBA", (800, 800), (0, 0, 0, 255))
    ImageDraw.Draw(m).rectangle((0, 0, 799, 199), fill=(0, 0, 0, 0))  # the top quarter is editable
    m.save(mask)
    base = dict(operation="edit", width=800, height=800, images=(input_image(photo),), text=("Loft",))
    plain = open_image(run_draft(draft_request(**base)).data).convert("RGB")
    masked = open_image(run_draft(draft_request(mask=input_image(mask), **base)).data).convert("RGB")
    assert masked.getpixel((20, 100)) != plain.getpixel((20, 100))  # inside the editable region
    assert masked.getpixel((20, 500)) == plain.getpixel((20, 500))  # outside it
    # the boundary is outlined in the highlight colour
    r, g, b = masked.getpixel((20, 202))
    assert r > 200 and g < 60 and b > 120


def test_edit_without_an_input_is_refused():
    with pytest.raises(UnsupportedError):
        run_draft(draft_request(operation="edit"))


# -- latency -----------------------------------------------------------------------------------


def test_latency_option_sleeps_without_blocking_other_jobs():
    provider = DraftProvider("draft", ProviderConfig(type="draft", options={"latency_s": 0.15}), env={})

    async def three():
        t0 = time.monotonic()
        await asyncio.gather(*(provider.run(draft_request(str(i) * 64, width=256, height=256)) for i in range(3)))
        return time.monotonic() - t0

    elapsed = asyncio.run(three())
    assert 0.15 <= elapsed < 0.4  # one after another would take 0.45 s


@pytest.mark.parametrize("bad", ["soon", -1, float("nan")])
def test_bad_latency_is_a_validation_problem(bad):
    provider = DraftProvider("draft", ProviderConfig(type="draft", options={"latency_s": bad}), env={})
    assert any("latency_s" in p for p in provider.problems(draft_request()))
    with pytest.raises(UnsupportedError, match="latency_s"):
        asyncio.run(provider.run(draft_request()))


