"""Hostile catalogs: pure data describing one bad catalog per case and what assetpipe must do with it.

Every case is a small tree of files (`files`, relative to the catalog directory; `outside`, relative
to the sandbox that holds the catalog) plus the expectation issue #9 sets for hostile input:

    exit 1, a `path:line: message` on stderr naming the right file (and line where meaningful),
    no traceback, finished under 10 s and 500 MB RSS, nothing read or written outside the catalog.

Issue #15's message cases (items 9-15) add wording expectations (`messages`, `forbid`, `at_most`).

The sandbox a runner builds for a case:

    <sandbox>/                 the working directory of every command
      cat/                     the catalog (CATALOG_NAME); `files` go here
      cat_evil/ outside/       `outside` files go here (outside/canary.txt always exists)
      home/ tmp/               HOME and TMPDIR of the command

Tokens replaced in text, in Repeat parts and in symlink targets (never in bytes):
    %OUTSIDE%   absolute path of <sandbox>/outside
    %SANDBOX%   absolute path of <sandbox>
    %CANARY%    a random token for the run; it is planted only outside the catalog, so seeing it in
                any output or written file proves a read outside the catalog
"""

from __future__ import annotations

import struct
import textwrap
import zlib
from dataclasses import dataclass, field
from typing import Union

CATALOG_NAME = "cat"
SETTINGS = 'check_text: "off"\n'
CANARY_FILE = "outside/canary.txt"
OUTSIDE, SANDBOX, CANARY = "%OUTSIDE%", "%SANDBOX%", "%CANARY%"
DEFAULT_COMMANDS: tuple[tuple[str, ...], ...] = (("validate",), ("plan",), ("build", "--dry-run"))
# a real (offline, draft) build too: where today's code accepts the catalog, only the build shows what
# an outside read leaks into out/ (manifest, gallery). A build starts Dagster: it is allowed 60 s.
WITH_BUILD = DEFAULT_COMMANDS + (("build",),)
BUILD_TIME_LIMIT_S = 60.0


# -- file kinds -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Symlink:
    target: str  # relative to the link's directory, or absolute (tokens allowed)


@dataclass(frozen=True)
class Directory:
    """An (empty) directory where a file belongs."""


@dataclass(frozen=True)
class Fifo:
    """A named pipe where a file belongs: opening it for reading blocks until a writer comes."""


@dataclass(frozen=True)
class Repeat:
    """head + unit * count + tail, written in chunks (files too large to hold as one literal)."""
    head: str
    unit: str
    count: int
    tail: str = ""


@dataclass(frozen=True)
class Png:
    """A PNG of width x height: 8-bit grey when small, 1-bit when large (a decompression bomb)."""
    width: int
    height: int


FileValue = Union[str, bytes, Symlink, Directory, Fifo, Repeat, Png, None]  # None: do not create


@dataclass(frozen=True)
class At:
    """A `path:line` row the error output must contain. `file` is catalog-relative; alternatives
    are separated by '|'. `line`: a number, a needle (the 1-based line of the file where it occurs
    once), or None for any line."""
    file: str
    line: Union[int, str, None] = None  # a needle may hold alternatives separated by '|'


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    files: dict[str, FileValue]
    outside: dict[str, FileValue] = field(default_factory=dict)
    at: tuple[At, ...] = ()  # every one must match some `path:line: message` row (when exit != 0)
    messages: tuple[str, ...] = ()  # substrings stdout+stderr must contain (case-insensitive)
    forbid: tuple[str, ...] = ()  # substrings stdout+stderr must not contain
    at_most: tuple[tuple[str, int], ...] = ()  # (substring, n): at most n output lines contain it
    exit_code: Union[int, tuple[int, ...]] = 1
    commands: tuple[tuple[str, ...], ...] = DEFAULT_COMMANDS
    same_exit: bool = False  # every command must exit the same way (validate agrees with build)
    time_limit_s: float = 10.0
    rss_limit_mb: int = 500
    source: str = "#9"


def expected_rows(case: Case, at: At) -> list[tuple[str, frozenset[int] | None]]:
    """(file, acceptable lines or None for any) for each alternative file of an `At`. A needle
    (alternatives separated by '|') gives the lines of the file where it occurs; in a file that
    is not text or does not contain it, any line is accepted. At least one file must contain it."""
    rows: list[tuple[str, frozenset[int] | None]] = []
    found = False
    for rel in at.file.split("|"):
        if at.line is None or isinstance(at.line, int):
            rows.append((rel, None if at.line is None else frozenset({at.line})))
            continue
        value = case.files.get(rel)
        text = value.head if isinstance(value, Repeat) else value
        lines = frozenset(i + 1 for i, row in enumerate(text.splitlines()) if any(n in row for n in at.line.split("|"))) \
            if isinstance(text, str) else frozenset()
        found = found or bool(lines)
        rows.append((rel, lines or None))
    assert found or not isinstance(at.line, str), f"{case.id}: needle {at.line!r} is in none of {at.file}"
    return rows


