"""The `assetpipe` command line: init, validate, plan, build, verify, ui, approve, reject, explain, review.

Exit codes: 0 success; 1 a catalog error, a refused or failed build; 2 a usage error.

Each command lives in its own module, imported when that command runs (COMMANDS below): `ui`'s
module imports Dagster, and `validate`, `plan` and a build with nothing to do never do (~0.7 s,
and most builds are no-ops). tests/integration/test_layering.py holds that.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from pathlib import Path

from pipelines.catalog.loader import CATALOG_ENV, default_catalog_dir
from pipelines.errors import (
    AssetpipeError,
    BudgetExceeded,
    CatalogError,
    SelectionError,
)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, except where there is none to show (a flag, an unset value)."""

    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


CATALOG_HELP = f"catalog directory (default: ${CATALOG_ENV}, else ./assets_spec)"


def _version() -> str:
    try:
        return importlib.metadata.version("assetpipe")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="assetpipe", description="Build generated image catalogs, cached by content hash.",
                                 formatter_class=_Help)
    ap.add_argument("--catalog", type=Path, default=None, metavar="DIR", help=CATALOG_HELP)
    ap.add_argument("--version", action="version", version=f"assetpipe {_version()}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    i = sub.add_parser("init", help="write a new, minimal, commented catalog that builds offline at once")
    i.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                   help="where (new or empty; default: --catalog, $ASSETPIPE_CATALOG, else ./assets_spec)")
    sub.add_parser("validate", help="check the catalog; print every problem as path:line: message")
    p = sub.add_parser("plan", help="what a build would do: status, why, estimated cost")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--select", nargs="*", metavar="SEL", help="campaign, campaign/asset, key glob, locale=de, +sel, sel+")
    p.add_argument("--lane", choices=["sync", "batch"], help="price the build in this lane (default: catalog.yaml's)")
    b = sub.add_parser("build", help="materialize missing and changed variants through Dagster")
    b.add_argument("--select", nargs="*", metavar="SEL",
                   help="only these (and the missing upstreams they need): campaign, campaign/asset, key glob, "
                        "locale=de, +sel, sel+; several are a union")
    b.add_argument("--max-cost", type=float, metavar="USD", help="refuse (spend nothing) if the estimate is higher")
    b.add_argument("--refresh", action="store_true", help="pay for a new take of the selected variants, even if cached")
    b.add_argument("--dry-run", action="store_true", help="print what would be built and its cost; build nothing")
    b.add_argument("--retry-maybe-billed", action="store_true",
                   help="re-send variants held because an earlier call may have been billed (pays again)")
    b.add_argument("--lane", choices=["sync", "batch"],
                   help="sync: call now; batch: OpenAI's Batch API at half the price, collected by later builds "
                        "(default: the campaign's or catalog.yaml's `lane:`)")
    b.add_argument("--wait", action="store_true", help="with the batch lane: wait for the batches and collect them")
    c = sub.add_parser("verify", help="check every image and record of the cache (sha256, decode); exit 1 on damage")
    c.add_argument("--repair", action="store_true",
                   help="restore damaged images from good copies, else move them and their records to quarantine")
    u = sub.add_parser("ui", help="the Dagster UI (webserver + daemon) on this catalog")
    u.add_argument("--host", default="127.0.0.1", help="address the webserver listens on; 127.0.0.1 is this machine only")
    u.add_argument("--port", type=int, default=3000, help="port of the webserver")
    _review_commands(sub)
    _on_every_command(sub)
    return ap


def _review_commands(sub) -> None:
    sel_help = "campaign, campaign/asset, key glob, locale=de, +sel, sel+ (as build --select)"
    a = sub.add_parser("approve", help="approve each selected variant's built image (pinned to its sha256)")
    a.add_argument("selection", nargs="+", metavar="SEL", help=sel_help)
    a.add_argument("--note", help="why, for the reviewers after you")
    r = sub.add_parser("reject", help="reject the built take: the next build pays for a new one")
    r.add_argument("selection", nargs="+", metavar="SEL", help=sel_help)
    r.add_argument("--note", required=True, help="what is wrong with it")
    e = sub.add_parser("explain", help="what differs between the recipe and the built / approved take")
    e.add_argument("selection", nargs="+", metavar="SEL", help=sel_help)
    e.add_argument("--json", action="store_true", help="machine-readable output")
    w = sub.add_parser("review", help="a local review page: approve and reject in the browser")
    w.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    w.add_argument("--port", type=int, default=8470, help="port of the review page")


def _on_every_command(sub) -> None:
    """`--catalog` is accepted after the command too (`assetpipe plan --catalog X`), and every
    command's help shows its defaults."""
    for parser in sub.choices.values():
        parser.formatter_class = _Help
        if not any("--catalog" in a.option_strings for a in parser._actions):
            parser.add_argument("--catalog", type=Path, default=argparse.SUPPRESS, metavar="DIR", help=CATALOG_HELP)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    catalog_dir = args.catalog or default_catalog_dir()
    try:
        return _command(args.command)(catalog_dir, args)
    except CatalogError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        n = len(exc.issues)
        print(f"{n} problem{'s' if n != 1 else ''} in the catalog", file=sys.stderr)
        return 1
    except BudgetExceeded as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except SelectionError as exc:  # a usage error, like argparse's own
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AssetpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # before the build's run started (it stops gracefully itself)
        print("interrupted: finished variants are kept in the cache", file=sys.stderr)
        return getattr(exc, "exit_code", 130)


COMMANDS = {
    "init": "pipelines.cli.init:cmd_init",
    "validate": "pipelines.cli.inspect:cmd_validate",
    "plan": "pipelines.cli.inspect:cmd_plan",
    "build": "pipelines.cli.build:cmd_build",
    "ui": "pipelines.cli.ui:cmd_ui",
    "verify": "pipelines.cli.verify:cmd_verify",
    "approve": "pipelines.cli.approve:cmd_approve",
    "reject": "pipelines.cli.reject:cmd_reject",
    "explain": "pipelines.cli.explain:cmd_explain",
    "review": "pipelines.cli.review:cmd_review",
}


def _command(name: str):
    module, _, func = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), func)


if __name__ == "__main__":
    sys.exit(main())
