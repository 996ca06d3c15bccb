"""The offline draft provider: deterministic, exact-size layout proofs with every script drawn,
shaped and broken by its rules, and the mask's protected region left alone. The same bytes in
another process: tests/integration/test_draft.py; OCR reading the text back in 13 locales:
tests/integration/test_text_locales.py."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pipelines.errors import UnsupportedError
from providers.base import InputImage, ProviderConfig
from providers.draft import DraftProvider, layout, proof, shaping
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


# -- every script ------------------------------------------------------------------------------

SCRIPTS = {  # locale -> a line in its script
    "de": "Größer", "pl": "Źródło", "vi": "sữa đá", "ru": "Весенний", "el": "χαρμάνι",
    "zh-CN": "为创造者", "zh-TW": "為創造者", "ja": "春のブレンド", "ko": "봄 한정", "ar": "مزيج الربيع",
    "he": "תערובת האביב", "th": "ชาผสม", "hi": "वसंत की ताज़ा",
}


@pytest.mark.parametrize("locale", sorted(SCRIPTS))
def test_every_script_has_a_font_no_empty_boxes(locale):
    glyphs, width = shaping.shape_line(SCRIPTS[locale], 48, locale)
    assert glyphs and width > 0
    assert all(g.gid != 0 for g in glyphs), "glyph 0 is the font's empty box (.notdef)"


def test_arabic_is_joined_and_right_to_left():
    text = "مزيج"
    glyphs, _ = shaping.shape_line(text, 48, "ar")
    isolated = [shaping.shape_line(ch, 48, "ar")[0][0].gid for ch in text]
    assert [g.gid for g in glyphs] != isolated[::-1], "letters drawn in their isolated forms: not joined"
    clusters = [g.cluster for g in glyphs]  # the character each glyph draws, left to right
    assert clusters == sorted(clusters, reverse=True) and clusters[0] == len(text) - 1  # the first letter is rightmost


def test_mixed_direction_keeps_numbers_and_latin_in_order():
    glyphs, _ = shaping.shape_line("السعر 39 BREW", 48, "ar")
    latin = [g for g in glyphs if g.script == "latin"]
    assert latin and [g.x for g in latin] == sorted(g.x for g in latin)


def test_cjk_regional_forms_follow_the_locale():
    # one Pan-CJK font: the language tag picks the region's glyph for the same code point
    forms = {loc: shaping.shape_line("直", 48, loc)[0][0].gid for loc in ("zh-CN", "zh-TW", "ja")}
    assert len(set(forms.values())) >= 2, forms


# -- line breaking ---------------------------------------------------------------------------------


def test_no_word_is_broken_the_text_shrinks_instead():
    text = "Весенний чайный сбор"
    size = 120
    narrow = shaping.width("Весенний", size) * 0.7  # narrower than the longest word at this size
    assert layout.wrap(text, size, narrow) is None  # it does not wrap: the caller shrinks
    blocks, fitted = layout.fit([text], round(narrow), 2000, size)
    assert fitted < size
    words = {w for line in blocks[0].lines for w in line.split()}
    assert words == set(text.split())  # every line is made of whole words


def test_cjk_breaks_between_phrases_and_never_before_closing_marks():
    units = layout.units("春のブレンド、新発売。", "ja")
    assert "".join(units) == "春のブレンド、新発売。"
    assert any("ブレンド" in u for u in units)  # the katakana word is never split
    assert not any(u[0] in layout.NO_START for u in units)
    lines = layout.wrap("为创造者而酿，春季限定。" * 2, 40, 200, "zh-CN")
    assert lines and not any(line[0] in "，。" for line in lines)


def test_thai_breaks_between_words_by_dictionary():
    pytest.importorskip("pythainlp", reason="the `thai` extra: Thai breaks only at spaces without it")
    assert layout.units("ชาผสมฤดูใบไม้ผลิรสชาติใหม่", "th") == ["ชา", "ผสม", "ฤดูใบไม้ผลิ", "รสชาติ", "ใหม่"]


def test_fit_is_large_for_short_text_and_fits_long_text():
    blocks, size = layout.fit(["SALE"], 800, 600, 160)
    assert size == 160  # short copy is set at the cap, not timidly
    long = ["Terms and conditions apply. " * 40]
    blocks, size = layout.fit(long, 400, 300, 160)
    assert size < 30 and all(shaping.width(line, size) <= 400 for line in blocks[0].lines)
    assert layout.stack_height(blocks, size, 0.45) <= 300


# -- the caption -----------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(1024, 1536), (400, 240), (160, 160)])
def test_the_caption_shows_the_whole_variant_key(width, height):
    key = "a_rather_long_campaign_name/an_even_longer_asset_name_for_stories/zh-TW/1080x1920"
    cap = proof.caption_lines(draft_request(width=width, height=height, label=key))
    joined = "".join(cap.lines)
    assert key in joined.replace(" ", "")  # every character is there, in order: wrapped, never cut
    assert all(shaping.width(line, cap.size, base=0) <= width for line in cap.lines)
    assert cap.height <= height

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


def test_the_text_card_never_covers_what_the_mask_protects(tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (800, 800), (40, 90, 200)).save(photo)
    mask = tmp_path / "mask.png"
    m = Image.new("RGBA", (800, 800), (0, 0, 0, 255))  # opaque: protected
    ImageDraw.Draw(m).rectangle((500, 40, 779, 399), fill=(0, 0, 0, 0))  # editable: a box at the top right
    m.save(mask)
    req = draft_request(operation="edit", width=800, height=800, images=(input_image(photo),), mask=input_image(mask),
                   text=("Sommer auf der Terrasse",))
    img = open_image(run_draft(req).data).convert("RGB")
    plain = open_image(run_draft(draft_request(operation="edit", width=800, height=800, images=(input_image(photo),),
                                    mask=input_image(mask), text=("",), prompt=" ")).data).convert("RGB")
    caption_top = 800 - proof.caption_lines(req).height
    protected = [(x, y) for x in range(0, 800, 7) for y in range(0, caption_top, 7)
                 if not (494 <= x <= 785 and 34 <= y <= 405)]  # outside the editable box and its outline
    assert all(img.getpixel(p) == plain.getpixel(p) for p in protected)
    # and the card is there, inside the editable box: light pixels of the card
    assert sum(img.getpixel((x, y))[0] > 240 for x in range(500, 780, 4) for y in range(40, 400, 4)) > 200


def test_edit_without_an_input_is_refused():
    with pytest.raises(UnsupportedError):
        run_draft(draft_request(operation="edit"))


# -- latency -----------------------------------------------------------------------------------


def test_latency_option_sleeps_without_blocking_other_jobs():
    provider = DraftProvider("draft", ProviderConfig(type="draft", options={"latency_s": 0.5}), env={})

    async def three():
        t0 = time.monotonic()
        await asyncio.gather(*(provider.run(draft_request(str(i) * 64, width=256, height=256)) for i in range(3)))
        return time.monotonic() - t0

    elapsed = asyncio.run(three())
    # One after another could not take less than 3 x 0.5 s whatever the machine's load; overlapped,
    # the three sleeps cost 0.5 s plus the renders (a wide margin on a loaded machine).
    assert 0.5 <= elapsed < 1.5


@pytest.mark.parametrize("bad", ["soon", -1, float("nan")])
def test_bad_latency_is_a_validation_problem(bad):
    provider = DraftProvider("draft", ProviderConfig(type="draft", options={"latency_s": bad}), env={})
    assert any("latency_s" in p for p in provider.problems(draft_request()))
    with pytest.raises(UnsupportedError, match="latency_s"):
        asyncio.run(provider.run(draft_request()))
