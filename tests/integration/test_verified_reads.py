"""Issue #9 item 4 through the CLI: a stored image whose bytes were replaced or truncated, or an
action record pointed at another variant's image, is never exported to out/ and never fed to an
edit. It is moved to the cache's quarantine/, and the variant is restored from a good copy (free)
or rebuilt (paid: the vendor emulator counts the calls). `plan` never calls such a variant fresh
when its image is missing or the wrong size; `assetpipe verify [--repair]` checks the whole store.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.emulators.openai import TakesOpenAI
from tests.helpers.catalogs import manifest, write_catalog
from tests.helpers.cli import plan_json, run_cli
from tests.helpers.vendors import use_openai

CAMPAIGN = """
    campaign: shop
    assets:
      - name: mug
        prompt: A ceramic mug on a table
        size: 1024x1024
      - name: loft
        edit: {image: mug}
        prompt: Replace the background with a loft
      - name: poster
        matrix: {size: [1024x1536, 1536x1024]}
        prompt: A poster of a mug
    """
POSTER_A, POSTER_B = "shop/poster/1024x1536", "shop/poster/1536x1024"


@pytest.fixture(scope="module")
def emu():
    with TakesOpenAI(latency=0.01) as e:
        yield e


@pytest.fixture(scope="module")
def built(tmp_path_factory, emu) -> tuple[Path, dict[str, str]]:
    cat = write_catalog(tmp_path_factory.mktemp("verified") / "catalog", {
        "catalog.yaml": 'check_text: "off"\nproviders:\n  draft: {type: draft}\n', "campaigns/shop.yaml": CAMPAIGN})
    env = use_openai(cat, emu)
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    return cat, env


@pytest.fixture
def cat(built, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built[0], tmp_path / "catalog", symlinks=True))


def cache(cat: Path) -> Path:
    return cat / ".assetpipe" / "cache"


def head(cat: Path, key: str) -> dict:
    return json.loads((cache(cat) / "heads" / f"{key}.json").read_text())


def blob_path(cat: Path, key: str) -> Path:
    digest = head(cat, key)["blob"]
    return cache(cat) / "blobs" / digest[:2] / digest


def record_path(cat: Path, key: str) -> Path:
    k = head(cat, key)["cache_key"]
    return cache(cat) / "actions" / k[:2] / f"{k}.json"


def out_file(cat: Path, key: str) -> Path:
    return cat / "out" / f"{key}.png"


def flip_a_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quarantined(cat: Path) -> list[Path]:
    return sorted((cache(cat) / "quarantine").rglob("*")) if (cache(cat) / "quarantine").exists() else []


def assert_outputs_are_what_the_manifest_says(cat: Path) -> None:
    for e in manifest(cat)["variants"]:
        if e["path"]:
            assert sha(cat / "out" / e["path"]) == e["sha256"], e["key"]


def test_an_image_changed_in_place_is_rebuilt_never_exported(cat: Path, built, emu) -> None:
    env = built[1]
    tampered = flip_a_byte(blob_path(cat, POSTER_A))  # same size: only a hash can tell
    out_file(cat, POSTER_A).unlink()
    assert plan_json(cat, env=env)[POSTER_A]["status"] == "fresh"  # plan only stats (documented) ...
    code, out, err = run_cli("build", "--dry-run", catalog=cat, env=env)
    assert code == 0 and POSTER_A in out and "no longer matches its sha256" in out  # ... the build hashes
    calls = emu.calls()
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    assert emu.calls() == calls + 1  # rebuilt, paid: the damaged bytes were not used
    assert out_file(cat, POSTER_A).read_bytes() != tampered
    assert_outputs_are_what_the_manifest_says(cat)
    assert any(p.name.startswith("blob-") and p.read_bytes() == tampered for p in quarantined(cat))


def test_a_truncated_image_is_not_fresh_and_comes_back_from_its_exported_copy(cat: Path, built, emu) -> None:
    env = built[1]
    good = out_file(cat, POSTER_B).read_bytes()
    blob_path(cat, POSTER_B).write_bytes(good[:100])
    row = plan_json(cat, env=env)[POSTER_B]
    assert row["status"] == "missing" and "of 100 bytes, but the record says" in row["reason"]
    calls = emu.calls()
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    assert emu.calls() == calls  # restored from out/ (its sha256 is right): nothing paid
    assert "restored from" in out and blob_path(cat, POSTER_B).read_bytes() == good
    assert_outputs_are_what_the_manifest_says(cat)
    assert plan_json(cat, env=env)[POSTER_B]["status"] == "fresh"


def test_a_record_pointed_at_another_variants_image_is_refused(cat: Path, built, emu) -> None:
    env = built[1]
    rec = json.loads(record_path(cat, POSTER_A).read_text())
    other = head(cat, POSTER_B)["blob"]
    record_path(cat, POSTER_A).write_text(json.dumps({**rec, "blob": other}))
    out_file(cat, POSTER_A).unlink()
    assert plan_json(cat, env=env)[POSTER_A]["status"] == "missing"
    calls = emu.calls()
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    assert emu.calls() == calls + 1 and "refused" in out
    assert sha(out_file(cat, POSTER_A)) != other  # never the other variant's picture
    assert (cache(cat) / "blobs" / other[:2] / other).exists()  # which is sound, and kept
    assert_outputs_are_what_the_manifest_says(cat)


def test_a_damaged_edit_input_is_never_sent(cat: Path, built, emu) -> None:
    env = built[1]
    flip_a_byte(blob_path(cat, "shop/mug/default"))
    out_file(cat, "shop/mug/default").write_bytes(flip_a_byte(out_file(cat, "shop/mug/default")))  # no good copy
    campaign = cat / "campaigns" / "shop.yaml"
    campaign.write_text(campaign.read_text().replace("with a loft", "with a sunlit loft"))
    edits = len(emu.requests(path="/v1/images/edits"))
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert len(emu.requests(path="/v1/images/edits")) == edits  # the damaged image went nowhere
    assert "shop/loft/default" in out and "no longer matches its sha256" in out
    assert "the input shop/mug/default is rebuilt by the next build" in out
    assert not any(e["path"] for e in manifest(cat)["variants"] if e["key"] in ("shop/mug/default", "shop/loft/default"))
    code, out, err = run_cli("build", catalog=cat, env=env)  # the next build rebuilds both
    assert code == 0, out + err
    assert_outputs_are_what_the_manifest_says(cat)


def test_a_damaged_edit_input_is_restored_from_its_exported_copy(cat: Path, built, emu) -> None:
    env = built[1]
    flip_a_byte(blob_path(cat, "shop/mug/default"))
    campaign = cat / "campaigns" / "shop.yaml"
    campaign.write_text(campaign.read_text().replace("with a loft", "with a loft at dusk"))
    calls = emu.calls()
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0, out + err
    assert emu.calls() == calls + 1  # the edit only: its input came back from out/
    assert "restored from" in out
    assert sha(blob_path(cat, "shop/mug/default")) == head(cat, "shop/mug/default")["blob"]


def test_verify_reports_damage_and_repairs_it(cat: Path, built, emu) -> None:
    env = built[1]
    code, out, err = run_cli("verify", catalog=cat, env=env)
    assert code == 0, out + err
    assert "blobs:   4 ok, 0 damaged" in out and "records: 4 ok, 0 damaged" in out
    flip_a_byte(blob_path(cat, POSTER_A))  # its exported copy is good: repairable
    blob_path(cat, POSTER_B).write_bytes(b"\x89PNG")
    out_file(cat, POSTER_B).unlink()  # no good copy: quarantined, rebuilt by the next build
    code, out, err = run_cli("verify", catalog=cat, env=env)
    assert code == 1, out + err
    assert "2 damaged" in out and "damage remains" in out and not quarantined(cat)  # nothing changed
    code, out, err = run_cli("verify", "--repair", catalog=cat, env=env)
    assert code == 0, out + err
    assert "1 quarantined, 1 repaired" in out
    code, out, err = run_cli("verify", catalog=cat, env=env)
    assert code == 0 and "quarantine/ held 2 entries" in out
    calls = emu.calls()
    code, out, err = run_cli("build", catalog=cat, env=env)
    assert code == 0 and emu.calls() == calls + 1  # only the quarantined one is paid for again
    assert_outputs_are_what_the_manifest_says(cat)
