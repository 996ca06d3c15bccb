"""`assetpipe review` in headless Chromium (Debian's): a reviewer approves and rejects with the
mouse, the keyboard and a selection, and approvals.yaml says exactly that; another origin on the
same machine cannot write; and the page as the README shows it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from pipelines.review import approvals
from tests.helpers.catalogs import copy_built, set_setting
from tests.helpers.cli import run_cli
from tests.helpers.paths import ASSETPIPE
from tests.helpers.webserver import free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHANGED = ("brewlab_launch/launch_poster/de/1024x1536", "brewlab_launch/launch_poster/de/1536x1024",
           "brewlab_launch/poster_story/de")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reviewed(draft_example_built, tmp_path_factory):
    """The example with brewlab_launch approved by ana, then the German headline edited and built:
    3 variants changed, cold_brew_summer's 9 pending."""
    cat = copy_built(draft_example_built[0], tmp_path_factory.mktemp("review") / "catalog")
    set_setting(cat, "publish", "{dir: published}")
    for args in (["approve", "brewlab_launch"], ["build"]):
        if args == ["build"]:
            locale = cat / "locales" / "de.yaml"
            locale.write_text(locale.read_text().replace("Gebrüht für Macher", "Gebraut für Macher"))
        code, out, err = run_cli(*args, catalog=cat, env={"ASSETPIPE_REVIEWER": "ana"})
        assert code == 0, out + err
    return cat


