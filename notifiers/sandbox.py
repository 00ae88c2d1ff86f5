"""The Jinja2 sandbox for message templates, with caps on what a template may build.

Jinja's sandbox stops a template from reaching our objects, not from eating the machine:
`{{ 'x' * 400000000 }}` passed lint and took 1.5 GB (folded at compile time, so lint itself
allocated it). Rule authors write templates, so every way a template makes something big is
capped, and checked before the big thing is built where it can be:
  - repetition, `+` and `%` (and `**`) are intercepted: a string over `MAX_SIZE` characters, a
    list over `MAX_SIZE` items or weight, a power over `MAX_POWER_BITS` bits is refused;
    `~` (join to text) is capped the same way (the compiler emits `environment.join_capped`);
  - every filter and every call (methods, macros, globals) gets its numeric arguments
    capped (`MAX_NUMBER_ARG`: widths, counts), its input size times its arguments' size
    capped (`MAX_WORK`: `replace('', …)`, `wordwrap(1, wrapstring=…)`), and its result capped
    (`MAX_SIZE`); format strings may not ask for widths of 100000 or more;
  - `range()` gives at most `MAX_RANGE` numbers; one render runs at most `MAX_STEPS` loop
    iterations and `MAX_CALLS` calls, its filters, calls and operators handle at most
    `MAX_TOTAL_WORK` characters, and it writes at most `MAX_OUTPUT` (`render_capped`).
A template over a cap fails with `TemplateLimitError` naming the cap; the Renderer then
falls back to the built-in card, so the alert still goes out. `constant_problem` finds what is
visible without running the template (constants that already blow a cap) for lint, using the
same capped operations, so lint never builds anything bigger than `MAX_SIZE` either.
"""
from __future__ import annotations

import contextvars
import functools
import operator
import re
from collections.abc import Sized
from typing import Any, Callable, Iterable, Iterator

from jinja2 import Environment, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SIZE = 1_000_000
"""Characters of a string, items (plus the length of their strings) of a list or dict."""
MAX_WORK = 20_000_000
"""Input size times argument size a filter or call may be handed (bounds what it builds)."""
MAX_NUMBER_ARG = 100_000
"""Largest number passed to a filter or call (widths, counts, indents)."""
MAX_POWER_BITS = 100_000
MAX_RANGE = 10_000
MAX_STEPS = 200_000
"""Loop iterations in one render."""
MAX_CALLS = 10_000
"""Calls (macros, methods, globals) in one render: a macro that calls itself twice doubles."""
MAX_TOTAL_WORK = 50_000_000
"""Characters or items all filters, calls and operators of one render may handle."""
MAX_OUTPUT = 2_000_000
"""Characters one render may write."""

_BIG_FORMAT_NUMBER = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\d{6,}|\d*\.\d{6,})"  # %0400000000d, %.400000000f
    r"|\{[^{}]*:[^{}]*\d{6,}")  # {:>400000000}
_INTERCEPTED = frozenset({"*", "**", "%", "+"})
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul, "**": operator.pow, "%": operator.mod, "+": operator.add}
_STEP_FILTER = "kea_counted_loop"


class TemplateLimitError(TemplateRuntimeError):
    """A template tried to build more than a cap allows."""


class _Budget:
    """What one render has used so far; `render_capped` starts a fresh one."""

    __slots__ = ("steps", "calls", "work")

    def __init__(self) -> None:
        self.steps = self.calls = self.work = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"more than {MAX_STEPS} loop iterations")

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise TemplateLimitError(f"more than {MAX_CALLS} calls (macros, methods)")

    def spend(self, size: int) -> None:
        self.work += size
        if self.work > MAX_TOTAL_WORK:
            raise TemplateLimitError(f"filters, calls and operators handled more than "
                                     f"{MAX_TOTAL_WORK} characters or items")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("kea_template_budget",
                                                                        default=None)
"""Unset outside `render_capped` (constant folding at compile time is not counted)."""


def _step() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.step()


def _spend(*values: Any) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(1 + max(weight(v) for v in values))


