"""Reference images are streamed, never held whole: the peak memory of `assetpipe plan` with a
96 MB ref stays within a few MB of a tiny one's."""

from __future__ import annotations

import os
import subprocess

from tests.helpers.catalogs import SHOP_WITH_REFS as CATALOG
from tests.helpers.catalogs import write_catalog
from tests.helpers.paths import ASSETPIPE


def test_a_large_ref_is_streamed_not_loaded(tmp_path):
    """Peak memory of `assetpipe plan` with a 96 MB ref stays within a few MB of a tiny one's."""

    def peak_mb(ref_bytes: int) -> float:
        cat = write_catalog(tmp_path / f"c{ref_bytes}", CATALOG)
        with open(cat / "refs" / "product.png", "ab") as f:  # a real PNG with a long tail
            f.truncate(ref_bytes)
        proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(cat), "plan"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read()
        proc.stderr.close()
        return usage.ru_maxrss / 1024

    small, large = peak_mb(100_000), peak_mb(96 << 20)
    assert large - small < 24, (small, large)