def png_bytes(width: int, height: int) -> bytes:
    """A valid PNG without Pillow: 8-bit grey up to 4 Mpx, else 1-bit (a tiny file of huge pixels)."""
    depth = 8 if width * height <= 4_000_000 else 1
    row = b"\x00" + bytes((width * depth + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# -- helpers to write cases -----------------------------------------------------------------------

def _t(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


A = "campaigns/a.yaml"
MUG = _t("""
    campaign: a
    assets:
      - name: mug
        prompt: A mug
    """)
LOCALES = {"locales/en.yaml": "headline: Brewed for Makers\ntagline: Small batch.\n",
           "locales/de.yaml": "headline: Gebrüht für Macher\ntagline: Kleine Charge.\n"}
REF = {"refs/product.png": Png(64, 64)}
CANARY_PARTIAL = f"canary partial {CANARY}\n"
CANARY_PNG_NOTE = "a PNG planted outside the catalog"


def _case(id: str, description: str, files: dict[str, FileValue], **kw) -> Case:
    files = dict(files)
    files.setdefault("catalog.yaml", SETTINGS)
    return Case(id, description, files, **kw)


def _camp(id: str, description: str, body: str, extra: dict[str, FileValue] | None = None, **kw) -> Case:
    """A case whose campaigns/a.yaml is `body`; by default it must be reported in that file."""
    kw.setdefault("at", (At(A),))
    return _case(id, description, {A: _t(body), **(extra or {})}, **kw)


def _edit(image: str, mask: str | None = None) -> str:
    """A campaign with one edit of `image` (and `mask`): the `image:` / `mask:` lines are unique."""
    mask_line = f"\n      mask: {mask}" if mask else ""
    return f"campaign: a\nassets:\n  - name: bottle\n    edit:\n      image: {image}{mask_line}\n    prompt: on a terrace\n"


def _laughs(levels: int, fanout: int, anchor_prefix: str = "l") -> str:
    rows = [f"  {anchor_prefix}0: &{anchor_prefix}0 [" + ", ".join(["lol"] * fanout) + "]"]
    for i in range(1, levels):
        rows.append(f"  {anchor_prefix}{i}: &{anchor_prefix}{i} [" + ", ".join([f"*{anchor_prefix}{i - 1}"] * fanout) + "]")
    return "\n".join(rows) + "\n"


def _deep_block(depth: int, indent: int = 1) -> str:
    return "".join(f"{' ' * (indent * (i + 1))}k{i}:\n" for i in range(depth - 1)) + f"{' ' * (indent * depth)}k: v\n"


def _matrix(keys: int, values: int) -> str:
    return "".join(f"      k{i}: [" + ", ".join(f"v{j}" for j in range(values)) + "]\n" for i in range(keys))


def _nested_for(levels: int, n: int, body: str) -> str:
    return "".join(f"{{% for i{i} in range({n}) %}}" for i in range(levels)) + body + "{% endfor %}" * levels


# -- the corpus -------------------------------------------------------------------------------------

YAML_BOMBS = [
    _camp("yaml-billion-laughs", "9 levels x 10 aliases (10^9 leaves) in a campaign's vars", (
        "campaign: a\nvars:\n" + _laughs(9, 10) + "assets:\n  - name: mug\n    prompt: A mug\n")),
    _case("yaml-billion-laughs-settings", "an alias bomb under an unknown key of catalog.yaml",
          {"catalog.yaml": SETTINGS + "x_anchors:\n" + _laughs(9, 10), A: MUG}, at=(At("catalog.yaml"),)),
    _case("yaml-billion-laughs-locale", "an alias bomb in a locale file",
          {"locales/en.yaml": "headline: hi\nbomb:\n" + _laughs(9, 10), A: MUG}, at=(At("locales/en.yaml"),)),
    _camp("yaml-alias-quadratic", "one 10^4-item anchor referenced 10^4 times (10^8 items, a small file)", (
        "campaign: a\nvars:\n  a: &a [" + ", ".join(["x"] * 10_000) + "]\n  b: [" + ", ".join(["*a"] * 10_000)
        + "]\nassets:\n  - name: mug\n    prompt: A mug\n")),
    _camp("yaml-recursive-alias", "an anchor that contains its own alias (&a [*a])", """
        campaign: a
        vars:
          loop: &a [x, *a]
        assets:
          - name: mug
            prompt: A mug
        """),
    _camp("yaml-merge-self", "a mapping that merges itself (&a {<<: *a})", """
        campaign: a
        vars:
          m: &a {k: v, <<: *a}
        assets:
          - name: mug
            prompt: A mug
        """),
    _camp("yaml-deep-flow", "100,000 nested [ ] (a parser recursion bomb)", (
        "campaign: a\nvars:\n  x: " + "[" * 100_000 + "]" * 100_000 + "\nassets:\n  - name: mug\n    prompt: A mug\n")),
    _camp("yaml-deep-block-mapping", "a 1,500-level nested block mapping in vars", (
        "campaign: a\nvars:\n" + _deep_block(1500) + "assets:\n  - name: mug\n    prompt: A mug\n")),
    _case("yaml-deep-locale", "a 1,500-level nested mapping in a locale file",
          {"locales/en.yaml": "headline: hi\nnest:\n" + _deep_block(1500), A: MUG}, at=(At("locales/en.yaml"),)),
    _camp("yaml-deep-matrix-value", "a matrix value nested 5,000 lists deep", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n      x: "
        + "[" * 5000 + "v" + "]" * 5000 + "\n"), at=(At(A, "matrix|x: "),)),
    _camp("yaml-alias-deep-chain", "12 anchors, each an alias of the one before (alias depth, few values)", (
        "campaign: a\nvars:\n  l0: &l0 [x]\n" + "".join(f"  l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, 12))
        + "assets:\n  - name: mug\n    prompt: A mug\n"), at=(At(A, "l11"),)),
    _camp("yaml-alias-bomb-mappings", "mappings of 10 aliases of the level below, 8 levels (10^8 values)", (
        "campaign: a\nvars:\n  m0: &m0 {" + ", ".join(f"k{j}: v" for j in range(10)) + "}\n"
        + "".join(f"  m{i}: &m{i} {{" + ", ".join(f"x{j}: *m{i - 1}" for j in range(10)) + "}\n" for i in range(1, 8))
        + "assets:\n  - name: mug\n    prompt: A mug\n"), at=(At(A),)),
    _camp("yaml-multi-document", "two YAML documents in one campaign file", """
        campaign: a
        assets: [{name: mug, prompt: A mug}]
        ---
        campaign: b
        assets: [{name: cup, prompt: A cup}]
        """, at=(At(A, "---"),)),
]

YAML_TAGS = [
    _camp("tag-python-object-apply", "!!python/object/apply:os.system that would write outside", f"""
        campaign: a
        vars:
          x: !!python/object/apply:os.system ["touch {OUTSIDE}/pwned"]
        assets:
          - name: mug
            prompt: A mug
        """, at=(At(A, "python/object"),)),
    _camp("tag-python-name", "!!python/name:os.system as a prompt", """
        campaign: a
        assets:
          - name: mug
            prompt: !!python/name:os.system
        """, at=(At(A, "prompt"),)),
    _camp("tag-custom-local", "a local tag !foo on a value", """
        campaign: a
        assets:
          - name: mug
            prompt: !foo A mug
        """, at=(At(A, "prompt"),)),
    _camp("tag-custom-mapping", "a custom tag on a mapping (!include-style)", """
        campaign: a
        vars: !include ../../etc/vars.yaml
        assets:
          - name: mug
            prompt: A mug
        """, at=(At(A, "vars"),)),
    _camp("tag-binary-prompt", "!!binary bytes where the prompt text belongs", """
        campaign: a
        assets:
          - name: mug
            prompt: !!binary QSBtdWcgd2l0aCBhIGxhYmVs
        """, at=(At(A, "prompt"),)),
    _camp("tag-set-and-timestamp", "!!set owners and a timestamp revision", """
        campaign: a
        owners: !!set {team:brand, team:web}
        assets:
          - name: mug
            prompt: A mug
            revision: 2024-01-01
        """, at=(At(A, "owners"), At(A, "revision"))),
    _case("tag-in-settings", "a python tag in catalog.yaml's defaults",
          {"catalog.yaml": SETTINGS + "defaults: !!python/object:argparse.Namespace {quality: high}\n", A: MUG},
          at=(At("catalog.yaml", "defaults"),)),
]

HUGE = [
    _case("huge-campaign-file", "a 64 MB campaign file (one long description)",
          {A: Repeat("campaign: a\nassets: [{name: mug, prompt: A mug}]\ndescription: ", "lorem ipsum ",
                     5_600_000, "\n")}, at=(At(A),)),
    _case("huge-vars", "200,000 vars (~4 MB), one used: accepted or refused, but cleanly and fast",
          {A: "campaign: a\nassets: [{name: mug, prompt: '{{ v1 }}'}]\nvars:\n"
              + "".join(f"  v{i}: x\n" for i in range(200_000))}, exit_code=(0, 1)),
    _case("huge-locale-file", "a 40 MB locale file",
          {A: MUG, "locales/en.yaml": Repeat("headline: ", "lorem ipsum ", 3_500_000, "\n")},
          at=(At("locales/en.yaml"),)),
    _case("huge-catalog-yaml", "a 64 MB catalog.yaml of comments",
          {"catalog.yaml": Repeat(SETTINGS, "# padding padding padding padding padding padding padding\n",
                                  1_100_000), A: MUG}, at=(At("catalog.yaml"),)),
    _camp("huge-partial", "a 24 MB partial included in a prompt", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'big.j2' %}"
        """, {"partials/big.j2": Repeat("", "warm light, ", 2_000_000)}, at=(At(A, "prompt"),)),
    _case("huge-many-assets", "120,000 assets in one campaign (more variants than the default limit of 100,000)",
          {A: "campaign: a\nassets:\n" + "".join(f"  - {{name: a{i}, prompt: x}}\n" for i in range(120_000))},
          at=(At(A),)),
]

NESTING = [
    _camp("jinja-deep-parens", "a prompt expression nested 5,000 parentheses deep", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: \"{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}\"\n"),
          at=(At(A, "prompt"),)),
    _camp("jinja-deep-blocks", "3,000 nested {% if %} blocks in a prompt", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: \"" + "{% if true %}" * 3000 + "x" + "{% endif %}" * 3000
        + "\"\n"), at=(At(A, "prompt"),)),
]

FILE_KINDS = [
    _case("campaign-is-directory", "campaigns/a.yaml is a directory",
          {A: Directory(), "campaigns/b.yaml": MUG.replace("campaign: a", "campaign: b")}, at=(At(A),)),
    _case("campaign-dangling-symlink", "campaigns/a.yaml is a symlink to nothing",
          {A: Symlink("missing.yaml"), "campaigns/b.yaml": MUG.replace("campaign: a", "campaign: b")}, at=(At(A),)),
    _case("campaign-symlink-loop", "campaigns/a.yaml -> b.yaml -> a.yaml",
          {A: Symlink("b.yml"), "campaigns/b.yml": Symlink("a.yaml")}, at=(At(A + "|campaigns/b.yml"),)),
    _case("campaign-fifo", "campaigns/a.yaml is a named pipe (a read blocks forever)", {A: Fifo()}, at=(At(A),)),
    _case("campaign-dev-zero", "campaigns/a.yaml -> /dev/zero (an endless file)", {A: Symlink("/dev/zero")},
          at=(At(A),)),
    _case("campaigns-is-file", "campaigns is a regular file, not a directory", {"campaigns": MUG},
          at=(At("campaigns"),)),
    _case("settings-is-directory", "catalog.yaml is a directory", {"catalog.yaml": Directory(), A: MUG},
          at=(At("catalog.yaml"),)),
    _case("settings-dangling-symlink", "catalog.yaml is a symlink to nothing (silently the defaults?)",
          {"catalog.yaml": Symlink("nowhere.yaml"), A: MUG}, at=(At("catalog.yaml"),)),
    _case("settings-fifo", "catalog.yaml is a named pipe", {"catalog.yaml": Fifo(), A: MUG},
          at=(At("catalog.yaml"),)),
    _case("locale-is-directory", "locales/en.yaml is a directory",
          {A: MUG, "locales/en.yaml": Directory()}, at=(At("locales/en.yaml"),)),
    _case("locale-dangling-symlink", "locales/de.yaml is a symlink to nothing",
          {A: MUG, "locales/de.yaml": Symlink("../nowhere/de.yaml")}, at=(At("locales/de.yaml"),)),
    _case("locale-dev-urandom", "locales/en.yaml -> /dev/urandom (endless binary)",
          {A: MUG, "locales/en.yaml": Symlink("/dev/urandom")}, at=(At("locales/en.yaml"),)),
    _camp("partial-is-directory", "an included partial is a directory", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'style.j2' %}"
        """, {"partials/style.j2": Directory()}, at=(At(A + "|partials/style.j2", "prompt"),)),
    _camp("partial-dangling-symlink", "an included partial is a dangling symlink", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'style.j2' %}"
        """, {"partials/style.j2": Symlink("gone.j2")}, at=(At(A, "prompt"),)),
    _camp("partial-fifo", "an included partial is a named pipe", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'style.j2' %}"
        """, {"partials/style.j2": Fifo()}, at=(At(A + "|partials/style.j2"),)),
    _camp("partial-dev-zero", "an included partial -> /dev/zero", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'style.j2' %}"
        """, {"partials/style.j2": Symlink("/dev/zero")}, at=(At(A + "|partials/style.j2"),)),
    _camp("ref-is-directory", "an edit's image is a directory", _edit("refs/product.png"),
          {"refs/product.png": Directory()}, at=(At(A, "image:"),)),
    _camp("ref-dangling-symlink", "an edit's image is a dangling symlink", _edit("refs/product.png"),
          {"refs/product.png": Symlink("gone.png")}, at=(At(A, "image:"),)),
    _camp("ref-fifo", "an edit's image is a named pipe (hashing it blocks)", _edit("refs/product.png"),
          {"refs/product.png": Fifo()}, at=(At(A, "image:"),)),
    _camp("ref-dev-zero", "an edit's image -> /dev/zero (hashing never ends)", _edit("refs/product.png"),
          {"refs/product.png": Symlink("/dev/zero")}, at=(At(A, "image:"),)),
    _camp("ref-not-an-image", "an edit's image is a text file named .png", _edit("refs/product.png"),
          {"refs/product.png": "not a picture\n"}, at=(At(A, "image:"),)),
    _camp("ref-decompression-bomb", "an edit's image is a 1-bit 40000x40000 PNG (a decompression bomb)",
          _edit("refs/product.png"), {"refs/product.png": Png(40_000, 40_000)}, at=(At(A, "image:"),)),
]

OUTSIDE_READS = [
    _camp("partial-symlink-etc-passwd", "a partial that is a symlink to /etc/passwd (rendered into the prompt)", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'brand.j2' %}"
        """, {"partials/brand.j2": Symlink("/etc/passwd")}, at=(At(A + "|partials/brand.j2"),),
          messages=("/etc/passwd",), commands=WITH_BUILD),
    _camp("partial-symlink-outside", "a partial that is a symlink to a file outside the catalog", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'brand.j2' %}"
        """, {"partials/brand.j2": Symlink(f"{OUTSIDE}/secret.j2")}, outside={"outside/secret.j2": CANARY_PARTIAL},
          at=(At(A + "|partials/brand.j2"),), messages=("secret.j2",), commands=WITH_BUILD),
    _camp("partials-dir-symlink-outside", "the partials/ directory is a symlink to a directory outside", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'brand.j2' %}"
        """, {"partials": Symlink(f"{OUTSIDE}/partials")}, outside={"outside/partials/brand.j2": CANARY_PARTIAL},
          at=(At(A + "|partials|partials/brand.j2"),), commands=WITH_BUILD),
    _camp("partial-subdir-symlink-outside", "partials/lib is a symlink outside; {% import 'lib/m.j2' %}", """
        campaign: a
        assets:
          - name: mug
            prompt: "{% import 'lib/m.j2' as m %}A mug, {{ m.style() }}"
        """, {"partials/lib": Symlink(f"{OUTSIDE}/lib")},
          outside={"outside/lib/m.j2": "{% macro style() %}" + CANARY_PARTIAL + "{% endmacro %}"},
          at=(At(A + "|partials/lib|partials/lib/m.j2"),)),
    _camp("partial-include-dotdot", "{% include '../../outside/secret.j2' %}", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include '../../outside/secret.j2' %}"
        """, outside={"outside/secret.j2": CANARY_PARTIAL}, at=(At(A, "prompt"),)),
    _camp("partial-include-absolute", "{% include '<absolute path outside>' %}", f"""
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {{% include '{OUTSIDE}/secret.j2' %}}"
        """, outside={"outside/secret.j2": CANARY_PARTIAL}, at=(At(A, "prompt"),)),
    _camp("ref-symlink-outside", "refs/product.png is a symlink to an image outside the catalog",
          _edit("refs/product.png"), {"refs/product.png": Symlink(f"{OUTSIDE}/product.png")},
          outside={"outside/product.png": Png(64, 64)}, at=(At(A, "image:"),), messages=("product.png",)),
    _camp("refs-dir-symlink-outside", "the refs/ directory is a symlink to a directory outside",
          _edit("refs/product.png"), {"refs": Symlink(f"{OUTSIDE}/refs")},
          outside={"outside/refs/product.png": Png(64, 64)}, at=(At(A, "image:"),)),
    _camp("mask-symlink-outside", "an edit's mask is a symlink outside the catalog",
          _edit("refs/product.png", mask="refs/mask.png"), {**REF, "refs/mask.png": Symlink(f"{OUTSIDE}/mask.png")},
          outside={"outside/mask.png": Png(64, 64)}, at=(At(A, "mask:"),)),
    _camp("ref-dotdot", "image: ../outside/product.png", _edit("../outside/product.png"),
          outside={"outside/product.png": Png(64, 64)}, at=(At(A, "image:"),)),
    _camp("ref-prefix-trick", "image: ../cat_evil/x.png passes a string-prefix containment test",
          _edit(f"../{CATALOG_NAME}_evil/x.png"), outside={f"{CATALOG_NAME}_evil/x.png": Png(64, 64)},
          at=(At(A, "image:"),), commands=WITH_BUILD),
    _camp("mask-prefix-trick", "mask: ../cat_evil/m.png", _edit("refs/product.png", mask=f"../{CATALOG_NAME}_evil/m.png"),
          REF, outside={f"{CATALOG_NAME}_evil/m.png": Png(64, 64)}, at=(At(A, "mask:"),)),
    _camp("render-from-prefix-trick", "render: {from: ../cat_evil/x.png}", f"""
        campaign: a
        assets:
          - name: story
            render: {{from: ../{CATALOG_NAME}_evil/x.png, size: 1080x1920}}
        """, outside={f"{CATALOG_NAME}_evil/x.png": Png(64, 64)}, at=(At(A, "render:"),)),
    _camp("ref-absolute", "image: an absolute path outside the catalog", _edit(f"{OUTSIDE}/product.png"),
          outside={"outside/product.png": Png(64, 64)}, at=(At(A, "image:"),)),
    _camp("ref-file-url", "image: file:///etc/passwd", _edit("file:///etc/passwd"), at=(At(A, "image:"),)),
    _case("locale-symlink-outside", "locales/de.yaml is a symlink to a locale file outside",
          {A: _t("""
              campaign: a
              locales: [en, de]
              assets:
                - name: poster
                  matrix: {locale: "{{ locales }}"}
                  prompt: "A poster reading {{ t.headline }}"
              """), "locales/en.yaml": LOCALES["locales/en.yaml"], "locales/de.yaml": Symlink(f"{OUTSIDE}/de.yaml")},
          outside={"outside/de.yaml": f"headline: {CANARY}\n"}, at=(At("locales/de.yaml"),), messages=("de.yaml",), commands=WITH_BUILD),
    _case("locales-dir-symlink-outside", "the locales/ directory is a symlink outside",
          {A: _t("""
              campaign: a
              locales: [en]
              assets:
                - name: poster
                  matrix: {locale: "{{ locales }}"}
                  prompt: "A poster reading {{ t.headline }}"
              """), "locales": Symlink(f"{OUTSIDE}/locales")},
          outside={"outside/locales/en.yaml": f"headline: {CANARY}\n"}, at=(At("locales|locales/en.yaml"),)),
    _case("campaign-symlink-outside", "campaigns/a.yaml is a symlink to a campaign file outside",
          {A: Symlink(f"{OUTSIDE}/a.yaml")},
          outside={"outside/a.yaml": f"campaign: a\nassets: [{{name: mug, prompt: 'A mug {CANARY}'}}]\n"},
          at=(At(A),), messages=("a.yaml",), commands=WITH_BUILD),
    _case("campaigns-dir-symlink-outside", "the campaigns/ directory is a symlink outside",
          {"campaigns": Symlink(f"{OUTSIDE}/campaigns")},
          outside={"outside/campaigns/a.yaml": f"campaign: a\nassets: [{{name: mug, prompt: 'A mug {CANARY}'}}]\n"},
          at=(At("campaigns|" + A),)),
    _case("settings-symlink-outside", "catalog.yaml is a symlink to settings outside the catalog",
          {"catalog.yaml": Symlink(f"{OUTSIDE}/catalog.yaml"), A: MUG},
          outside={"outside/catalog.yaml": f'check_text: "off"\ndefaults: {{quality: high}}\n# {CANARY}\n'},
          at=(At("catalog.yaml"),), commands=WITH_BUILD),
]

ABSURD_NUMBERS = [
    _camp("revision-4400-digits", "a 4,400-digit revision (over Python's int-to-str limit)", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    revision: 1" + "0" * 4400 + "\n"),
          at=(At(A, "revision"),), at_most=(("a.yaml:", 1),)),
    _camp("revision-in-matrix-huge", "a 5,000-digit revision as a matrix value", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n      revision: [1, 9" + "9" * 5000
        + "]\n"), at=(At(A, "revision"),), forbid=("None", "whole number")),
    _camp("revision-in-matrix-block-huge", "a 4,400-digit revision in a block list: said once, at its own line", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n      revision:\n        - 1\n"
        "        - 1" + "0" * 4400 + "\n"), at=(At(A, 8),), forbid=("None", "whole number"),
          at_most=(("a.yaml:", 1),)),
    _camp("compression-googol", "compression: 10**100", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    output_format: jpeg\n    compression: 1"
        + "0" * 100 + "\n"), at=(At(A, "compression"),)),
    _camp("size-99999999x1", "size: 99999999x1", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            size: 99999999x1
        """, at=(At(A, "size"),)),
    _camp("size-zero-negative", "sizes 0x0 and -1024x1024 in a matrix", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix: {size: [0x0, -1024x1024]}
        """, at=(At(A, "matrix"),)),
    _camp("render-quality-nan", "render quality: .nan and size 1e400x1", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
          - name: thumb
            render: {from: mug, size: 1e400x1, quality: .nan}
        """, at=(At(A, "render"),)),
    _case("provider-max-concurrency-zero", "max_concurrency: 0 (a limiter that never lets a call through)",
          {"catalog.yaml": SETTINGS + "providers:\n  draft: {type: draft, max_concurrency: 0}\n", A: MUG},
          at=(At("catalog.yaml", "max_concurrency"),)),
    _case("provider-numbers-absurd", "timeout_s: -5, requests_per_minute: 0, max_retries: 10**30, deadline_s: .inf",
          {"catalog.yaml": SETTINGS + "default_provider: openai\nproviders:\n  openai: {type: openai, "
           "base_url: 'https://api.openai.com/v1', api_key_env: OPENAI_API_KEY, timeout_s: -5,\n"
           "           requests_per_minute: 0, max_retries: 1000000000000000000000000000000, deadline_s: .inf}\n",
           A: MUG}, at=(At("catalog.yaml"),)),
    _case("pricing-nan-negative", "pricing: NaN and negative prices (a --max-cost check that always passes)",
          {"catalog.yaml": SETTINGS + "pricing: {draft: .nan, openai: -5}\n", A: MUG},
          at=(At("catalog.yaml", "pricing"),)),
]

