"""`assetpipe init` then `assetpipe build`, as a new user runs them (issue #15, item 17): the starter
catalog builds offline at once, its text check passes, and a second build has nothing to do."""

from __future__ import annotations

import json

from tests.helpers.cli import run_cli


def test_init_then_build_offline(tmp_path):
    code, out, err = run_cli("init", cwd=tmp_path)
    assert code == 0, err
    code, out, err = run_cli("build", cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert code == 0, out + err
    assert "built 1 (free), rendered 1" in out and "Traceback" not in err
    doc = json.loads((tmp_path / "assets_spec" / "out" / "manifest.json").read_text())
    checks = {e["key"]: {k: c["status"] for k, c in e["checks"].items()} for e in doc["variants"]}
    assert checks == {k: {"image_ok": "passed", "text_ok": "passed"}
                      for k in ("first_campaign/hero/en", "first_campaign/hero_square/en")}
    code, out, err = run_cli("build", cwd=tmp_path)
    assert code == 0 and out.startswith("nothing to do"), out + err
