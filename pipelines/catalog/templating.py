"""Prompt templating: sandboxed Jinja with StrictUndefined, partials from the catalog's partials/.

An undefined variable is an error naming the variable, never an empty string. Compiled templates
are cached by source text: a 2,000-variant plan compiles each distinct prompt once.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Mapping

import jinja2
from jinja2.loaders import split_template_path

from pipelines.catalog.jinjalimits import GuardedEnvironment, TemplateLimit
from pipelines.catalog.sources import SourceMissing, SourceProblem, read_text
from pipelines.catalog.spec import Limits

_QUOTED = re.compile(r'"([^"\n]+)"|“([^”\n]+)”|「([^」\n]+)」|„([^“”\n]+)[“”]')
_EXPR_ONLY = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
_NAMED = re.compile(r"^(?:undefined variable|no locale string|locale '[^']*' has no string|'[^']*' has no attribute) "
                    r"'([^']+)'")


class TemplateProblem(Exception):
    """A template failed to render; `lineno` is relative to the template's first line."""

    def __init__(self, message: str, lineno: int | None = None, filename: str | None = None):
        self.lineno = lineno
        self.filename = filename
        super().__init__(message)

    @property
    def token(self) -> str | None:
        """The name the problem is about (an undefined variable, a missing locale string), to point
        at the line of the template that uses it."""
        m = _NAMED.search(str(self))
        return m.group(1) if m else None


class LocaleStrings(Mapping[str, Any]):
    """`t` in templates: one locale's strings, with an error that names the locale file on a miss."""

    def __init__(self, code: str, strings: Mapping[str, Any], source: str, fallback: Mapping[str, Any] | None = None):
        self._code, self._strings, self._source, self._fallback = code, strings, source, fallback

    def _get(self, name: str) -> Any:
        if name in self._strings:
            v = self._strings[name]
        elif self._fallback is not None and name in self._fallback:
            v = self._fallback[name]
        else:
            return jinja2.StrictUndefined(hint=self._missing(name))
        if isinstance(v, Mapping):
            fb = self._fallback.get(name) if isinstance(self._fallback, Mapping) else None
            return LocaleStrings(self._code, v, self._source, fb if isinstance(fb, Mapping) else None)
        return v

    def _missing(self, name: str) -> str:
        """A typo of an existing string is named as one (the same words in every locale, so it is
        reported once); a string the locale lacks says which file to add it to."""
        known = [k for k in (*self._strings, *(self._fallback or {})) if isinstance(k, str)]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
        if close:
            return f"no locale string {name!r} (did you mean {close[0]!r}?)"
        return f"locale {self._code!r} has no string {name!r}: add `{name}: ...` to {self._source}"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._get(name)

    def __getitem__(self, name: str) -> Any:
        return self._get(name)

    def __iter__(self):
        return iter(self._strings)

    def __len__(self) -> int:
        return len(self._strings)


class PartialRefused(jinja2.TemplateNotFound):
    """A partial that exists but must not be read (outside the catalog, not a regular file ...)."""

    def __init__(self, name: str, problem: str):
        self.problem = problem
        super().__init__(name, f"partial {name!r} {problem}")


class PartialsLoader(jinja2.BaseLoader):
    """Partials from the catalog's partials/ directory, read like every catalog file: contained
    (symlinks followed, never outside the catalog), regular files only, at most `max_bytes`."""

    def __init__(self, partials_dir: Path, root: Path, max_bytes: int):
        self.dir, self.root, self.max_bytes = partials_dir, root, max_bytes

    def get_source(self, environment, template: str):
        if not template.isprintable():
            raise PartialRefused(template, "has a control character in its name")
        path = self.dir.joinpath(*split_template_path(template))  # refuses '..'
        try:
            text = read_text(path, self.root, self.max_bytes)
        except SourceMissing:
            raise jinja2.TemplateNotFound(template) from None
        except SourceProblem as exc:
            raise PartialRefused(template, str(exc)) from None
        mtime = os.stat(path).st_mtime_ns
        return text, str(path), lambda: os.path.exists(path) and os.stat(path).st_mtime_ns == mtime


MAX_LIMIT_FAILURES = 10  # after this many templates went over a limit, the rest are not tried


