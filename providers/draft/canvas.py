"""What lies under the text of a proof: a generated background from the request's seed, or an
edit's first input under a tint with the mask's editable region outlined, and where on it the text
card may go (never over the region a mask protects)."""

from __future__ import annotations

import colorsys

from PIL import Image, ImageChops, ImageDraw, ImageOps

from providers.base import ImageRequest
from providers.sizes import decode, fit_image

HIGHLIGHT = (255, 0, 170)
Rect = tuple[int, int, int, int]  # x, y, width, height


def palette(seed: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    # mid-tone colours: distinct per variant, never so light that the text card stops standing out
    hue = seed[0] / 255 * 360
    a = _hsv(hue, 0.55 + seed[1] / 255 * 0.25, 0.55 + seed[2] / 255 * 0.2)
    b = _hsv((hue + 40 + seed[3] / 255 * 80) % 360, 0.5 + seed[4] / 255 * 0.3, 0.35 + seed[5] / 255 * 0.2)
    accent = _hsv((hue + 180) % 360, 0.6, 0.85)
    return a, b, accent


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h / 360, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def generated_background(w: int, h: int, seed: bytes, transparent: bool) -> Image.Image:
    top, bottom, accent = palette(seed)
    if transparent:
        canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    else:
        ramp = Image.linear_gradient("L").resize((w, h), Image.BILINEAR)
        canvas = Image.composite(Image.new("RGBA", (w, h), bottom + (255,)), Image.new("RGBA", (w, h), top + (255,)), ramp)
    # a few large shapes placed by the seed, so variants of one asset are told apart at a glance
    shapes = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    unit = min(w, h)
    for i in range(4):
        cx, cy = seed[6 + i] / 255 * w, seed[10 + i] / 255 * h
        r = unit * (0.15 + seed[14 + i] / 255 * 0.35)
        fill = accent + (40 + seed[18 + i] % 50,) if i % 2 else (255, 255, 255, 30 + seed[18 + i] % 40)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    band = unit * 0.08
    x0 = seed[22] / 255 * w
    draw.polygon([(x0, 0), (x0 + band, 0), (x0 + band - h * 0.6, h), (x0 - h * 0.6, h)], fill=accent + (55,))
    return Image.alpha_composite(canvas, shapes)


def edit_background(req: ImageRequest, seed: bytes) -> tuple[Image.Image, Image.Image | None]:
    """The tinted first input, and the editable region of the mask (L, 255 = editable) if any."""
    w, h = req.width, req.height
    base = fit_image(load_rgba(req.images[0].read()), w, h, "cover").convert("RGBA")
    tint = Image.new("RGBA", (w, h), palette(seed)[0] + (255,))
    canvas = Image.blend(base, tint, 0.2)  # tinted, so a proof is never mistaken for the input itself
    region = editable_region(req.mask.read(), w, h) if req.mask is not None else None
    if region is not None:
        highlight(canvas, region)
    paste_other_inputs(canvas, req)
    return canvas, region


def load_rgba(data: bytes) -> Image.Image:
    return ImageOps.exif_transpose(decode(data, provider="draft")).convert("RGBA")


def editable_region(data: bytes, w: int, h: int) -> Image.Image:
    """OpenAI's semantics: transparent mask pixels may be edited; without alpha, white may be. The
    mask is fitted exactly like the first input image (same size by contract)."""
    mask = ImageOps.exif_transpose(decode(data, provider="draft"))
    if "A" in mask.getbands() or (mask.mode == "P" and "transparency" in mask.info):
        region = mask.convert("RGBA").getchannel("A").point(lambda a: 255 if a < 128 else 0)
    else:
        region = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
    return fit_image(region.convert("RGB"), w, h, "cover").convert("L").point(lambda v: 255 if v >= 128 else 0)


def highlight(canvas: Image.Image, region: Image.Image) -> None:
    if not region.getbbox():
        return
    w, h = canvas.size
    t = max(2, min(w, h) // 160)
    grown = region
    for dx, dy in ((t, 0), (-t, 0), (0, t), (0, -t)):
        shifted = Image.new("L", region.size, 0)
        shifted.paste(region, (dx, dy))
        grown = ImageChops.lighter(grown, shifted)
    outline = ImageChops.subtract(grown, region)
    wash = Image.new("RGBA", (w, h), HIGHLIGHT + (255,))
    canvas.paste(Image.blend(canvas, wash, 0.35), (0, 0), region)
    canvas.paste(wash, (0, 0), outline)


def paste_other_inputs(canvas: Image.Image, req: ImageRequest) -> None:
    """Further reference images as a strip of small tiles along the top edge."""
    others = req.images[1:7]
    if not others:
        return
    side = max(24, min(req.width, req.height) // 8)
    gap = max(2, side // 12)
    for i, inp in enumerate(others):
        tile = fit_image(load_rgba(inp.read()), side, side, "cover")
        x = gap + i * (side + gap)
        if x + side > req.width:
            break
        canvas.paste(Image.new("RGBA", (side + 2 * gap, side + 2 * gap), (255, 255, 255, 255)), (x - gap, 0))
        canvas.paste(tile, (x, gap))


def free_rect(region: Image.Image | None, w: int, h: int, bottom: int, cells: int = 64) -> Rect:
    """The largest rectangle above `bottom` (the caption) inside the editable region, found on a
    grid of at most `cells` x `cells`: a cell counts only when every pixel in it may be edited, so
    the card never covers a protected pixel. No mask: everything above the caption."""
    if region is None:
        return 0, 0, w, bottom
    cw, ch = max(1, -(-w // cells)), max(1, -(-bottom // cells))
    cols, rows = -(-w // cw), -(-bottom // ch)
    heights = [0] * cols
    best = (0, 0, 0, 0, 0)  # area, col, row, ncols, nrows
    for r in range(rows):
        for c in range(cols):
            box = (c * cw, r * ch, min(w, (c + 1) * cw), min(bottom, (r + 1) * ch))
            free = region.crop(box).getextrema()[0] == 255  # its least editable pixel is editable
            heights[c] = heights[c] + 1 if free else 0
        best = max(best, _largest_in_histogram(heights, r))
    _, c, r, nc, nr = best
    if not nc:
        return 0, 0, 0, 0
    x0, y0 = c * cw, r * ch
    return x0, y0, min(w, (c + nc) * cw) - x0, min(bottom, (r + nr) * ch) - y0


def _largest_in_histogram(heights: list[int], row: int) -> tuple[int, int, int, int, int]:
    """(area, first col, top row, ncols, nrows) of the largest rectangle ending at `row`."""
    best = (0, 0, 0, 0, 0)
    stack: list[int] = []
    for i, hgt in enumerate(heights + [0]):
        while stack and heights[stack[-1]] >= hgt:
            height = heights[stack.pop()]
            left = stack[-1] + 1 if stack else 0
            best = max(best, (height * (i - left), left, row - height + 1, i - left, height))
        stack.append(i)
    return best
