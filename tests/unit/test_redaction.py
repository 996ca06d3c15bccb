"""Every vendor-supplied string is redacted the same way: messages, request ids, codes, usage; and
an inline base64 image obeys the download size limit."""

from __future__ import annotations

import base64

import pytest

from providers.answers import redact_error, redact_value
from providers.errors import ProtocolError, RejectedError
from providers.http import decode_b64

KEY = "sk-redact-me-1234567890"


def test_redact_error_covers_every_vendor_field():
    err = RejectedError(f"rejected: bad param {KEY}", provider="p", status=400, request_id=KEY,
                        vendor_message=f"bad {KEY}", code=f"x-{KEY}")
    out = redact_error(err, [KEY])
    assert out is err and KEY not in str(err) and KEY not in repr(err.args)
    assert (err.request_id, err.vendor_message, err.code) == ("***", "bad ***", "x-***")
    assert "request id ***" in str(err)


def test_redact_value_walks_dicts_and_lists():
    usage = {"tokens": 5, "note": f"by {KEY}", KEY: [f"{KEY}!", 3, None]}
    assert redact_value(usage, [KEY]) == {"tokens": 5, "note": "by ***", "***": ["***!", 3, None]}


def test_inline_base64_obeys_the_size_limit():
    data = b"\x89PNG" + bytes(3000)
    text = base64.b64encode(data).decode()
    assert decode_b64(text, max_bytes=4000) == data
    with pytest.raises(ProtocolError, match="over the 1,000 limit"):
        decode_b64(text, max_bytes=1000)
    with pytest.raises(ProtocolError, match="limit"):
        decode_b64("data:image/png;base64," + text, max_bytes=1000)
