"""The offline `draft` provider: a deterministic layout proof instead of a paid image.

A draft shows what the real image must carry, so a catalog can be reviewed (sizes, crops, copy,
locales, edit regions) before anything is spent: the expected in-image text in any script, drawn
large on a plain card where the text check reads it back (proof.py), shaped and broken by the
rules of its script (shaping.py, layout.py, fonts.py), over a background from the request's seed
or an edit's input with the mask's editable region outlined (canvas.py); the card never covers
what the mask protects. The caption names the variant in full.
"""

from __future__ import annotations

import asyncio

from providers.base import Capabilities, ImageProvider, ImageRequest, RawImage
from providers.draft.proof import draw_proof
from providers.errors import UnsupportedError

__all__ = ["DraftProvider", "draw_proof"]


class DraftProvider(ImageProvider):
    type_name = "draft"
    needs_key = False

    def capabilities(self) -> Capabilities:
        return Capabilities(generate=True, edit=True, mask=True, max_input_images=16)

    def problems(self, req: ImageRequest) -> list[str]:
        out = super().problems(req)
        try:
            self._latency_s()
        except ValueError as exc:
            out.append(str(exc))
        return out

    def estimate_cost(self, req: ImageRequest) -> float:
        return 0.0

    async def _generate(self, req: ImageRequest) -> RawImage:
        return await self._proof(req)

    async def _edit(self, req: ImageRequest) -> RawImage:
        if not req.images:
            raise UnsupportedError("an edit needs at least one input image", provider=self.name)
        return await self._proof(req)

    async def _proof(self, req: ImageRequest) -> RawImage:
        latency = self._latency_s()
        if latency:
            await asyncio.sleep(latency)  # simulates a vendor for benchmarks, without holding a thread
        data = await asyncio.to_thread(draw_proof, req)
        return RawImage(data=data, request_id=f"draft-{req.cache_key[:12]}", cost_usd=0.0, vendor_size=req.size)

    def _latency_s(self) -> float:
        raw = self.config.options.get("latency_s", 0)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = -1.0
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"provider '{self.name}': options.latency_s must be a number >= 0, got {raw!r}")
        return value
