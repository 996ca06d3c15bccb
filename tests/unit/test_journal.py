"""The write-ahead journal of paid calls, kept in the store: on a local directory and on an
fsspec URL (memory://, as s3:// would be), through the store's own primitives."""

from __future__ import annotations

import uuid

import pytest

from pipelines.cache.journal import Entry, StoreJournal
from pipelines.cache.store import Store


@pytest.fixture(params=["local", "memory"])
def journal(request, tmp_path) -> StoreJournal:
    url = str(tmp_path / "cache") if request.param == "local" else f"memory://journal-test-{uuid.uuid4().hex}"
    return StoreJournal(Store(url))


def entry(key: str = "ab" * 32, **kw) -> Entry:
    base = dict(cache_key=key, variant="c/p/1", provider="v", vendor="eachlabs", resume_by="job",
                fingerprint="f" * 64, take=0, build="run-1234567890")
    return Entry(**{**base, **kw})


def test_an_entry_is_open_from_its_intent_until_its_outcome(journal):
    e = entry()
    journal.write(e)
    assert [x.id for x in journal.open_for(e.cache_key)] == [e.id]
    assert journal.open_for("cd" * 32) == []
    e.job_id = "pred-1"
    journal.write(e)  # the job id, once known, rewrites the same entry
    [again] = journal.open_entries()
    assert again.job_id == "pred-1" and again.resumable
    journal.close(e, {"result": "stored", "blob": "00" * 32})
    assert journal.open_entries() == []
    [closed] = journal.closed_for(e.cache_key)
    assert closed.outcome == {"result": "stored", "blob": "00" * 32} and closed.closed_at


def test_takes_count_open_and_closed_entries(journal):
    key = "ef" * 32
    a, b = entry(key, take=0, resume_by="take"), entry(key, take=1, resume_by="take")
    journal.write(a)
    journal.write(b)
    journal.close(a, {"result": "failed"})
    assert journal.takes(key) == [0, 1]
    assert journal.takes("12" * 32) == []


def test_a_process_that_died_between_the_two_writes_of_a_close_leaves_it_closed(journal):
    e = entry()
    journal.write(e)
    closed = entry(id=e.id, outcome={"result": "stored"})
    journal.store.write_file(f"journal/closed/{e.cache_key[:2]}/{e.cache_key}/{e.id}.json", closed.to_json())
    assert journal.open_entries() == []  # and the open copy is cleaned up
    assert journal.store.list_files("journal/open") == []


def test_damaged_and_temporary_files_are_skipped(journal):
    journal.write(entry())
    journal.store.write_file("journal/open/" + "ab" * 32 + ".damaged.json", b"{not json")
    journal.store.write_file("journal/open/notes.txt", b"x")
    assert len(journal.open_entries()) == 1


@pytest.mark.parametrize("kw,resumable", [
    (dict(resume_by="job", job_id="pred-1"), True),
    (dict(resume_by="job", job_id=None), False),  # the create's answer was never read
    (dict(resume_by="job", job_id="***"), False),  # an id that held a secret was stored redacted
    (dict(resume_by="take"), True),  # RunAPI: the take's Idempotency-Key replays the task
    (dict(resume_by="none", job_id=None), False),  # synchronous: nothing to pick up
])
def test_resumable(kw, resumable):
    e = entry(**kw)
    assert e.resumable is resumable
    text = e.describe()
    if resumable:
        assert "is collected (no new charge)" in text
    else:
        assert "in flight when build run-1234 stopped: may have been billed once already" in text
