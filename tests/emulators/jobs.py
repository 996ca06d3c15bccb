"""What the asynchronous-job vendors (EachLabs, RunAPI) share: a POST creates a job, polling it
reports statuses over time, and it ends with a result URL on this server, or a failure.

A job counts as in flight (the per-key `limit`, `stats`) from its create until it reaches a
terminal state, which it does once `latency` seconds have passed AND it has been polled through
every `running_statuses` spelling. Result images are served by this same server (`/files/...`).

Content faults, queued with `emu.inject(kind, on=<create path>, method="POST")` (or set for every
new job as `emu.default_fault`): the create consumes them and the job carries them.

    job_failed, moderation, cancelled          the job ends failed or cancelled, in the vendor's words
    truncated_image, expired_url, no_output    the job succeeds with a result that is no good
    timeout_after_create                       the job is created, then the answer is lost
                                               (`seconds=` past the client's timeout)

Transport faults (429, any status, malformed_json, timeout, disconnect, empty) come from the
harness. A vendor subclass validates and answers its own create and poll routes (calling
`start_job`, `answer_lost` and `poll`), names its create route (`is_create`), draws a finished
job's image (`result`) and words the failures (`failures`).
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.emulators.harness import Emulator, Request

STATES = ("running", "completed", "failed", "cancelled")


@dataclass
class Job:
    id: str
    key: str | None
    action: str  # what was asked for: a model slug, an endpoint
    input: dict[str, Any]
    started: float
    fault: str | None = None
    polls: int = 0
    state: str = "running"  # one of STATES
    url: str | None = None
    error: str | None = None
    cost: float = 0.0


class AsyncJobEmulator(Emulator):
    """Knobs are plain attributes: set them in a test before (or between) calls."""

    # fault -> (terminal state, the vendor's error text)
    failures: dict[str, tuple[str, str]] = {
        "job_failed": ("failed", "Generation failed"),
        "moderation": ("failed", "Request blocked by the content policy (moderation)"),
        "cancelled": ("cancelled", "Job was cancelled"),
    }

    def __init__(
        self,
        *,
        latency: float = 0.0,  # seconds a job runs
        limit: int | None = 10,  # jobs in flight per key
        public_url: str | None = None,  # image inputs must lie under this https URL
        running_statuses: tuple[str, ...] = ("processing",),
        completed_status: str = "completed",
        failed_status: str = "failed",
        cancelled_status: str = "cancelled",
        request_delay: float = 0.0,  # per HTTP request, on top of the job's run time
        **kw: Any,
    ):
        super().__init__(latency=0.0, limit=limit, **kw)
        self.run_time = float(latency)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.running_statuses = tuple(running_statuses)
        self.completed_status = completed_status
        self.failed_status = failed_status
        self.cancelled_status = cancelled_status
        self.request_delay = request_delay
        self.default_fault: str | None = None  # a content fault every new job carries
        self.jobs: dict[str, Job] = {}
        self.jobs_lock = threading.Lock()

    # -- for subclasses
    def is_create(self, path: str) -> bool:
        raise NotImplementedError

    def result(self, job: Job) -> tuple[bytes, str, float]:
        """A finished job's image: (bytes, file extension, cost in USD)."""
        raise NotImplementedError

    # -- what the harness asks
    def counted(self, req: Request) -> bool:
        return False  # jobs are counted from create to terminal state, not per request

    def request_latency(self, req: Request) -> float:
        return self.request_delay

    @property
    def creates(self) -> list:
        """Every create POST this emulator was sent (accepted or not)."""
        return [r for r in self.requests("POST") if self.is_create(r.path)]

    # -- inputs
    def url_problem(self, url: Any) -> str | None:
        """Why a vendor would refuse to fetch this image input, or None."""
        if not isinstance(url, str) or url.startswith("data:"):
            return "data URIs are not accepted: use a publicly reachable HTTPS URL"
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname in (None, "localhost", "127.0.0.1", "::1"):
            return f"only publicly reachable HTTPS URLs are accepted, not {url[:60]!r}"
        if self.public_url and not url.startswith(self.public_url + "/"):
            return f"{url[:60]!r} is not under the allowed storage"
        return None

    # -- the life of a job
    def start_job(self, req: Request, action: str, inp: dict[str, Any]) -> Job | None:
        """A new job for the request's key, or None when the key is at its limit.
        Callers hold `jobs_lock`."""
        self._sweep()
        if not self.acquire(req.key):
            return None
        job = Job(id=str(uuid.uuid4()), key=req.key, action=action, input=inp, started=time.monotonic(),
                  fault=req.fault.kind if req.fault else self.default_fault)
        self.jobs[job.id] = job
        return job

    def answer_lost(self, req: Request, job: Job) -> bool:
        """For `timeout_after_create`: sleep past the client's timeout; True when the create's
        answer must then be dropped (the job exists and the client never hears of it)."""
        if job.fault != "timeout_after_create":
            return False
        time.sleep(float(req.fault.get("seconds", 1.0)) if req.fault else 1.0)
        return True

    def poll(self, req: Request, job_id: str, action: str | None = None) -> tuple[Job, str | None] | None:
        """(a snapshot of the job, its running status word or None once terminal), advancing it
        by one poll; None when this key has no such job."""
        with self.jobs_lock:
            self._sweep()
            job = self.jobs.get(job_id)
            if job is None or job.key != req.key or (action is not None and job.action != action):
                return None
            running = None
            if job.state == "running":
                running = self.running_statuses[min(job.polls, len(self.running_statuses) - 1)] \
                    if self.running_statuses else "processing"
                job.polls += 1
            return copy.copy(job), running

    def status_of(self, job: Job) -> str:
        """The vendor's word for a terminal state."""
        return {"completed": self.completed_status, "failed": self.failed_status,
                "cancelled": self.cancelled_status}[job.state]

    def _sweep(self) -> None:
        """Finish every job whose time has come (callers hold jobs_lock)."""
        now = time.monotonic()
        for job in self.jobs.values():
            if job.state == "running" and now - job.started >= self.run_time \
                    and job.polls >= len(self.running_statuses):
                self._finish(job)

    def _finish(self, job: Job) -> None:
        failure = self.failures.get(job.fault or "")
        if failure is not None:
            job.state, job.error = failure
            if self.echo_key:  # a vendor that quotes the request, key and all, in its failure text
                job.error += f" (request by {job.key})"
        else:
            job.state = "completed"
            data, ext, job.cost = self.result(job)
            if job.fault == "truncated_image":
                data = data[: len(data) // 2]
            if job.fault != "no_output":
                job.url = self.result_url or self.put_file(data, ext)
                if job.fault == "expired_url":
                    self.expire(job.url)
        self.release(job.key)
