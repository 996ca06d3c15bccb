"""Submitting variants to the batch lane: one JSONL input file per provider entry and endpoint
(split at `options.batch_max_requests` lines, default 1,000, and under the 200 MB input limit),
uploaded through the Files API, then one batch each.

The record of a batch is written *before* anything is sent (state `submitting`, with a random
token that also goes into the batch's metadata), updated with the file id after the upload and
with the batch id once the create answers. A create whose answer is lost is looked up by its
token at once; if that fails too, the record stays `submitting` and the next build resolves it
(pipelines.batch.collect). So a batch is never created twice for a key, and a key in an open batch
is never submitted again: the plan reads the open records first (pipelines.plan.lanes).

Two builds may plan the same keys at once (a schedule tick and a manual build, or two machines
sharing the store). Submitting is therefore one build at a time, under the lease `SUBMIT_LEASE`
(pipelines.coordination: every process on the machine, every machine with `coordination:`), and
under it every key is checked again: one already in an open batch, with a synchronous call in
flight (the journal of paid calls) or already in the store is left out (`Submitted.taken`). The
engine, for its part, asks whether an open batch holds a key right before it pays for it
(pipelines.engine.engine), so a sync-lane build that planned before the batch was submitted skips it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pipelines.cache import batches as records
from pipelines.plan.lanes import batch_entry
from pipelines.plan.plan import Planned
from pipelines.plan.project import Project
from pipelines.plan.requests import image_request
from providers import batch as api
from providers.errors import AmbiguousError, ProviderError

SUBMIT_LEASE = "assetpipe-batch-lane-submit"


@dataclass
class Submitted:
    records: list[dict] = field(default_factory=list)  # open (or still submitting) records
    failed: dict[str, str] = field(default_factory=dict)  # variant key -> why it was not submitted
    taken: dict[str, str] = field(default_factory=dict)  # variant key -> the batch (or record) that has it
    estimate_usd: float = 0.0


def not_taken(project: Project, planned: list[Planned], out: Submitted) -> list[Planned]:
    """`planned` without the keys another build submitted or stored since they were planned."""
    pending = records.open_keys(project.store)
    in_flight = {e.cache_key: e for e in project.journal.open_entries()}  # a synchronous call sent since
    left = []
    for p in planned:
        info = pending.get(p.cache_key)
        if info is not None:
            out.taken[p.key] = f"in batch {info.get('batch_id') or info.get('record')}"
        elif p.cache_key in in_flight:
            out.taken[p.key] = f"a synchronous call of build {in_flight[p.cache_key].short_build}"
        elif project.store.get_action(p.cache_key) is not None:
            out.taken[p.key] = "in the store"
        else:
            left.append(p)
    return left


def items_of(project: Project, planned: list[Planned]) -> dict[tuple[str, str], list[tuple[Planned, dict]]]:
    """(entry, endpoint) -> [(planned, record item)] for everything that goes into batches now."""
    groups: dict[tuple[str, str], list[tuple[Planned, dict]]] = defaultdict(list)
    for p in planned:
        v = p.variant
        entry = batch_entry(project, v.provider)
        req = image_request(p, project.store)
        item = {"variant": v.key, "doc": p.doc, "width": v.width, "height": v.height, "format": v.output_format,
                "compression": v.params.get("compression"), "model": v.model, "operation": v.operation,
                "estimate_usd": round(project.pool.estimate(entry, req, lane="batch"), 6),
                "line": api.line_for(project.pool.get(entry), req)}
        groups[(entry, api.ENDPOINTS[req.operation])].append((p, item))
    return groups


async def submit(project: Project, planned: list[Planned]) -> Submitted:
    out = Submitted()
    async with project.store.lease(SUBMIT_LEASE):  # one submitter at a time (module docstring)
        await _submit_all(project, not_taken(project, planned, out), out)
    return out


async def _submit_all(project: Project, planned: list[Planned], out: Submitted) -> None:
    for (entry, endpoint), group in items_of(project, planned).items():
        provider = project.pool.get(entry)
        limit = int(provider.config.options.get("batch_max_requests") or api.DEFAULT_BATCH_REQUESTS)
        lines = {p.cache_key: api.encode_line(item.pop("line")) for p, item in group}
        too_big = [p for p, _ in group if len(lines[p.cache_key]) > api.MAX_FILE_BYTES]
        for p in too_big:
            out.failed[p.key] = "its request (inputs as data URLs) is larger than a batch input file may be"
        group = [(p, item) for p, item in group if p not in too_big]
        by_key = {p.cache_key: (p, item) for p, item in group}
        for keys in _chunks(list(by_key), lines, limit):
            pool = next((p.variant.provider for p, _ in (by_key[k] for k in keys)
                         if p.variant.provider != entry), None)
            rec = records.new_record(entry, endpoint, {k: by_key[k][1] for k in keys}, pool=pool)
            await _submit_one(project, provider, rec, b"".join(lines[k] for k in keys), out)


def _chunks(keys: list[str], lines: dict[str, bytes], limit: int) -> list[list[str]]:
    sizes = [lines[k] for k in keys]
    out, i = [], 0
    for part in api.chunk(sizes, limit):
        out.append(keys[i:i + len(part)])
        i += len(part)
    return out


async def _submit_one(project: Project, provider, rec: dict, data: bytes, out: Submitted) -> None:
    store = project.store
    records.save(store, rec)  # before anything is sent: a crash from here on leaves a trace
    try:
        rec["input_file_id"] = await api.upload(provider, data, f"assetpipe-{rec['id']}.jsonl")
        records.save(store, rec)
        batch = await api.create(provider, rec["input_file_id"], rec["endpoint"],
                                 {api.TOKEN_KEY: rec["token"], "assetpipe_record": rec["id"]})
    except AmbiguousError:  # the create was sent and its answer lost: the batch may exist
        batch = await _find(provider, rec)
    except ProviderError as exc:  # refused, or never reached: nothing was created, nothing billed
        for key, item in rec["items"].items():
            rec["results"][key] = {"state": "failed", "error": str(exc), "billed": False}
            out.failed[item["variant"]] = str(exc)
        records.close(store, rec)
        return
    out.records.append(rec)
    if batch is None:  # no trace of it yet: stays `submitting`, and a later build resolves it by token
        return
    rec.update(batch_id=batch["id"], state="open", status=batch["status"])
    records.save(store, rec)
    out.estimate_usd += sum(float(i.get("estimate_usd") or 0) for i in rec["items"].values())


async def _find(provider, rec: dict) -> dict | None:
    try:
        return await api.find(provider, rec["token"], created_after=rec["created_ts"] - 3600)
    except ProviderError:
        return None
