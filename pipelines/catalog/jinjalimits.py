"""A Jinja sandbox with a budget: what one template render may produce and how long it may take.

Jinja's sandbox keeps templates away from Python's internals, but not from the CPU or the memory:
five nested `{% for %}` loops, a macro that calls itself twice per level, `{{ 'x' * 10**9 }}` or
`'{:>999999999}'.format(1)` each hang a build or exhaust its memory. Here:

    time    every loop iteration, call, operator and include ticks; a render that runs past its
            deadline (`limits: template_seconds`) stops with TemplateLimit
    output  every piece of output is counted as it is made (the template's own output, macro and
            `{% set %}` buffers) and joined (`~`): more than `limits: template_chars` stops the render
    steps   one operation that would make a huge value in one go is refused before it runs:
            str/list `*` and `+`, `**` on integers, `%` and `format` widths, padding filters and
            methods (center, ljust, indent ...), join, replace, batch, lipsum ...
"""

from __future__ import annotations

import contextlib
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

MAX_INT_BITS = 16_384
_SIZED = (str, bytes, list, tuple)


class TemplateLimit(Exception):
    """A render went over one of its limits; the message says which and how to raise it."""


@dataclass
class _Budget:
    deadline: float
    seconds: float
    chars: int = 0  # every piece of output made so far, buffers included


_BUDGET: ContextVar[_Budget | None] = ContextVar("assetpipe_template_budget", default=None)


