"""The cache on S3 (`cache: s3://bucket/prefix`) through s3fs, against a real S3 HTTP server
(moto's server mode, started by the tests): what the store keeps there, that a reader sees a file
whole or not at all, that a name is created once, and that a missing bucket, refused credentials or
an unreachable endpoint are one clear StoreError before anything is paid, never a traceback and
never a credential."""

from __future__ import annotations

import os
import threading

import pytest

from pipelines.cache.store import Store
from pipelines.errors import StoreError
from tests.helpers.services import free_port

pytestmark = [pytest.mark.slow, pytest.mark.deploy]


def test_blobs_records_heads_and_notes_live_in_the_bucket(s3_env):
    bucket = s3_env.bucket()
    store = Store(f"s3://{bucket}/team/cache")
    store.check()
    digest = store.put_blob(b"pixels")
    assert store.put_blob(b"pixels") == digest and store.blobs_written == 1  # present: not written again
    store.put_action("ab" * 32, {"blob": digest, "cost_usd": 0.04})
    store.put_head("spring/shot/a", {"cache_key": "ab" * 32})
    store.put_note("ocr", digest, {"ok": True})
    with pytest.raises(StoreError, match="is not stored"):
        store.put_action("cd" * 32, {"blob": "ee" * 32})  # a record never points at a missing blob

    fresh = Store(f"s3://{bucket}/team/cache")  # another process, another machine: only the bucket
    assert fresh.read_blob(digest) == b"pixels" and fresh.has_blob(digest)
    assert fresh.get_action("ab" * 32)["cost_usd"] == 0.04
    assert fresh.get_head("spring/shot/a") == {"cache_key": "ab" * 32}
    assert fresh.get_note("ocr", digest) == {"ok": True}
    assert fresh.get_action("cd" * 32) is None
    assert fresh.blob_path(digest).read_bytes() == b"pixels"
    assert s3_env.keys(bucket) == sorted([
        f"team/cache/blobs/{digest[:2]}/{digest}", f"team/cache/actions/ab/{'ab' * 32}.json",
        "team/cache/heads/spring/shot/a.json", f"team/cache/notes/ocr/{digest[:2]}/{digest}.json"])


def test_a_damaged_record_on_s3_is_a_miss(s3_env):
    bucket = s3_env.bucket()
    s3_env.client().put_object(Bucket=bucket, Key=f"c/actions/ab/{'ab' * 32}.json", Body=b'{"blob": "tru')
    assert Store(f"s3://{bucket}/c").get_action("ab" * 32) is None


def test_a_name_is_created_once_whoever_races_for_it(s3_env):
    bucket = s3_env.bucket()
    wins: list[int] = []

    def create(i: int) -> None:
        if Store(f"s3://{bucket}/c").create_file("journal/intent", f"writer {i}".encode()):
            wins.append(i)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(wins) == 1
    assert Store(f"s3://{bucket}/c")._read("journal/intent") == f"writer {wins[0]}".encode()


def test_a_reader_sees_a_file_whole_or_not_at_all(s3_env):
    bucket = s3_env.bucket()
    writer, reader = Store(f"s3://{bucket}/c"), Store(f"s3://{bucket}/c")
    data = os.urandom(8 * 2**20)
    seen: set[int] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            got = reader._read("blobs/big")
            seen.add(-1 if got is None else len(got))
            if got is not None:
                assert got == data
                return

    t = threading.Thread(target=poll)
    t.start()
    writer._write("blobs/big", data)
    t.join(30)
    done.set()
    assert seen <= {-1, len(data)} and len(data) in seen


def test_a_missing_bucket_is_one_clear_error(s3_env):
    store = Store("s3://no-such-bucket-assetpipe/cache")
    with pytest.raises(StoreError) as err:
        store.check()
    assert "s3://no-such-bucket-assetpipe/cache" in str(err.value) and "not found" in str(err.value)
    with pytest.raises(StoreError):  # and without the check: exists() says False, the write fails clearly
        store.put_blob(b"pixels")


@pytest.mark.parametrize("change, expected", [
    ({"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN000000000"}, "access refused"),
    ({"AWS_SECRET_ACCESS_KEY": "wrong-secret-value-0123456789"}, "access refused"),
])
def test_refused_credentials_are_one_clear_error_without_the_secret(s3_server_auth, monkeypatch, change, expected):
    env = {**s3_server_auth.env, **change}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bucket = _bucket_with(s3_server_auth)
    with pytest.raises(StoreError) as err:
        Store(f"s3://{bucket}/cache").check()
    assert expected in str(err.value)
    assert env["AWS_SECRET_ACCESS_KEY"] not in str(err.value)
    for k, v in s3_server_auth.env.items():  # the right credentials work on the same server
        monkeypatch.setenv(k, v)
    Store(f"s3://{bucket}/cache").check()


def test_no_credentials_and_no_endpoint_are_clear_errors(s3_server, monkeypatch, tmp_path):
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(StoreError, match="no credentials"):
        Store("s3://any-bucket/cache").check()
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StoreError, match="cannot connect to the endpoint"):
        Store("s3://any-bucket/cache").check()


def _bucket_with(s3) -> str:
    return s3.bucket()



def test_the_journal_of_paid_calls_is_shared_through_the_bucket(s3_env):
    """What one machine journals before a create, another sees: open while the call is unsettled,
    closed with its outcome once it lands, with no stale listing in between."""
    from pipelines.cache.journal import Entry, StoreJournal

    bucket = s3_env.bucket()
    writer, reader = StoreJournal(Store(f"s3://{bucket}/c")), StoreJournal(Store(f"s3://{bucket}/c"))
    other = Entry(cache_key="cd" * 32, variant="c/p/2", provider="each", vendor="eachlabs", resume_by="job",
                  fingerprint="f" * 64, take=0, build="run-1234567890")
    writer.write(other)
    assert [x.id for x in reader.open_entries()] == [other.id]  # a listing the reader could cache...
    e = Entry(cache_key="ab" * 32, variant="c/p/1", provider="each", vendor="eachlabs", resume_by="job",
              fingerprint="f" * 64, take=0, build="run-1234567890")
    writer.write(e)
    e.job_id = "pred-42"
    writer.write(e)
    [seen] = reader.open_for("ab" * 32)  # ...but it lists again and sees the new entry
    assert seen.id == e.id and seen.job_id == "pred-42" and seen.resumable
    writer.close(e, {"result": "stored"})
    writer.close(other, {"result": "stored"})
    assert reader.open_entries() == []
    [closed] = reader.closed_for("ab" * 32)
    assert closed.outcome == {"result": "stored"} and reader.takes("ab" * 32) == [0]
    assert [k for k in s3_env.keys(bucket) if "/open/" in k] == []


def test_listing_or_deleting_in_a_missing_bucket_is_a_store_error(s3_env):
    store = Store("s3://no-such-bucket-assetpipe/cache")
    assert store.list_files("journal/open") == []  # nothing there: a listing of a missing bucket is empty
    store.delete_file("journal/open/x.json")  # and deleting what is not there is done
    with pytest.raises(StoreError, match="no-such-bucket-assetpipe"):
        store.write_file("journal/open/x.json", b"{}")