EXPLOSIONS = [
    _camp("matrix-1e6", "6 matrix keys x 10 values = 10^6 variants", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n" + _matrix(6, 10)),
          at=(At(A, "matrix"),)),
    _camp("matrix-1e12", "12 matrix keys x 10 values = 10^12 variants", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n" + _matrix(12, 10)),
          at=(At(A, "matrix"),)),
    _camp("matrix-jinja-range", "a matrix value written as {{ range(100000) | list }} times 100 sizes", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n"
        "      i: \"{{ range(100000) | list }}\"\n" + _matrix(1, 100)), at=(At(A, "matrix"),)),
    _camp("matrix-include-1e5", "an include: list of 10^5 entries", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n      k: [a, b]\n      include:\n"
        + "".join(f"        - {{k: v{i}}}\n" for i in range(100_000))), at=(At(A, "include|campaign: a"),)),
    _camp("matrix-include-2e4", "an include: list of 20,000 entries (a small file, over limits: matrix_entries)", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n      k: [a, b]\n      include:\n"
        + "".join(f"        - {{k: v{i}}}\n" for i in range(20_000))), at=(At(A, "include"),)),
    _camp("matrix-exclude-1e5", "an exclude: list of 10^5 entries over a 100x100 matrix", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n" + _matrix(2, 100) + "      exclude:\n"
        + "".join(f"        - {{k0: v{i % 100}, k1: w{i}}}\n" for i in range(100_000))),
          at=(At(A, "exclude|campaign: a"),)),
    _camp("matrix-exclude-2e4", "an exclude: list of 20,000 entries over a 100x100 matrix", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n" + _matrix(2, 100) + "      exclude:\n"
        + "".join(f"        - {{k0: v{i % 100}, k1: w{i}}}\n" for i in range(20_000))), at=(At(A, "exclude"),)),
    _case("matrix-over-configured-limit", "limits: {variants: 10} in catalog.yaml and a matrix of 12 variants",
          {"catalog.yaml": SETTINGS + "limits: {variants: 10}\n", A: _t("""
              campaign: a
              assets:
                - name: mug
                  prompt: A mug
                  matrix: {k: [a, b, c, d, e, f], size: [1024x1024, 1536x1024]}
              """)}, at=(At(A, "matrix"),), messages=("10",)),
    _camp("many-assets-over-limit", "3 assets x 40,000-value matrices (120,000 variants: each asset alone is allowed)", (
        "campaign: a\nassets:\n" + "".join(
            f"  - name: a{i}\n    prompt: x\n    matrix: {{k: \"{{{{ range(40000) | list }}}}\"}}\n" for i in range(3))),
          at=(At(A, "name: a2|matrix"),)),
    _camp("matrix-many-assets", "500 assets x 1,000-value matrices = 500,000 variants", (
        "campaign: a\nassets:\n" + "".join(
            f"  - name: a{i}\n    prompt: x\n    matrix: {{k: &m{i} [" + ", ".join(f"v{j}" for j in range(1000)) + "]}\n"
            if i == 0 else f"  - {{name: a{i}, prompt: x, matrix: {{k: *m0}}}}\n" for i in range(500))),
          at=(At(A),)),
]

