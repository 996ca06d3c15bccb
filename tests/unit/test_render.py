"""Local renditions (the `render` operation) and the small previews built on them."""

from __future__ import annotations

import base64
import io
import random

import pytest
from PIL import Image

from pipelines.engine.render import render_image
from pipelines.errors import BuildError
from pipelines.outputs.preview import (
    DATA_URI_LIMIT,
    thumbnail_bytes,
    thumbnail_data_uri,
)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def open_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def halves(w: int = 400, h: int = 200) -> bytes:
    """Left half red, right half blue."""
    img = Image.new("RGB", (w, h), (255, 0, 0))
    img.paste((0, 0, 255), (w // 2, 0, w, h))
    return png(img)


def near(pixel, colour, tol=40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour))


@pytest.mark.parametrize("fit", ["cover", "contain", "stretch"])
@pytest.mark.parametrize(
    "size,fmt", [((1080, 1920), "jpeg"), ((512, 512), "png"), ((3840, 1280), "webp"), ((333, 77), "png")]
)
def test_exact_size_and_format(fit, size, fmt):
    out = open_image(render_image(halves(), width=size[0], height=size[1], fit=fit, output_format=fmt, quality=80))
    assert out.size == size
    assert out.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]


def test_cover_fills_and_crops_the_centre():
    out = open_image(render_image(halves(400, 200), width=200, height=200, fit="cover", output_format="png"))
    out = out.convert("RGB")
    assert near(out.getpixel((10, 100)), (255, 0, 0))
    assert near(out.getpixel((190, 100)), (0, 0, 255))
    assert near(out.getpixel((100, 2)), (255, 0, 0)) or near(out.getpixel((100, 2)), (0, 0, 255))  # no padding


def test_contain_fits_inside_and_pads():
    out = open_image(render_image(halves(400, 200), width=200, height=200, fit="contain", output_format="png"))
    out = out.convert("RGB")
    assert out.getpixel((100, 5)) == (255, 255, 255)  # padding above
    assert out.getpixel((100, 195)) == (255, 255, 255)  # and below
    assert near(out.getpixel((10, 100)), (255, 0, 0)) and near(out.getpixel((190, 100)), (0, 0, 255))


def test_stretch_keeps_everything_and_distorts():
    out = open_image(render_image(halves(400, 200), width=100, height=300, fit="stretch", output_format="png"))
    assert near(out.getpixel((5, 5)), (255, 0, 0)) and near(out.getpixel((95, 295)), (0, 0, 255))


def test_deterministic_and_path_or_bytes_alike(tmp_path):
    src = tmp_path / "src.png"
    src.write_bytes(halves())
    kw = dict(width=300, height=500, fit="cover", output_format="jpeg", quality=88)
    assert render_image(src, **kw) == render_image(src, **kw) == render_image(src.read_bytes(), **kw)


def test_quality_changes_jpeg_bytes():
    rng = random.Random(7)
    noisy = Image.frombytes("RGB", (256, 256), bytes(rng.randrange(256) for _ in range(256 * 256 * 3)))
    low = render_image(png(noisy), width=256, height=256, output_format="jpeg", quality=20)
    high = render_image(png(noisy), width=256, height=256, output_format="jpeg", quality=95)
    assert len(low) < len(high) / 2


def test_transparency_becomes_white_in_jpeg_and_stays_in_png():
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))  # transparent black: must not turn black
    img.paste((0, 128, 0, 255), (0, 0, 50, 100))
    jpeg = open_image(render_image(png(img), width=100, height=100, output_format="jpeg")).convert("RGB")
    assert near(jpeg.getpixel((90, 50)), (255, 255, 255), 8)
    assert near(jpeg.getpixel((10, 50)), (0, 128, 0), 16)
    kept = open_image(render_image(png(img), width=100, height=100, output_format="png"))
    assert kept.mode == "RGBA" and kept.getpixel((90, 50))[3] == 0


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (200, 100), (255, 0, 0))  # stored landscape...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...but the camera says "rotate 90": it is a portrait photo
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    out = open_image(render_image(buf.getvalue(), width=100, height=200, fit="contain", output_format="png"))
    assert near(out.convert("RGB").getpixel((50, 3)), (255, 0, 0))  # filled, not padded


def test_palette_and_greyscale_sources():
    for mode in ("P", "L", "CMYK", "LA"):
        src = Image.new("RGB", (64, 64), (10, 200, 30)).convert(mode)
        buf = io.BytesIO()
        src.save(buf, "TIFF" if mode == "CMYK" else "PNG")
        for fmt in ("png", "jpeg", "webp"):
            out = open_image(render_image(buf.getvalue(), width=64, height=64, output_format=fmt))
            assert out.size == (64, 64)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="fit"):
        render_image(halves(), width=10, height=10, fit="zoom", output_format="png")
    with pytest.raises(ValueError, match="output_format"):
        render_image(halves(), width=10, height=10, output_format="gif")
    with pytest.raises(ValueError, match="quality"):
        render_image(halves(), width=10, height=10, output_format="jpeg", quality=101)
    with pytest.raises(BuildError, match="not a valid image"):
        render_image(b"<html>not an image</html>", width=10, height=10, output_format="png")
    with pytest.raises(BuildError, match="cannot read"):
        render_image(tmp_path / "missing.png", width=10, height=10, output_format="png")


# -- previews ----------------------------------------------------------------------------------


def test_thumbnail_is_a_small_jpeg(tmp_path):
    src = tmp_path / "big.png"
    Image.new("RGB", (3840, 1280), (30, 60, 90)).save(src)
    thumb = open_image(thumbnail_bytes(src))
    assert thumb.format == "JPEG" and max(thumb.size) == 256 and thumb.size == (256, 85)
    small = open_image(thumbnail_bytes(png(Image.new("RGB", (40, 30)))))
    assert small.size == (40, 30)  # never upscaled


def test_data_uri_stays_under_the_limit_even_for_noise():
    rng = random.Random(3)
    noise = Image.frombytes("RGB", (1024, 1024), bytes(rng.randrange(256) for _ in range(1024 * 1024 * 3)))
    uri = thumbnail_data_uri(png(noise))
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < DATA_URI_LIMIT
    decoded = open_image(base64.b64decode(uri.split(",", 1)[1]))
    assert decoded.format == "JPEG" and max(decoded.size) <= 160
    big = thumbnail_data_uri(png(noise), max_px=512)  # no quality fits at 512 px: it must shrink
    assert len(big) < DATA_URI_LIMIT
    assert max(open_image(base64.b64decode(big.split(",", 1)[1])).size) < 512


def test_data_uri_of_a_plain_image_keeps_its_size(tmp_path):
    src = tmp_path / "poster.png"
    Image.new("RGBA", (1024, 1536), (200, 100, 50, 128)).save(src)
    uri = thumbnail_data_uri(src)
    decoded = open_image(base64.b64decode(uri.split(",", 1)[1]))
    assert decoded.size == (107, 160) and len(uri) < 5_000