# -- sizes ---------------------------------------------------------------------------------------
def weight(value: Any) -> int:
    """Characters of a string; items of a list, tuple or dict plus the length of the strings
    and containers directly in it (so `[s] * n` weighs what joining it would build)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return len(value) + sum(len(v) for v in value if isinstance(v, (str, list, tuple, dict)))
    if isinstance(value, dict):
        return len(value)
    return 0


def _capped(value: Any, what: str) -> Any:
    w = weight(value)
    if w > MAX_SIZE:
        raise TemplateLimitError(f"{what} builds {w} characters or items; the limit is "
                                 f"{MAX_SIZE}")
    return value


def check_binop(op: str, left: Any, right: Any) -> None:
    """Refuse `left op right` before computing it if the result would be over a cap."""
    _BINOP_CHECKS[op](left, right)


def _check_repeat(left: Any, right: Any) -> None:
    seq, count = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, int) and isinstance(count, int):
        if seq.bit_length() + count.bit_length() > MAX_POWER_BITS:
            raise TemplateLimitError(f"a product of over {MAX_POWER_BITS} bits")
    elif isinstance(count, int) and isinstance(seq, (str, list, tuple)):
        if max(count, 0) * max(weight(seq), 1) > MAX_SIZE:
            raise TemplateLimitError(f"repeating {weight(seq)} characters or items {count} "
                                     f"times is over the limit of {MAX_SIZE}")


def _check_add(left: Any, right: Any) -> None:
    if isinstance(left, (str, list, tuple)) and weight(left) + weight(right) > MAX_SIZE:
        raise TemplateLimitError(f"joining {weight(left)} and {weight(right)} characters or "
                                 f"items is over the limit of {MAX_SIZE}")


def _check_power(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0 \
            and left.bit_length() * right > MAX_POWER_BITS:
        raise TemplateLimitError(f"{left} ** {right} is over {MAX_POWER_BITS} bits")


def _check_modulo(left: Any, right: Any) -> None:
    if isinstance(left, str):  # printf-style formatting
        _check_format(left)
        _check_numbers(right if isinstance(right, (tuple, list)) else (right,), "%")


_BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "*": _check_repeat, "+": _check_add, "**": _check_power, "%": _check_modulo}


def _check_format(fmt: str) -> None:
    if _BIG_FORMAT_NUMBER.search(fmt):
        raise TemplateLimitError(f"format string asks for a width or precision over the "
                                 f"limit of {MAX_NUMBER_ARG}")


def _check_numbers(values: Iterable[Any], what: str) -> None:
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_NUMBER_ARG:
            raise TemplateLimitError(f"{what}: argument {v} is over the limit of "
                                     f"{MAX_NUMBER_ARG}")


def check_call(what: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a filter or call whose arguments would make it build too much. `value` is what
    it works on (a filter's input, a method's object); its own size is not limited here."""
    extra = (*args, *kwargs.values())
    _check_numbers(extra, what)
    if isinstance(value, str) and what in ("format", "str.format", "str.format_map"):
        _check_format(value)
    # What a builder makes is about its largest input times the next (a count, a width, a
    # replacement, a separator): `big.replace('', other)`, `s.center(w, fill)`, `sep.join(l)`.
    sizes = sorted((weight(v) for v in (value, *extra)), reverse=True) + [0, 0]
    numbers = [abs(v) for v in extra if isinstance(v, int) and not isinstance(v, bool)]
    factor = max(1, sizes[1], *numbers)
    if sizes[0] * factor > MAX_WORK:
        raise TemplateLimitError(f"{what}: {sizes[0]} characters or items with an argument "
                                 f"of size {factor} is over the limit of {MAX_WORK}")