JINJA = [
    _camp("jinja-nested-loops-cpu", "5 nested {% for %} of 100 (10^10 iterations, no output)", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: \"A mug" + _nested_for(5, 100, "") + "\"\n"),
          at=(At(A, "prompt"),)),
    _camp("jinja-nested-loops-output", "3 nested {% for %} of 1000 printing x (10^9 characters)", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: \"A mug" + _nested_for(3, 1000, "x") + "\"\n"),
          at=(At(A, "prompt"),)),
    _camp("jinja-huge-string", "{{ 'x' * 1000000000 }}: one 1 GB string", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug {{ 'x' * 1000000000 }}"
        """, at=(At(A, "prompt"),)),
    _camp("jinja-huge-in-var", "a var that renders to 300 MB, used by a prompt", """
        campaign: a
        vars:
          pad: "{{ 'ab' * 150000000 }}"
        assets:
          - name: mug
            prompt: "A mug {{ pad | length }}"
        """, at=(At(A, "pad|prompt"),)),
    _camp("jinja-macro-recursion", "a macro that calls itself without end", """
        campaign: a
        assets:
          - name: mug
            prompt: "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}A mug {{ f(0) }}"
        """, at=(At(A, "prompt"),)),
    _camp("jinja-macro-exponential", "a macro that calls itself twice, 40 levels deep (2^40 calls)", """
        campaign: a
        assets:
          - name: mug
            prompt: "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}A mug {{ f(0) }}"
        """, at=(At(A, "prompt"),)),
    _camp("jinja-include-self", "a partial that includes itself", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'loop.j2' %}"
        """, {"partials/loop.j2": "again {% include 'loop.j2' %}\n"}, at=(At(A + "|partials/loop.j2"),)),
    _camp("jinja-include-exponential", "30 partials, each including the next one twice (2^30 renders)", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'p0.j2' %}"
        """, {**{f"partials/p{i}.j2": f"{{% include 'p{i + 1}.j2' %}}{{% include 'p{i + 1}.j2' %}}" for i in range(30)},
              "partials/p30.j2": "x"}, at=(At(A + "|partials/p0.j2"),)),
    _camp("jinja-vars-cycle", "vars that reference each other (a: {{ b }}, b: {{ a }})", """
        campaign: a
        vars:
          a: "{{ b }}"
          b: "{{ a }}"
        assets:
          - name: mug
            prompt: "A mug {{ a }}"
        """, at=(At(A, "a:|b:|prompt"),)),
    _camp("jinja-loop-in-matrix-value", "a matrix value template with a 10^5 x 10^2 loop", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    matrix:\n      k: \"{% for i in range(100000) %}"
        "{% for j in range(100) %}{% endfor %}{% endfor %}v\"\n"), at=(At(A, "matrix|k: "),)),
    _camp("jinja-text-huge", "text: expected in-image strings rendering to 10^8 characters", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            text: ["{{ 'LOREM ' * 20000000 }}"]
        """, at=(At(A, "text"),)),
]