@pytest.fixture
def server(reviewed):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ASSETPIPE_CATALOG", "DAGSTER_HOME")}
    env["ASSETPIPE_REVIEWER"] = "rita"
    proc = subprocess.Popen([str(ASSETPIPE), "--catalog", str(reviewed), "review", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        yield match.group(1), match.group(2), reviewed
    finally:
        proc.terminate()
        proc.wait(10)


def open_review(chromium, url: str, token: str, width: int = 1400, height: int = 1000):
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/?token={token}")
    page.wait_for_selector("article.card")
    return page, errors


def wait_status(page, text: str) -> None:
    page.wait_for_function("(t) => document.querySelector('#status').textContent.includes(t)", arg=text)


def test_approve_and_reject_in_the_browser_write_approvals_yaml(server, chromium):
    url, token, cat = server
    page, errors = open_review(chromium, url, token)
    assert page.locator("[data-count=awaiting]").inner_text() == "12"
    first = page.locator("article.card").first
    assert first.get_attribute("data-key") == CHANGED[0] and first.get_attribute("data-state") == "changed"
    assert first.locator("figure").count() == 2  # the approved take beside the new one
    page.wait_for_function("() => Array.from(document.querySelectorAll('article.card')[0].querySelectorAll('img'))"
                           ".every(i => i.complete && i.naturalWidth === 1024)")
    assert '[-"Gebrüht-] {+"Gebraut+}' in first.locator("pre.explain").inner_text()

    first.locator("button.approve").click()  # the mouse
    wait_status(page, "approved 1 variant")
    page.wait_for_function("(k) => !document.querySelector(`article.card[data-key='${k}']`)", arg=CHANGED[0])

    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")  # the keyboard: next, previous, then reject with a note
    page.keyboard.press("k")
    target = page.locator("article.card.current").get_attribute("data-key")
    assert target == CHANGED[1]
    page.keyboard.press("r")
    page.keyboard.type("the crop cuts the tagline")
    page.keyboard.press("Enter")
    wait_status(page, "rejected 1 variant")

    page.locator("[data-filter=pending]").click()  # a selection: two pending cards
    picked = [page.locator("article.card").nth(i).get_attribute("data-key") for i in (0, 1)]
    for i in (0, 1):
        page.locator("article.card").nth(i).locator("input.pick").check()
    page.fill("#bulk-note", "summer set ok")
    page.locator("#approve-selected").click()
    wait_status(page, "approved 2 variant")
    assert not errors

    entries = approvals.read(cat / "approvals.yaml")
    heads = {e["key"]: e for e in json.loads((cat / "out" / "manifest.json").read_text())["variants"]}
    assert entries[CHANGED[0]].status == "approved" and entries[CHANGED[0]].by == "rita"
    assert entries[CHANGED[0]].sha256 == heads[CHANGED[0]]["sha256"]
    assert (entries[target].status, entries[target].note, entries[target].by) == ("rejected", "the crop cuts the tagline", "rita")
    assert entries[target].sha256 == heads[target]["sha256"] and entries[target].take == 1
    for key in picked:
        assert (entries[key].status, entries[key].note, entries[key].sha256) == ("approved", "summer set ok", heads[key]["sha256"])
    assert len(entries) == 11 + 2  # brewlab_launch's 11 by ana, and the two picked
    published = cat / "published" / "brewlab_launch" / "launch_poster" / "de" / "1024x1536.png"
    assert sha(published) == heads[CHANGED[0]]["sha256"]  # the approval published the new take


class _Attacker(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802
        page = f"""<!doctype html><body><iframe name=sink></iframe>
          <form id=f method=post target=sink action="{self.target}/api/decide" enctype="text/plain"><input name='{{"action":"approve","keys":["x"],"n":"' value='"}}'></form><script>
          const body = JSON.stringify({{action: "reject", keys: ["brewlab_launch/mug_hero/default"], note: "pwned"}});
          window.results = [];
          fetch("{self.target}/api/decide", {{method: "POST", credentials: "include", body,
                 headers: {{"Content-Type": "application/json", "X-Assetpipe-Token": "guess"}}}})
            .then(r => results.push("fetch " + r.status), e => results.push("fetch blocked"))
            .then(() => fetch("{self.target}/api/decide", {{method: "POST", mode: "no-cors", credentials: "include", body}}))
            .then(r => results.push("no-cors sent"), e => results.push("no-cors blocked"))
            .then(() => {{ document.getElementById("f").submit(); results.push("done"); }});
        </script></body>"""
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_another_origin_cannot_write_even_with_the_reviewers_cookie(server, chromium):
    url, token, cat = server
    before = (cat / "approvals.yaml").read_text()
    page, _ = open_review(chromium, url, token)  # the reviewer's browser holds the session cookie
    handler = type("Attacker", (_Attacker,), {"target": url})
    evil = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        other = page.context.new_page()  # same browser profile, another origin (another port)
        other.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        other.wait_for_function("() => window.results && window.results.includes('done')")
        other.wait_for_timeout(1000)  # the form's post, into the iframe
        assert other.evaluate("() => results") == ["fetch blocked", "no-cors sent", "done"]  # the tries were made
    finally:
        evil.shutdown()
    assert (cat / "approvals.yaml").read_text() == before

    # and without a browser: no cookie, a wrong token, a foreign Origin, a rebinding Host
    body = {"action": "reject", "keys": ["brewlab_launch/mug_hero/default"], "note": "x"}
    cookie = {"Cookie": f"assetpipe_review_{url.rsplit(':', 1)[1]}={token}"}
    ok_headers = {**cookie, "X-Assetpipe-Token": token}
    assert httpx.post(f"{url}/api/decide", json=body).status_code == 403
    assert httpx.post(f"{url}/api/decide", json=body, headers={**cookie, "X-Assetpipe-Token": "nope"}).status_code == 403
    assert httpx.post(f"{url}/api/decide", json=body, headers={**ok_headers, "Origin": "http://evil.test"}).status_code == 403
    assert httpx.post(f"{url}/api/decide", json=body, headers={**ok_headers, "Host": "evil.test"}).status_code == 403
    assert httpx.get(f"{url}/api/variants").status_code == 403
    assert httpx.get(f"{url}/api/variants", headers={**cookie, "Host": "rebound.evil.test"}).status_code == 403
    assert (cat / "approvals.yaml").read_text() == before