class _CodeGen(CodeGenerator):
    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # `a ~ b`: a counted join
        self.write("environment.join_checked((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGen

    def __init__(self, *, max_chars: int, max_seconds: float, **kwargs: Any):
        super().__init__(finalize=self._count_output, **kwargs)
        self.max_chars, self.max_seconds = max_chars, max_seconds
        self.concat = self.join_checked  # buffers, macros and the render itself join through here
        self.globals["lipsum"] = self._lipsum
        for name, guard in _FILTER_GUARDS.items():
            self.filters[name] = _guarded_filter(self.filters[name], guard, self)

    # -- the budget of one render ----------------------------------------------------------------
    @contextlib.contextmanager
    def budget(self) -> Iterator[None]:
        token = _BUDGET.set(_Budget(time.monotonic() + self.max_seconds, self.max_seconds))
        try:
            yield
        finally:
            _BUDGET.reset(token)

    def tick(self) -> None:
        b = _BUDGET.get()
        if b is not None and time.monotonic() > b.deadline:
            raise TemplateLimit(f"rendering took longer than {b.seconds:g} s (a loop or a recursion that "
                                "does not end?); limits: template_seconds in catalog.yaml")

    def too_big(self, what: str, size: int) -> TemplateLimit:
        return TemplateLimit(f"{what} would be {size:,} characters or items, over the limit of "
                             f"{self.max_chars:,} (limits: template_chars in catalog.yaml)")

    def check_size(self, what: str, size: int) -> None:
        if size > self.max_chars:
            raise self.too_big(what, size)

    # -- hooks Jinja calls -------------------------------------------------------------------------
    def _count_output(self, value: Any) -> Any:
        """Every `{{ ... }}` output, wherever it goes (the render, a macro, a `{% set %}` block)."""
        b = _BUDGET.get()
        if b is not None:
            b.chars += len(value) if isinstance(value, str) else len(str(value))
            if b.chars > self.max_chars:
                raise self.too_big("the output of this template", b.chars)
        return value

    def join_checked(self, parts: Iterable[Any]) -> str:
        out, total = [], 0
        for p in parts:
            s = p if isinstance(p, str) else str(p)
            total += len(s)
            if total > self.max_chars:
                raise self.too_big("the rendered text", total)
            out.append(s)
        return "".join(out)

    def loop_guard(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # every loop iterates through loop_guard: it ticks
            loop.iter = nodes.Call(nodes.EnvironmentAttribute("loop_guard"), [loop.iter], [], None, None,
                                   lineno=loop.lineno)
        return tree

    def call(self, context, obj, /, *args: Any, **kwargs: Any) -> Any:  # noqa: D401 - Jinja's signature
        self.tick()
        _check_method(self, getattr(obj, "__wrapped__", obj), args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, _SIZED):
            self.check_size("a value", _weight(result))
        return result

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        _check_binop(self, operator, left, right)
        return super().call_binop(context, operator, left, right)

    def get_template(self, name, parent=None, globals=None):
        self.tick()
        return super().get_template(name, parent, globals)

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        if n * max > self.max_chars // 8:
            raise self.too_big("lipsum()", n * max * 8)
        return generate_lorem_ipsum(n, html, min, max)


# -- estimates of what one operation would make -------------------------------------------------------

def _weight(x: Any) -> int:
    """Characters or items, one level deep (a list of big strings weighs what joining it makes)."""
    if isinstance(x, (str, bytes)):
        return len(x)
    if isinstance(x, (list, tuple)):
        return len(x) + sum(len(i) for i in x if isinstance(i, (str, bytes)))
    return 0


def _check_binop(env: GuardedEnvironment, op: str, a: Any, b: Any) -> None:
    ints = isinstance(a, int) and isinstance(b, int)
    if op == "*":
        if ints and a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise TemplateLimit(f"a number over {MAX_INT_BITS:,} bits is not allowed in a template")
        seq, n = (a, b) if isinstance(a, _SIZED) and isinstance(b, int) else (b, a) \
            if isinstance(b, _SIZED) and isinstance(a, int) else (None, 0)
        if seq is not None and n > 0:
            env.check_size("a repeated value", _weight(seq) * n)
    elif op == "**":
        if ints and b > 0 and abs(a) > 1 and a.bit_length() * b > MAX_INT_BITS:
            raise TemplateLimit(f"a number over {MAX_INT_BITS:,} bits is not allowed in a template")
    elif op == "+":
        if isinstance(a, _SIZED) and isinstance(b, _SIZED):
            env.check_size("a joined value", _weight(a) + _weight(b))
    elif op == "%" and isinstance(a, str):
        _check_format(env, a, b if isinstance(b, (tuple, list)) else (b,), {} if not isinstance(b, dict) else b)


_PCT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


def _check_format(env: GuardedEnvironment, fmt: str, args: Iterable[Any], kwargs: dict) -> None:
    """%-format and str.format widths and precisions: `{:>999999999}` pads to a gigabyte."""
    widths = [int(x) for m in _PCT_SPEC.finditer(fmt) for x in m.groups() if x and x.isdigit()]
    widths += [int(d) for m in _BRACE_SPEC.finditer(fmt) for d in re.findall(r"\d+", m.group(1))]
    if "*" in fmt or _NESTED_SPEC.search(fmt):  # widths taken from the arguments
        widths += [x for x in [*args, *kwargs.values()] if isinstance(x, int)]
    if widths:
        env.check_size("a formatted value", len(fmt) + max(widths))


def _check_method(env: GuardedEnvironment, fn: Any, args: tuple, kwargs: dict) -> None:
    """str methods that can make far more than they are given."""
    self, name = getattr(fn, "__self__", None), getattr(fn, "__name__", "")
    if not isinstance(self, str):
        return
    if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        env.check_size(f"str.{name}()", args[0])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        env.check_size("str.expandtabs()", len(self) * size if isinstance(size, int) else 0)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        env.check_size("str.replace()", _replaced_size(self, args[0], args[1]))
    elif name == "join" and args:
        env.check_size("str.join()", _joined_size(args[0], self))
    elif name in ("format", "format_map"):
        _check_format(env, self, args, kwargs if name == "format" else (args[0] if args else {}))
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        env.check_size("str.translate()", len(self) * longest)


def _replaced_size(s: str, old: str, new: str) -> int:
    hits = s.count(old) if old else len(s) + 1
    return len(s) + hits * len(new)


def _joined_size(items: Any, sep: Any) -> int:
    if not isinstance(items, (list, tuple)):
        return 0
    return sum(len(i) if isinstance(i, (str, bytes)) else 8 for i in items) + len(str(sep)) * len(items)


# -- filters that can make far more than they are given ------------------------------------------------

def _int_arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = 0) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _f_center(env, args, kwargs):
    w = _int_arg(args, kwargs, 1, "width", 80)
    return w if isinstance(w, int) else 0


def _f_indent(env, args, kwargs):
    s, w = str(args[0]) if args else "", _int_arg(args, kwargs, 1, "width", 4)
    unit = len(w) if isinstance(w, str) else w if isinstance(w, int) else 0
    return len(s) + (s.count("\n") + 1) * unit


def _f_format(env, args, kwargs):
    if args and isinstance(args[0], str):
        _check_format(env, args[0], args[1:], kwargs)
    return 0


def _f_join(env, args, kwargs):
    value = args[0] if args else ()
    return _joined_size(list(value) if isinstance(value, (list, tuple)) else (), _int_arg(args, kwargs, 1, "d", ""))


def _f_replace(env, args, kwargs):
    if len(args) >= 3 and all(isinstance(a, str) for a in args[:3]):
        return _replaced_size(*args[:3])
    return 0


def _f_wordwrap(env, args, kwargs):
    s, wrap = str(args[0]) if args else "", _int_arg(args, kwargs, 3, "wrapstring", None)
    width = _int_arg(args, kwargs, 1, "width", 79)
    return len(s) * (1 + len(wrap)) // max(1, width if isinstance(width, int) else 1) if isinstance(wrap, str) else 0


def _f_count_arg(position: int, name: str):
    def guard(env, args, kwargs):
        n = _int_arg(args, kwargs, position, name, 0)
        return n if isinstance(n, int) else 0
    return guard


def _f_tojson(env, args, kwargs):
    indent = _int_arg(args, kwargs, 1, "indent", None)
    return indent * 1000 if isinstance(indent, int) and indent > 16 else 0


_FILTER_GUARDS = {
    "center": _f_center, "indent": _f_indent, "format": _f_format, "join": _f_join, "replace": _f_replace,
    "wordwrap": _f_wordwrap, "batch": _f_count_arg(1, "linecount"), "slice": _f_count_arg(1, "slices"),
    "tojson": _f_tojson,
}


def _guarded_filter(fn, guard, env: GuardedEnvironment):
    def guarded(*args: Any, **kwargs: Any) -> Any:
        env.tick()
        # a filter that gets the environment or context first (pass_environment ...) gets it here too
        plain = args[1:] if args and isinstance(args[0], GuardedEnvironment) or _is_context(args) else args
        env.check_size(f"the {fn.__name__.removeprefix('do_')} filter's result", guard(env, plain, kwargs))
        return fn(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(guarded, attr, getattr(fn, attr))
    guarded.__name__ = fn.__name__
    return guarded


def _is_context(args: tuple) -> bool:
    from jinja2.nodes import EvalContext
    from jinja2.runtime import Context

    return bool(args) and isinstance(args[0], (Context, EvalContext))