SANDBOX_ESCAPES = [
    _camp("sandbox-class-subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug {{ ''.__class__.__mro__[1].__subclasses__() }}"
        """, at=(At(A, "prompt"),)),
    _camp("sandbox-globals-popen", "{{ cycler.__init__.__globals__.os.popen(...) }} that would write outside", f"""
        campaign: a
        assets:
          - name: mug
            prompt: "A mug {{{{ cycler.__init__.__globals__.os.popen('touch {OUTSIDE}/pwned').read() }}}}"
        """, at=(At(A, "prompt"),)),
    _camp("sandbox-format-string", "str.format reaching dunders: '{0.__class__.__init__.__globals__}'.format(t)", """
        campaign: a
        locales: [en]
        assets:
          - name: mug
            matrix: {locale: "{{ locales }}"}
            prompt: "A mug {{ '{0.__class__.__init__.__globals__}'.format(t) }}"
        """, {"locales/en.yaml": "headline: hi\n"}, at=(At(A, "prompt"),)),
    _camp("sandbox-attr-filter", "|attr('_strings') on the locale object and lipsum.__globals__", """
        campaign: a
        locales: [en]
        assets:
          - name: mug
            matrix: {locale: "{{ locales }}"}
            prompt: "A mug {{ t | attr('_source') }} {{ lipsum.__globals__ }}"
        """, {"locales/en.yaml": "headline: hi\n"}, at=(At(A, "prompt"),)),
    _camp("sandbox-self-context", "{{ self._TemplateReference__context }} and namespace mutation", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug {{ self._TemplateReference__context }}"
        """, at=(At(A, "prompt"),)),
]

