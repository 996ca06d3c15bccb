"""Issue #9's bad-input corpus: every hostile catalog of tests/hostile/corpus.py, run through the
real `assetpipe` in a sandbox. Each must end with exit 1 (the control with 0), a `path:line`
message at the right place, no traceback, in under 10 s and 500 MB, having read and written
nothing outside the catalog (tests/hostile/runner.py checks all of it).

`validate` runs for every case here; `plan` and `build --dry-run` too where they read more than
validate does (reference files, files outside the catalog, settings). The slow tier runs the other
cases' `plan` and `build --dry-run`, and a real offline build of the cases whose outside reads
could leak into out/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.corpus import CASES, SETTINGS, Case
from tests.hostile.runner import default_argv, describe, run_case

HOSTILE = [c for c in CASES if not c.source.startswith("#15")]  # issue #15's wording cases belong to #15


def reads_more_than_validate(case: Case) -> bool:
    return bool(case.outside) or case.files.get("catalog.yaml") != SETTINGS or any(
        p == "refs" or p.startswith("refs/") for p in case.files)


def commands(case: Case, *, slow: bool) -> list[tuple[str, ...]]:
    other = [c for c in case.commands if c not in (("validate",), ("build",))]
    if slow:
        return ([] if reads_more_than_validate(case) else other) + [c for c in case.commands if c == ("build",)]
    return [("validate",)] + (other if reads_more_than_validate(case) else [])


def test_the_corpus_is_large_enough() -> None:
    assert len([c for c in HOSTILE if c.source != "control"]) >= 60


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.id)
def test_hostile_catalog(case: Case, tmp_path: Path) -> None:
    res = run_case(case, default_argv(), tmp_path / "run", commands=commands(case, slow=False))
    assert not res.failures, f"{case.id}: {case.description}\n{describe(res)}"


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in HOSTILE if commands(c, slow=True)], ids=lambda c: c.id)
def test_hostile_catalog_other_commands(case: Case, tmp_path: Path) -> None:
    res = run_case(case, default_argv(), tmp_path / "run", commands=commands(case, slow=True))
    assert not res.failures, f"{case.id}: {case.description}\n{describe(res)}"
