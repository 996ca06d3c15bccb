"""Prompt templating: sandboxed Jinja with StrictUndefined, partials from the catalog's partials/.

An undefined variable is an error naming the variable, never an empty string. Compiled templates
are cached by source text: a 2,000-variant plan compiles each distinct prompt once.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Mapping

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

_QUOTED = re.compile(r'"([^"\n]+)"|“([^”\n]+)”|「([^」\n]+)」|„([^“”\n]+)[“”]')
_EXPR_ONLY = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


class TemplateProblem(Exception):
    """A template failed to render; `lineno` is relative to the template's first line."""

    def __init__(self, message: str, lineno: int | None = None, filename: str | None = None):
        self.lineno = lineno
        self.filename = filename
        super().__init__(message)


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
            return jinja2.StrictUndefined(hint=f"locale {self._code!r} has no string {name!r}: add `{name}: ...` to {self._source}")
        if isinstance(v, Mapping):
            fb = self._fallback.get(name) if isinstance(self._fallback, Mapping) else None
            return LocaleStrings(self._code, v, self._source, fb if isinstance(fb, Mapping) else None)
        return v

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


class Templates:
    def __init__(self, partials_dir: Path | None):
        # a loader even without a partials/ dir: an include then says "partial not found", not "no loader"
        loader = jinja2.FileSystemLoader(str(partials_dir)) if partials_dir else None
        self.env = ImmutableSandboxedEnvironment(
            loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        self._partials = str(partials_dir) if loader is not None else None
        self._cache: dict[str, jinja2.Template] = {}
        self._expr_cache: dict[str, Any] = {}

    def compile(self, source: str) -> jinja2.Template:
        tpl = self._cache.get(source)
        if tpl is None:
            try:
                tpl = self.env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno, exc.filename) from exc
            self._cache[source] = tpl
        return tpl

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        if "{" not in source:  # plain text: skip Jinja entirely (the common case for vars)
            return source
        tpl = self.compile(source)
        try:
            return tpl.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(_undefined_message(exc, context) + self._in_partial(exc), _lineno(exc)) from exc
        except jinja2.TemplateNotFound as exc:
            raise TemplateProblem(f"partial not found: {exc.name} (looked in partials/)") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error in {exc.filename or exc.name}: {exc.message}", exc.lineno,
                                  exc.filename) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template: {exc}") from exc
        except Exception as exc:  # a filter on a wrong type, division by zero ...: the user's template
            raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}", _lineno(exc)) from exc

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
        expr = self._expr_cache.get(m.group(1))
        if expr is None:
            try:
                expr = self.env.compile_expression(m.group(1), undefined_to_none=False)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateProblem(f"template syntax error: {exc.message}") from exc
            self._expr_cache[m.group(1)] = expr
        try:
            value = expr(**context)
            if isinstance(value, jinja2.Undefined):
                value._fail_with_undefined_error()
            return value
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(_undefined_message(exc)) from exc


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