PROMPT_LIMITS = [
    _camp("prompt-40000-literal", "a literal prompt of 40,000 characters (max 32,000)", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A" + " mug" * 10_000 + "\n"), at=(At(A, "prompt"),)),
    _camp("prompt-rendered-over", "a prompt whose partial renders to 100,000 characters", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug, {% include 'long.j2' %}"
        """, {"partials/long.j2": "warm light, " * 8400}, at=(At(A, "prompt"),)),
    _camp("text-100k-entries", "text: a list of 100,000 expected strings", (
        "campaign: a\nassets:\n  - name: mug\n    prompt: A mug\n    text: [" + ", ".join(f"w{i}" for i in range(100_000))
        + "]\n"), at=(At(A, "text"),)),
]

NUL_AND_UNICODE = [
    _case("nul-raw-in-campaign", "a raw NUL byte inside campaigns/a.yaml",
          {A: b"campaign: a\nassets:\n  - name: mug\n    prompt: A m\x00ug\n"}, at=(At(A, 4),), forbid=("\x00",)),
    _case("nul-raw-in-settings", "catalog.yaml of random binary with NULs",
          {"catalog.yaml": bytes(range(256)) * 4, A: MUG}, at=(At("catalog.yaml"),)),
    _camp("nul-escaped-in-prompt", "prompt: \"A mug\\0\" (a NUL character in the prompt)", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug\\0 with a label"
        """, at=(At(A, "prompt"),), forbid=("\x00",)),
    _camp("nul-in-ref-path", "image: \"refs/product.png\\0.txt\"", """
        campaign: a
        assets:
          - name: bottle
            edit: {image: "refs/product.png\\0.txt"}
            prompt: on a terrace
        """, REF, at=(At(A, "edit"),), forbid=("\x00",)),
    _camp("nul-in-include-name", "{% include 'brand\\x00.j2' %}", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug {% include 'brand\\x00.j2' %}"
        """, {"partials/brand.j2": "warm\n"}, at=(At(A, "prompt"),), forbid=("\x00",)),
    _camp("nul-in-matrix-value", "a matrix value with a NUL (it names files under out/)", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix: {k: ["a\\0b"]}
        """, at=(At(A, "matrix"),), forbid=("\x00",)),
    _case("latin1-campaign", "a campaign file in Latin-1 (not UTF-8) with the bad byte on line 4",
          {A: "campaign: a\nassets:\n  - name: mug\n    prompt: A café mug\n".encode("latin-1")}, at=(At(A, 4),)),
    _case("utf16-locale", "a locale file in UTF-16 with a BOM",
          {A: MUG, "locales/de.yaml": "headline: Gebrüht\n".encode("utf-16")}, at=(At("locales/de.yaml"),)),
    _case("binary-campaign-png", "campaigns/a.yaml holds a PNG image", {A: Png(32, 32)}, at=(At(A),)),
    _camp("binary-partial", "an included partial with invalid UTF-8", """
        campaign: a
        assets:
          - name: mug
            prompt: "A mug {% include 'bad.j2' %}"
        """, {"partials/bad.j2": b"warm \xff\xfe light\n"}, at=(At(A + "|partials/bad.j2"),)),
    _camp("rtl-override-asset-name", "an asset name containing U+202E (right-to-left override)", """
        campaign: a
        assets:
          - name: "mug\u202egnp.exe"
            prompt: A mug
        """, at=(At(A, "name"),), forbid=("\u202e",)),
    _case("rtl-override-file-name", "a campaign file whose name contains U+202E",
          {"campaigns/x\u202elmay.yaml": "campaign: b\nassets: [{name: mug, prompt: A mug, qualty: high}]\n"},
          at=(At("campaigns/x\u202elmay.yaml"),), forbid=("\u202e",)),
    _camp("zero-width-var-name", "a var named bra\u200bnd (zero-width space) and a prompt using {{ brand }}", """
        campaign: a
        vars:
          "bra\u200bnd": BREW LAB
        assets:
          - name: mug
            prompt: "A mug {{ brand }}"
        """, at=(At(A, "prompt"),), messages=("200b",), forbid=("\u200b",)),
    _case("zero-width-locale-key", "a locale key head\u200bline that looks like headline",
          {A: _t("""
              campaign: a
              locales: [en]
              assets:
                - name: poster
                  matrix: {locale: "{{ locales }}"}
                  prompt: "A poster reading {{ t.headline }}"
              """), "locales/en.yaml": "head\u200bline: Brewed\n"},
          at=(At(A + "|locales/en.yaml"),), messages=("200b",), forbid=("\u200b",)),
    _case("rtl-locale-code", "a locale file locales/d\u202ee.yaml selected by a matrix",
          {A: _t("""
              campaign: a
              locales: ["d\u202ee"]
              assets:
                - name: poster
                  matrix: {locale: "{{ locales }}"}
                  prompt: "A poster reading {{ t.headline }}"
              """), "locales/d\u202ee.yaml": "headline: hi\n"}, at=(At(A + "|locales/d\u202ee.yaml"),),
          forbid=("\u202e",)),
    _camp("locale-code-traversal", "locales: ['../../outside/x'] (a locale code that is a path)", """
        campaign: a
        locales: ["../../outside/x"]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}"}
            prompt: "A poster reading {{ t.headline }}"
        """, outside={"outside/x.yaml": f"headline: {CANARY}\n"}, at=(At(A, "locales|matrix"),)),
    _camp("matrix-value-traversal", "matrix values ../../x and a/b (variant keys name files under out/)", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix: {k: ["../../../x", "a/b", "..", "."]}
        """, at=(At(A, "matrix"),), commands=WITH_BUILD),
]

STRUCTURE = [
    _camp("duplicate-top-level-key", "campaign: set twice", """
        campaign: a
        assets: [{name: mug, prompt: A mug}]
        campaign: b
        """, at=(At(A, "campaign: b"),)),
    _case("duplicate-provider-key", "the same provider defined twice in catalog.yaml",
          {"catalog.yaml": SETTINGS + "providers:\n  draft: {type: draft}\n  draft: {type: openai}\n", A: MUG},
          at=(At("catalog.yaml", "type: openai"),)),
    _case("duplicate-locale-key", "headline: twice in a locale file",
          {A: MUG, "locales/en.yaml": "headline: A\ntagline: B\nheadline: C\n"}, at=(At("locales/en.yaml", 3),)),
    _case("empty-catalog-dir", "an empty catalog directory (no catalog.yaml, no campaigns)",
          {"catalog.yaml": None}, at=(At("campaigns|catalog.yaml|."),)),
    _case("empty-campaign-file", "an empty campaigns/a.yaml", {A: ""}, at=(At(A),)),
    _case("settings-is-list", "catalog.yaml is a YAML list", {"catalog.yaml": "- draft\n- openai\n", A: MUG},
          at=(At("catalog.yaml", 1),)),
    _case("settings-is-scalar", "catalog.yaml is one string", {"catalog.yaml": "just some text\n", A: MUG},
          at=(At("catalog.yaml", 1),)),
    _case("campaign-is-list", "a campaign file that is a list of assets",
          {A: "- name: mug\n  prompt: A mug\n"}, at=(At(A, 1),)),
    _case("locale-is-list", "a locale file that is a list", {A: MUG, "locales/en.yaml": "- Brewed\n- Small\n"},
          at=(At("locales/en.yaml", 1),)),
    _case("unknown-top-level-settings", "catalog.yaml: provider: instead of providers:",
          {"catalog.yaml": SETTINGS + "provider:\n  draft: {type: draft}\n", A: MUG},
          at=(At("catalog.yaml", "provider:"),), messages=("providers",)),
    _camp("unknown-top-level-campaign", "asset: instead of assets:", """
        campaign: a
        asset:
          - name: mug
            prompt: A mug
        """, at=(At(A, "asset:"),), messages=("assets",)),
    _camp("cycle-self-edit", "an asset that edits itself", """
        campaign: a
        assets:
          - name: mug
            edit: mug
            prompt: again
        """, at=(At(A, "name: mug|edit"),)),
    _case("cycle-cross-campaign", "a 3-cycle across two campaigns (a:x -> b:y -> a:z -> a:x)",
          {A: _t("""
              campaign: a
              assets:
                - name: x
                  edit: b:y
                  prompt: one
                - name: z
                  edit: x
                  prompt: three
              """), "campaigns/b.yaml": _t("""
              campaign: b
              assets:
                - name: y
                  edit: a:z
                  prompt: two
              """)}, at=(At(A + "|campaigns/b.yaml"),), messages=("cycle",)),
    _camp("cycle-render-self", "a render from itself", """
        campaign: a
        assets:
          - name: thumb
            render: {from: thumb, size: 600x400}
        """, at=(At(A, "name: thumb|render"),)),
]

WRONG_TYPES = [
    _camp("type-assets-mapping", "assets: a mapping instead of a list", """
        campaign: a
        assets:
          mug: {prompt: A mug}
        """, at=(At(A, "assets"),)),
    _camp("type-asset-string", "an asset entry that is a string", """
        campaign: a
        assets:
          - mug
        """, at=(At(A, "- mug"),)),
    _camp("type-name-not-text", "asset names that are a number, a list and null", """
        campaign: a
        assets:
          - {name: 42, prompt: A}
          - {name: [x], prompt: B}
          - {name: null, prompt: C}
        """, at=(At(A, "42"), At(A, "[x]"), At(A, "null"))),
    _camp("type-prompt-mapping", "prompt: a mapping", """
        campaign: a
        assets:
          - name: mug
            prompt: {text: A mug}
        """, at=(At(A, "prompt"),)),
    _camp("type-matrix-value-mapping", "a matrix key whose value is a mapping", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix: {locale: {en: yes}}
        """, at=(At(A, "matrix"),)),
    _camp("type-matrix-key-int", "matrix keys that are numbers and null", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
            matrix: {1: [a, b], null: [c]}
        """, at=(At(A, "matrix"),)),
    _camp("type-vars-list", "vars: a list", """
        campaign: a
        vars: [brand, style]
        assets:
          - name: mug
            prompt: A mug
        """, at=(At(A, "vars"),)),
    _camp("type-vars-nonstring-keys", "vars with integer, null and list keys", """
        campaign: a
        vars: {1: one, null: none, [a, b]: pair}
        assets:
          - name: mug
            prompt: "A mug {{ 1 }}"
        """, at=(At(A, "vars"),)),
    _camp("type-locales-string", "locales: en (a string, not a list)", """
        campaign: a
        locales: en
        assets:
          - name: mug
            prompt: A mug
        """, at=(At(A, "locales"),)),
    _camp("type-owners-tags", "owners: a mapping; tags: values that are lists", """
        campaign: a
        owners: {team: brand}
        assets:
          - name: mug
            prompt: A mug
            tags: {tier: [gold, silver]}
        """, at=(At(A, "owners"), At(A, "tags"))),
    _camp("type-edit-where-list", "edit where: a list; render size: a number", """
        campaign: a
        assets:
          - name: mug
            prompt: A mug
          - name: loft
            edit: {image: mug, where: [size]}
            prompt: loft
          - name: thumb
            render: {from: mug, size: 1024}
        """, at=(At(A, "where"), At(A, "size: 1024"))),
    _case("type-providers-list", "providers: a list; a provider entry that is a string",
          {"catalog.yaml": SETTINGS + "providers:\n  - draft\n", A: MUG}, at=(At("catalog.yaml", "providers"),)),
    _case("type-provider-entry-string", "a provider entry that is a string",
          {"catalog.yaml": SETTINGS + "providers:\n  draft: draft\n", A: MUG}, at=(At("catalog.yaml", "draft: draft"),)),
    _case("type-defaults-list-locales-list", "defaults: a list; locales: a list in catalog.yaml",
          {"catalog.yaml": SETTINGS + "defaults: [quality, high]\nlocales: [en, de]\n", A: MUG},
          at=(At("catalog.yaml", "defaults"), At("catalog.yaml", "locales"))),
    _case("type-cache-unknown-protocol", "cache: an fsspec URL with an unknown protocol",
          {"catalog.yaml": SETTINGS + "cache: 'nosuchproto://bucket/x'\n", A: MUG}, at=(At("catalog.yaml", "cache"),)),
    _case("type-cache-protocol-not-installed", "cache: a protocol fsspec knows whose package is not installed",
          {"catalog.yaml": SETTINGS + "cache: 'dropbox://folder/x'\n", A: MUG}, at=(At("catalog.yaml", "cache"),),
          messages=("not installed",)),
    _camp("type-schedule-bad-cron", "schedule: five fields that are not a cron expression", """
        campaign: a
        schedule: "99 99 * * banana"
        assets:
          - name: mug
            prompt: A mug
        """, at=(At(A, "schedule"),)),
    _camp("type-booleans-as-names", "name: yes (a boolean) and campaign: no", """
        campaign: no
        assets:
          - name: yes
            prompt: A mug
        """, at=(At(A, "campaign"), At(A, "name"))),
]

# -- issue #15, messages (items 9-15) -----------------------------------------------------------------

WINTER = {"locales/en.yaml": "winter_headline: Warm up\nwinter_tagline: Hot brew\n",
          "locales/de.yaml": "winter_headline: Aufwärmen\nwinter_tagline: Heißes Gebräu\n",
          "locales/fr.yaml": "winter_headline: Réchauffez-vous\nwinter_tagline: Café chaud\n"}

MESSAGES = [
    _camp("msg-locale-key-typo", "{{ t.winter_headlin }} on line 8 of a block prompt, 3 locales: one problem, "
          "on the expression's line, suggesting winter_headline", """
        campaign: winter
        locales: [en, de, fr]
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}"}
            prompt: |
              A minimalist winter poster,
              reading "{{ t.winter_headlin }}",
              warm colours
        """, WINTER, at=(At(A, "winter_headlin "),), messages=("winter_headline",),
          at_most=(("winter_headlin'", 1), ("winter_headlin ", 1), ("winter_headlin`", 1)), source="#15.9"),
    _camp("msg-indent-under", "an asset key indented one space less than the key above it", """
        campaign: a
        assets:
          - name: mug
           prompt: a mug
        """, at=(At(A, "prompt"),), messages=("indent",),
          forbid=("while parsing", "did not find expected", "indicator"), source="#15.10"),
    _camp("msg-indent-dedent", "a key dedented out of its asset", """
        campaign: a
        assets:
          - name: mug
            prompt: a mug
         size: 1024x1024
        """, at=(At(A, "size"),), messages=("indent",),
          forbid=("while parsing", "did not find expected key"), source="#15.10"),
    _camp("msg-indent-matrix", "a matrix key indented less than its sibling", """
        campaign: a
        assets:
        - name: mug
          prompt: a mug
          matrix:
            quality: [low, high]
           size: [1024x1024]
        """, at=(At(A, "size:"),), messages=("indent",),
          forbid=("while parsing", "did not find expected key"), source="#15.10"),
    _camp("msg-unknown-key-hides-undefined", "sise: (a typo) and an undefined variable in the same asset: both reported",
          """
        campaign: a
        vars: {brand: BREW LAB}
        assets:
          - name: mug
            prompt: "A mug with {{ brnad }}"
            sise: 1024x1536
        """, at=(At(A, "sise"), At(A, "prompt")), messages=("'size'", "brnad"), source="#15.11"),
    _camp("msg-hint-kept-when-target-broken", "edit: mug_hreo while mug_hero has its own error: keep the hint", """
        campaign: a
        assets:
          - name: mug_hero
            prompt: A mug
            qualty: high
          - name: mug_loft
            edit: mug_hreo
            prompt: In a loft
        """, at=(At(A, "qualty"), At(A, "mug_hreo")), messages=("did you mean 'mug_hero'",), source="#15.11"),
    _camp("msg-oversized-once", "an oversized size in an asset with 3 locales: reported once", """
        campaign: a
        locales: [en, de, fr]
        assets:
          - name: billboard
            matrix: {locale: "{{ locales }}"}
            prompt: "A billboard {{ t.winter_headline }}"
            size: 7680x4320
        """, WINTER, at=(At(A, "size"),), at_most=(("7680x4320", 1),), source="#15.11"),
    _case("msg-missing-key-warned", "default_provider openai without OPENAI_API_KEY: validate/plan/--dry-run warn",
          {"catalog.yaml": SETTINGS + "default_provider: openai\nproviders:\n  openai: {type: openai, "
           "base_url: 'https://api.openai.com/v1', api_key_env: OPENAI_API_KEY}\n", A: MUG},
          exit_code=0, messages=("OPENAI_API_KEY",), source="#15.12"),
    _camp("msg-size-1000x1000", "size 1000x1000 for 3 locales: said once, nearest valid size and resize", """
        campaign: a
        locales: [en, de, fr]
        assets:
          - name: square
            matrix: {locale: "{{ locales }}"}
            prompt: "A square {{ t.winter_headline }}"
            size: 1000x1000
        """, WINTER, at=(), exit_code=0, messages=("1000x1000", "resiz"), at_most=(("1000x1000", 1),),
          commands=(("validate",), ("build", "--dry-run")), source="#15.13"),
    _camp("msg-select-typo", "--select winter_sael: suggest winter_sale", """
        campaign: a
        assets:
          - name: winter_sale
            prompt: A sale poster
        """, at=(), exit_code=2, messages=("winter_sale",),
          commands=(("plan", "--select", "winter_sael"), ("build", "--dry-run", "--select", "winter_sael")),
          source="#15.14"),
    _camp("msg-render-from-ref-file", "render from: refs/product.png: refused at validate, or built for real", """
        campaign: a
        assets:
          - name: story
            render: {from: refs/product.png, size: 1080x1920}
        """, {"refs/product.png": Png(1024, 1024)}, at=(At(A, "render"),), exit_code=(0, 1), same_exit=True,
          commands=(("validate",), ("build",)), time_limit_s=60, source="#15.15"),
]

CONTROLS = [
    _camp("control-good-catalog", "a good catalog with a partial, a locale and a ref: exit 0 (proves the harness)",
          """
        campaign: a
        locales: [en, de]
        vars: {style: "{% include 'style.j2' %}"}
        assets:
          - name: poster
            matrix: {locale: "{{ locales }}"}
            prompt: "A poster reading {{ t.headline }}, {{ style }}"
          - name: bottle
            edit: {image: refs/product.png}
            prompt: on a terrace
        """, {**LOCALES, **REF, "partials/style.j2": "warm light\n"}, at=(), exit_code=0, source="control"),
]

CASES: list[Case] = [*YAML_BOMBS, *YAML_TAGS, *HUGE, *NESTING, *FILE_KINDS, *OUTSIDE_READS, *ABSURD_NUMBERS,
                     *EXPLOSIONS, *JINJA, *SANDBOX_ESCAPES, *PROMPT_LIMITS, *NUL_AND_UNICODE, *STRUCTURE, *WRONG_TYPES,
                     *MESSAGES, *CONTROLS]

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
