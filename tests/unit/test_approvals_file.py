"""approvals.yaml as a file: what it reads back, what a broken one says (path:line), that writers
under its lock lose nothing, and the review state table."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from pipelines.errors import CatalogError
from pipelines.review import approvals
from pipelines.review.approvals import Entry, Review
from pipelines.review.explain import word_diff
from pipelines.review.states import state_of

A, B, C = "a" * 64, "b" * 64, "0123456789" * 6 + "abcd"
KEY = "brewlab_launch/launch_poster/de/1024x1536"


def entry(status="approved", sha=A, **kw) -> Entry:
    return Entry(status=status, sha256=sha, by=kw.pop("by", "ana"), at=kw.pop("at", "2026-12-01T10:00:00Z"), **kw)


def test_one_line_per_variant_sorted_and_read_back_exactly():
    entries = {
        KEY: entry(note="ok"),
        "a_campaign/x/default": entry("rejected", B, by="Zoë Lima", take=2, approved=Review(sha256=C, by="yes", at="2026-11-30T09:00:00Z"),
                                      note='says "Brew"\nsecond line # not a comment, {not: flow}'),
        "zeta/y/zh-CN/1536x1024": entry(by="null", note="true"),
    }
    text = approvals.dumps(entries)
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert [r.split(":", 1)[0] for r in rows] == sorted(entries)  # one line each, sorted by key
    assert rows[1] == (f"{KEY}: {{status: approved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z, note: ok}}")
    assert approvals.parse(text, "approvals.yaml") == entries


def test_a_missing_file_is_no_entries(tmp_path):
    assert approvals.read(tmp_path / "approvals.yaml") == {}


BROKEN = [
    # (file body after the header, expected line, words the message must contain)
    (f"{KEY}: {{status: approved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z\n", 1, "not closed"),
    (f"x/y/z: {{status: approved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z}}\n"
     f"{KEY}: {{statuss: approved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z}}\n", 2, "did you mean 'status'"),
    (f"{KEY}: {{status: aproved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z}}\n", 1, "status"),
    (f"{KEY}: {{status: approved, sha256: 1234, by: ana, at: 2026-12-01T10:00:00Z}}\n", 1, "sha256"),
    (f"{KEY}: {{status: approved, sha256: {A}, by: ana, at: yesterday}}\n", 1, "2026-12-01T10:00:00Z"),
    (f"{KEY}: {{status: approved, sha256: {A}, by: ana}}\n", 1, "missing field 'at'"),
    (f"{KEY}: approved\n", 1, "must be a mapping"),
    (f"not-a-key: {{status: approved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z}}\n", 1, "not a variant key"),
]


@pytest.mark.parametrize("body, line, words", BROKEN)
def test_a_hand_edited_mistake_is_a_path_line_error(body, line, words):
    with pytest.raises(CatalogError) as exc:
        approvals.parse(approvals.HEADER + body, "cat/approvals.yaml")
    issue = exc.value.issues[0]
    assert (issue.path, issue.line) == ("cat/approvals.yaml", line + 2), exc.value  # +2: the header
    assert words in issue.message


def test_merge_conflict_markers_are_named_by_line():
    ours = f"{KEY}: {{status: approved, sha256: {A}, by: ana, at: 2026-12-01T10:00:00Z}}\n"
    theirs = f"{KEY}: {{status: rejected, sha256: {A}, by: bo, at: 2026-12-02T10:00:00Z, take: 1}}\n"
    text = f"# header\n<<<<<<< HEAD\n{ours}=======\n{theirs}>>>>>>> feature\n"
    with pytest.raises(CatalogError) as exc:
        approvals.parse(text, "approvals.yaml")
    assert [i.line for i in exc.value.issues] == [2, 4, 6]
    assert all("merge conflict" in i.message for i in exc.value.issues)


def test_update_never_writes_over_a_broken_file(tmp_path):
    catalog = SimpleNamespace(approvals_path=tmp_path / "approvals.yaml", state_dir=tmp_path / ".assetpipe",
                              rel=lambda p: str(p))
    broken = approvals.HEADER + f"{KEY}: {{status: approved, sha256: {A}\n"
    catalog.approvals_path.write_text(broken)
    with pytest.raises(CatalogError):
        approvals.update(catalog, lambda entries: entries.update({KEY: entry()}))
    assert catalog.approvals_path.read_text() == broken


def test_threads_writing_at_once_lose_no_entry(tmp_path):
    catalog = SimpleNamespace(approvals_path=tmp_path / "approvals.yaml", state_dir=tmp_path / ".assetpipe",
                              rel=lambda p: str(p))

    def writer(n: int) -> None:
        for i in range(15):
            approvals.update(catalog, lambda entries, i=i: entries.update({f"c/a{n}/v{i}": entry()}))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(approvals.read(catalog.approvals_path)) == 60


@pytest.mark.parametrize("e, built, next_, state", [
    (None, A, A, "pending"),
    (None, None, None, "pending"),
    (entry(), A, A, "approved"),
    (entry(), B, B, "changed"),  # a new take was built
    (entry(), A, None, "changed"),  # the recipe changed: a build would pay for another take
    (entry(), B, A, "changed"),  # the approved take is in the cache, not yet back in output_dir
    (entry("rejected", A, take=1), A, None, "rejected"),
    (entry("rejected", A, take=1), B, B, "pending"),  # retaken; nothing was ever approved
    (entry("rejected", A, take=1, approved=Review(sha256=C, by="ana", at="2026-12-01T10:00:00Z")), B, B, "changed"),
])
def test_review_states(e, built, next_, state):
    assert state_of(e, built, next_) == state


def test_word_diff_marks_the_changed_words_and_shortens_the_rest():
    old = 'A minimalist poster reading "Gebrüht für Macher", tagline "Kleine Charge", bold type, warm light, BREW LAB'
    new = old.replace("Gebrüht", "Gebraut")
    assert word_diff(old, new) == 'A minimalist poster reading [-"Gebrüht-] {+"Gebraut+} für Macher", tagline "Kleine …'
    assert word_diff("a b", "a b") == "a b"