class Templates:
    def __init__(self, partials_dir: Path | None, *, root: Path | None = None, limits: Limits | None = None):
        limits = limits or Limits()
        root = root or (partials_dir.parent if partials_dir else Path("."))
        # a loader even without a partials/ dir: an include then says "partial not found", not "no loader"
        loader = PartialsLoader(partials_dir, root, limits.file_bytes) if partials_dir else None
        self.env = GuardedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                                      keep_trailing_newline=False, max_chars=limits.template_chars,
                                      max_seconds=limits.template_seconds)
        self._partials = str(partials_dir) if loader is not None else None
        self._cache: dict[str, jinja2.Template] = {}
        self._expr_cache: dict[str, Any] = {}
        self._refused: dict[str, str] = {}  # templates that went over a limit: not tried again

    def compile(self, source: str) -> jinja2.Template:
        tpl = self._cache.get(source)
        if tpl is None:
            try:
                tpl = self.env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno, exc.filename) from exc
            except (RecursionError, MemoryError):
                raise TemplateProblem("the template is nested too deeply (brackets or blocks inside one "
                                      "another hundreds of levels deep)") from None
            self._cache[source] = tpl
        return tpl

    def _check_refused(self, source: str) -> None:
        if source in self._refused:
            raise TemplateProblem(self._refused[source])
        if len(self._refused) >= MAX_LIMIT_FAILURES:
            raise TemplateProblem(f"not rendered: {len(self._refused)} templates already went over their limits")

    def _refuse(self, source: str, exc: TemplateLimit) -> TemplateProblem:
        self._refused[source] = str(exc)
        return TemplateProblem(str(exc))

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        if "{" not in source:  # plain text: skip Jinja entirely (the common case for vars)
            return source
        self._check_refused(source)
        tpl = self.compile(source)
        try:
            with self.env.budget():
                return tpl.render(context)
        except Exception as exc:
            raise self._problem(source, exc, context) from None

    def _problem(self, source: str, exc: Exception, context: Mapping[str, Any]) -> TemplateProblem:
        """What went wrong in a render, in the catalog author's terms."""
        if isinstance(exc, TemplateLimit):
            return self._refuse(source, exc)
        if isinstance(exc, PartialRefused):
            return TemplateProblem(exc.message)
        if isinstance(exc, jinja2.UndefinedError):
            return TemplateProblem(_undefined_message(exc, context) + self._in_partial(exc), _lineno(exc))
        if isinstance(exc, jinja2.TemplateNotFound):
            return TemplateProblem(f"partial not found: {exc.name} (looked in partials/)")
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return TemplateProblem(f"template syntax error in {exc.filename or exc.name}: {exc.message}", exc.lineno,
                                   exc.filename)
        if isinstance(exc, jinja2.exceptions.SecurityError):
            return TemplateProblem(f"not allowed in a template: {exc}")
        if isinstance(exc, RecursionError):
            return TemplateProblem("macros or includes call each other without end (a recursion)")
        # a filter on a wrong type, division by zero ...: the user's template
        return TemplateProblem(f"template error: {type(exc).__name__}: {exc}", _lineno(exc))

    def _in_partial(self, exc: BaseException) -> str:
        """` in partials/x.j2 line N` when the error happened inside an included or imported partial:
        the line to fix is there, not in the campaign file."""
        where = ""
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if self._partials is not None and name.startswith(self._partials):
                where = f" in partials/{Path(name).relative_to(self._partials).as_posix()} line {tb.tb_lineno}"
            tb = tb.tb_next
        return where

    def evaluate(self, source: Any, context: Mapping[str, Any]) -> Any:
        """A value written as exactly one `{{ expr }}` is that expression's value (a list stays a list)."""
        if not isinstance(source, str):
            return source
        m = _EXPR_ONLY.match(source)
        if not m or "}}" in m.group(1):
            return self.render(source, context)
        self._check_refused(source)
        expr = self._expr_cache.get(m.group(1))
        if expr is None:
            try:
                expr = self.env.compile_expression(m.group(1), undefined_to_none=False)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateProblem(f"template syntax error: {exc.message}") from exc
            except (RecursionError, MemoryError):
                raise TemplateProblem("the expression is nested too deeply") from None
            self._expr_cache[m.group(1)] = expr
        try:
            with self.env.budget():
                value = expr(**context)
            if isinstance(value, jinja2.Undefined):
                value._fail_with_undefined_error()
            if isinstance(value, (str, list, tuple)):
                self.env.check_size("the value", len(value))
            return value
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(_undefined_message(exc)) from exc
        except Exception as exc:
            raise self._problem(source, exc, context) from None


def _undefined_message(exc: jinja2.UndefinedError, context: Mapping[str, Any] | None = None) -> str:
    msg = str(exc)
    m = re.match(r"'(.+)' is undefined$", msg)
    if not m:
        return msg
    close = difflib.get_close_matches(m.group(1), [k for k in (context or {}) if isinstance(k, str)], n=1, cutoff=0.7)
    return f"undefined variable {m.group(1)!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _lineno(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def quoted_strings(prompt: str) -> list[str]:
    """The default expected in-image text: every quoted string of the rendered prompt."""
    out = []
    for m in _QUOTED.finditer(prompt):
        s = next(g for g in m.groups() if g is not None).strip()
        if s and s not in out:
            out.append(s)
    return out
