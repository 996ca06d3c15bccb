"""The live progress of a build (issue #15, item 7): done/total, calls in flight per vendor, spend
so far against the estimate, an ETA; redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

from pipelines.cli.progress import CLEAR, Progress, duration, is_terminal
from pipelines.engine.outcome import Outcome, Take
from pipelines.plan.project import Project
from tests.helpers.catalogs import write_catalog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def outcomes(tmp_path: Path) -> list[Outcome]:
    """Four planned variants as a build's outcomes: two paid $0.04 each, a cache hit, a failure."""
    body = "campaign: a\nassets:\n  - name: mug\n    matrix: {n: [one, two, three, four]}\n    prompt: A mug {{ n }}\n"
    project = Project.load(write_catalog(tmp_path / "cat", {"campaigns/a.yaml": body}))
    items = project.plan().items
    paid = [Outcome(p, "built", record={"provider": "vendor"}, takes=[Take(0, "k", "b", True, 0.04, None)])
            for p in items[:2]]
    return paid + [Outcome(items[2], "cached", record={}), Outcome(items[3], "failed", error="refused")]


def test_a_terminal_gets_one_status_line_redrawn_under_the_variant_lines(tmp_path):
    out, clock = io.StringIO(), Clock()
    flying = {"openai": 10, "runapi": 3, "draft": 0}
    p = Progress(200, 8.0, stream=out, tty=True, clock=clock, in_flight=lambda: flying, width=lambda: 200)
    p.tick()
    assert out.getvalue() == CLEAR + ("[0/200] | spent $0.00 of $8.00 estimated | ETA - | elapsed 0s "
                                      "| in flight: openai 10, runapi 3")
    first, second, hit, failed = outcomes(tmp_path)
    clock.now += 30
    p.outcome(first, "  built    a/mug/one")
    clock.now += 30
    p.outcome(second, "  built    a/mug/two")
    p.outcome(hit, "  cached   a/mug/three")
    text = out.getvalue()
    assert text.count("\n") == 3 and "  built    a/mug/one\n" in text  # each variant line stays, once
    assert text.endswith("  cached   a/mug/three\n" + "[3/200] | spent $0.08 of $8.00 estimated | ETA 1h38m "
                         "| elapsed 1m00s | in flight: openai 10, runapi 3")
    # 60 s for the 2 variants that needed work: 30 s each for the 197 left (the cache hit says nothing)
    p.outcome(failed, "  FAILED   a/mug/four refused")
    assert out.getvalue().rsplit("\n", 1)[1].startswith("[4/200] | 1 failed | ")


def test_a_narrow_terminal_gets_the_status_cut_never_wrapped(tmp_path):
    out = io.StringIO()
    p = Progress(200, 8.0, stream=out, tty=True, clock=Clock(), in_flight=lambda: {"openai": 10}, width=lambda: 40)
    p.tick()
    assert out.getvalue() == CLEAR + "[0/200] | spent $0.00 of $8.00 estim..."  # 39 columns: the last one stays free


def test_elsewhere_plain_lines_only_and_a_progress_line_every_interval(tmp_path):
    out, clock = io.StringIO(), Clock()
    p = Progress(4, 0.10, stream=out, tty=False, clock=clock, in_flight=lambda: {"openai": 2}, every_s=30)
    first, second, *_ = outcomes(tmp_path)
    p.outcome(first, "  built    a/mug/one")
    p.tick()  # too soon: nothing
    clock.now += 31
    p.tick()
    p.tick()  # once per interval
    p.outcome(second, "  built    a/mug/two")
    assert out.getvalue().splitlines() == [
        "  built    a/mug/one",
        "progress: [1/4] | spent $0.04 of $0.10 estimated | ETA 1m33s | elapsed 31s | in flight: openai 2",
        "  built    a/mug/two",
    ]
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def test_the_status_line_is_cleared_when_the_build_ends(tmp_path):
    out = io.StringIO()
    with Progress(1, 0.0, stream=out, tty=True) as p:
        p.outcome(outcomes(tmp_path)[0], "  built    a/mug/one")
    assert out.getvalue().endswith(CLEAR)


def test_what_counts_as_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not is_terminal(io.StringIO())
    monkeypatch.setenv("TERM", "xterm")
    assert is_terminal(Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not is_terminal(Tty())


def test_durations():
    assert [duration(s) for s in (0.4, 59, 61, 3599, 3600 * 2 + 125)] == ["0s", "59s", "1m01s", "59m59s", "2h02m"]
