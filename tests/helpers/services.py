"""Real servers for the deployment tests, each on a free loopback port in its own temp dir:
PostgreSQL (Debian's postgresql binaries), redis-server (Debian), an S3 endpoint (moto's server
mode, from PyPI). Nothing is mocked; each is stopped and its dir removed when its fixture ends.

    postgres        a PostgreSQL server for the session; `pg_database` a fresh database per test
    redis_server    a redis-server for the session
    s3_server       an S3 server for the session that accepts any credentials; `s3_env` sets the
                    standard AWS variables for one test; `s3_server_auth` checks credentials

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the Debian
package's `postgres` user (else `nobody`) through `subprocess.run(user=...)`, in a data dir made
directly under /tmp (pytest's tmp_path is under a mode-700 dir that user cannot enter). Its unix
socket stays in the data dir; clients connect over TCP. fsync is off: test data is disposable.
A free port is found by binding port 0; a lost race (someone took the port first) is retried.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _terminate(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- PostgreSQL ------------------------------------------------------------------------------------
def pg_bindir() -> Path | None:
    found = [p for p in glob.glob(PG_BIN_GLOB) if p.split("/")[-2].isdigit()]
    return Path(max(found, key=lambda p: int(p.split("/")[-2]))) if found else None


def _server_user() -> str | None:
    """The OS user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and there is neither a 'postgres' nor a 'nobody' user")


@dataclass
class Postgres:
    port: int
    datadir: Path
    user: str | None
    bindir: Path
    superuser: str = "postgres"

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, db: str) -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn_for(name)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], user=self.user, check=check,
                              capture_output=True, text=True, cwd=self.datadir.parent)


@contextlib.contextmanager
def start_postgres(attempts: int = 3, listen: tuple[str, ...] = ("127.0.0.1",),
                   trust: tuple[str, ...] = ()) -> Iterator[Postgres]:
    """initdb into a temp dir, start on a free port, yield; stop and remove. `listen`: the
    addresses to listen on; `trust`: more networks (CIDR) let in without a password."""
    bindir, user = pg_bindir(), _server_user()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install -y postgresql")
    top = Path(tempfile.mkdtemp(prefix="assetpipe-pg-"))
    if user:
        shutil.chown(top, user)
    pg = Postgres(port=0, datadir=top / "data", user=user, bindir=bindir)
    try:
        pg.run("initdb", "-D", str(pg.datadir), "-U", pg.superuser, "--auth=trust", "-E", "UTF8",
               "--locale=C", "--no-sync", "--no-instructions")
        with open(pg.datadir / "pg_hba.conf", "a") as hba:
            hba.writelines(f"host all all {cidr} trust\n" for cidr in trust)
        opts = {"listen_addresses": "'" + ",".join(listen) + "'", "unix_socket_directories": str(pg.datadir),
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "200"}
        for attempt in range(attempts):
            pg.port = free_port()
            o = " ".join([f"-p {pg.port}"] + [f"-c {k}={v}" for k, v in opts.items()])
            r = pg.run("pg_ctl", "-D", str(pg.datadir), "-l", str(top / "server.log"), "-o", o,
                       "-w", "-t", "60", "start", check=False)
            if r.returncode == 0:
                break
            log = (top / "server.log").read_text(errors="replace")[-2000:]
            if "could not bind" not in log or attempt == attempts - 1:
                raise RuntimeError(f"postgres did not start: {r.stdout}{r.stderr}\n{log}")
        yield pg
    finally:
        if (pg.datadir / "postmaster.pid").exists():
            pg.run("pg_ctl", "-D", str(pg.datadir), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(top, ignore_errors=True)


# -- Redis -----------------------------------------------------------------------------------------
@dataclass
class Redis:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextlib.contextmanager
def start_redis(attempts: int = 3) -> Iterator[Redis]:
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("redis-server not found: apt-get install -y redis-server")
    top = Path(tempfile.mkdtemp(prefix="assetpipe-redis-"))
    proc = None
    try:
        for attempt in range(attempts):
            port = free_port()
            proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--dir", str(top), "--daemonize", "no"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(port, proc=proc)
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        yield Redis(port=port, proc=proc)
    finally:
        _terminate(proc)
        shutil.rmtree(top, ignore_errors=True)


# -- S3 (moto's server mode) -----------------------------------------------------------------------
@dataclass
class S3Server:
    port: int
    proc: subprocess.Popen
    region: str = "us-east-1"
    access_key: str = "testing-access-key"
    secret_key: str = "testing-secret-key"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables botocore (so s3fs) reads: what a worker's environment has."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region,
                "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def bucket(self, prefix: str = "assetpipe") -> str:
        """A new, empty bucket: its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@contextlib.contextmanager
def start_s3(auth: bool = False, attempts: int = 3) -> Iterator[S3Server]:
    """`python -m moto.server`: a real HTTP S3 endpoint other processes reach through AWS_ENDPOINT_URL.

    moto accepts any credentials unless INITIAL_NO_AUTH_ACTION_COUNT is set. With `auth=True`
    the first requests (unauthenticated) create an IAM user, its key and an allow-all policy;
    from then on an unknown key id gets 403 InvalidAccessKeyId, a wrong secret 403
    SignatureDoesNotMatch, as on AWS."""
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"} if auth else None
    proc = None
    try:
        for attempt in range(attempts):
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            try:
                wait_port(port, proc=proc, timeout=60)
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        s3 = S3Server(port=port, proc=proc)
        if auth:
            _make_iam_user(s3)
        yield s3
    finally:
        _terminate(proc)


def _make_iam_user(s3: S3Server) -> None:
    import boto3

    iam = boto3.client("iam", endpoint_url=s3.endpoint_url, region_name=s3.region,
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="assetpipe")
    key = iam.create_access_key(UserName="assetpipe")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="assetpipe", PolicyName="s3", PolicyDocument=json.dumps(policy))
    s3.access_key, s3.secret_key = key["AccessKeyId"], key["SecretAccessKey"]


def moto_reset(s3: S3Server) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{s3.endpoint_url}/moto-api/reset", method="POST"))


# -- pytest fixtures -------------------------------------------------------------------------------
def _need(what: str, ok: bool, package: str) -> None:
    """Skip on a developer's machine without the server; in CI (`CI` set, as .ci/run has it) fail:
    .ci/run installs every one of them, so a missing one is a broken CI, not a reason to skip."""
    if not ok:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{what} is not installed here: {package}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    _need("PostgreSQL", pg_bindir() is not None, "apt-get install -y postgresql")
    _need("psycopg", _importable("psycopg"), "pip install -e '.[deploy]'")
    with start_postgres() as pg:
        yield pg


@pytest.fixture
def pg_database(postgres: Postgres) -> str:
    """A fresh database on the session's server, for one test: its URL."""
    return postgres.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    _need("redis-server", bool(shutil.which("redis-server")), "apt-get install -y redis-server")
    with start_redis() as r:
        yield r


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    _need("moto's server", _importable("moto.server") and _importable("s3fs"), "pip install -e '.[deploy,test]'")
    with start_s3() as s3:
        yield s3


@pytest.fixture(scope="session")
def s3_server_auth() -> Iterator[S3Server]:
    _need("moto's server", _importable("moto.server") and _importable("s3fs"), "pip install -e '.[deploy,test]'")
    with start_s3(auth=True) as s3:
        yield s3


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch) -> S3Server:
    """The AWS variables set in this process for one test (botocore and s3fs read them)."""
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    return s3_server


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