# -- the environment -----------------------------------------------------------------------------
class _CappedCodeGenerator(CodeGenerator):
    """`a ~ b` (Concat) joins through `environment.join_capped`, which refuses a result over
    `MAX_SIZE` before building it."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_capped((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _CountedRange(Sized):
    """`range()` for templates: at most `MAX_RANGE` numbers, each counted as a step."""

    def __init__(self, *args: int) -> None:
        _check_numbers(args, "range")  # the sandbox's own range() allows 100000
        self._range = range(*args)
        if len(self._range) > MAX_RANGE:
            raise TemplateLimitError(f"range() of {len(self._range)} numbers; the limit is "
                                     f"{MAX_RANGE}")

    def __len__(self) -> int:
        return len(self._range)

    def __iter__(self) -> Iterator[int]:
        for i in self._range:
            _step()
            yield i

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __contains__(self, item: object) -> bool:
        return item in self._range


_CountedRange.__name__ = "range"  # as templates call it, for error messages


def _counted_loop(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _step()
        yield item


def _capped_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps jinja's pass_context / pass_eval_context marks
    def run(*args: Any, **kwargs: Any) -> Any:
        data = [a for a in args if not _is_jinja_internal(a)]
        if data:
            check_call(name, data[0], tuple(data[1:]), kwargs)
        result = _capped(fn(*args, **kwargs), f"filter {name}")
        _spend(result, *data[:1])
        return result

    return run


def _is_jinja_internal(value: Any) -> bool:
    return isinstance(value, (Context, nodes.EvalContext, Environment))


class CappedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = _INTERCEPTED
    code_generator_class = _CappedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _CountedRange
        self.globals.pop("lipsum", None)  # lipsum(n) builds n paragraphs; no use in a message
        self.filters = {name: _capped_filter(name, fn) for name, fn in self.filters.items()}
        self.filters[_STEP_FILTER] = _counted_loop

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Count every loop iteration: each `for` runs over `iterable | kea_counted_loop`.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _STEP_FILTER, [], [], None, None,
                                     lineno=loop.lineno)
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        result = _capped(super().call_binop(context, operator, left, right), f"'{operator}'")
        _spend(result)
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _BUDGET.get()
        if budget is not None:
            budget.call()
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "call")
        what = f"str.{name}" if isinstance(owner, str) else name
        check_call(what, owner, args, kwargs)
        result = _capped(super().call(__context, __obj, *args, **kwargs), what)
        _spend(result, owner)
        return result

    def join_capped(self, parts: tuple[Any, ...]) -> str:
        texts = [str(p) for p in parts]
        size = sum(len(t) for t in texts)
        if size > MAX_SIZE:
            raise TemplateLimitError(f"'~' builds {size} characters; the limit is {MAX_SIZE}")
        _spend(size)
        return "".join(texts)


def render_capped(template: Any, context: dict[str, Any]) -> str:
    """Render with a fresh step budget, stopping at `MAX_OUTPUT` characters."""
    token = _BUDGET.set(_Budget())
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(f"the template writes more than {MAX_OUTPUT} "
                                         "characters")
            out.append(chunk)
        return "".join(out)
    finally:
        _BUDGET.reset(token)


# -- lint ----------------------------------------------------------------------------------------
def constant_problem(env: CappedSandbox, tree: nodes.Template) -> str | None:
    """"line N: …" for the first constant expression that already blows a cap, else None.
    Evaluates only constants, through the same capped operations."""
    for node in tree.find_all((nodes.BinExpr, nodes.Filter, nodes.Call)):
        try:
            _evaluate(env, node)
        except TemplateLimitError as e:
            return f"line {node.lineno}: {e.message}"
        except _NotConstant:
            continue
    return None


class _NotConstant(Exception):
    pass


def _evaluate(env: CappedSandbox, node: nodes.Node) -> Any:
    if isinstance(node, nodes.BinExpr) and node.operator in _INTERCEPTED:
        left, right = _evaluate(env, node.left), _evaluate(env, node.right)
        check_binop(node.operator, left, right)
        return _capped(_OPERATORS[node.operator](left, right), f"'{node.operator}'")
    if isinstance(node, (nodes.Filter, nodes.Call)):
        _check_constant_call(env, node)
        raise _NotConstant  # checked; running it is the render's business
    if not isinstance(node, nodes.Expr):
        raise _NotConstant  # only an expression has a value
    try:
        return node.as_const(nodes.EvalContext(env))
    except Exception as e:  # Impossible, or a constant that fails: that fails at render time
        raise _NotConstant from e


def _check_constant_call(env: CappedSandbox, node: nodes.Filter | nodes.Call) -> None:
    """Check a filter or call whose arguments are constants (its input need not be)."""
    if isinstance(node, nodes.Filter):
        if node.name in env.filters:
            args, kwargs = _arguments(env, node)
            check_call(node.name, _maybe(env, node.node), args, kwargs)
    elif isinstance(node.node, nodes.Name) and node.node.name == "range":
        _CountedRange(*_arguments(env, node)[0])
    elif isinstance(node.node, nodes.Getattr):
        args, kwargs = _arguments(env, node)
        owner = _maybe(env, node.node.node)
        what = f"str.{node.node.attr}" if isinstance(owner, str) else node.node.attr
        check_call(what, owner, args, kwargs)


def _maybe(env: CappedSandbox, node: nodes.Node | None) -> Any:
    """The constant value of `node`, or None when it has none (its size is then unknown)."""
    if node is None:
        return None
    try:
        return _evaluate(env, node)
    except _NotConstant:
        return None


def _arguments(env: CappedSandbox, node: nodes.Filter | nodes.Call
               ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Constant arguments (raises _NotConstant if one is not)."""
    kwargs: dict[str, Any] = {}
    for k in node.kwargs:
        # The parser gives Keyword nodes (a str key) for filters too; jinja2 annotates Pair.
        if not isinstance(k.key, str):
            raise _NotConstant
        kwargs[k.key] = _evaluate(env, k.value)
    return tuple(_evaluate(env, a) for a in node.args), kwargs
