"""Arithmetic expressions in schedules, evaluated without eval/exec.

    f = compile_expression("0.2*sin(2*pi*t/24)")
    f(t=3, max_f=48)  -> 0.1414...

Only numbers, `t` (the frame index), `max_f` (the frame count), `pi`, `e`, the operators + - * / % ** and the
functions sin, cos, tan, asin, acos, atan, sqrt, exp, log, abs, floor, ceil, round, min, max are allowed. The text
is parsed by Python's `ast` module and walked against that whitelist; anything else (names, attributes, calls of
other things, subscripts, lambdas, comparisons, strings, very long or deeply nested input) is refused before it
runs. Arithmetic is done in floats, so a huge power overflows into a clear error instead of running forever.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Callable, Mapping

from ..errors import InputError

MAX_LENGTH = 256
MAX_DEPTH = 24
MAX_BRACKETS = 16
MAX_NODES = 200

VARIABLES = ("t", "max_f")
CONSTANTS = {"pi": math.pi, "e": math.e}
FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "abs": abs, "floor": math.floor, "ceil": math.ceil,
    "round": round, "min": min, "max": max,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_ARITY = {"min": (2, 8), "max": (2, 8)}

#: Functions of the frame that follow a soundtrack (audio_features.py): allowed when the schedule is given the sound.
AUDIO_FUNCTIONS = ("amplitude", "onset", "beat")

Expression = Callable[..., float]
HELP = ("use numbers, t, max_f, pi, e, + - * / % ** and " + ", ".join(FUNCTIONS) + " (with --audio also amplitude(t), "
        "onset(t), beat(t)), e.g. 0.2*sin(2*pi*t/24)")


class _Refused(Exception):
    """Something outside the whitelist (the message says what)."""


def _depth(node: ast.AST) -> int:
    children = list(ast.iter_child_nodes(node))
    return 1 + (max(_depth(c) for c in children) if children else 0)


def _build(node: ast.AST, extra: Mapping[str, Callable[[float], float]] | None = None) -> Callable[[dict[str, float]], float]:
    """A closure computing `node` from the variables; refuses any node outside the whitelist (which `extra`, one-argument
    functions such as a soundtrack's features, may extend)."""
    extra = extra or {}
    if isinstance(node, ast.Expression):
        return _build(node.body, extra)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _Refused(f"{node.value!r} is not a number")
        value = float(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        if node.id in VARIABLES:
            name = node.id
            return lambda env: env[name]
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return lambda env: value
        raise _Refused(f"unknown name {node.id!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op, left, right = _BINARY[type(node.op)], _build(node.left, extra), _build(node.right, extra)
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        op, operand = _UNARY[type(node.op)], _build(node.operand, extra)
        return lambda env: op(operand(env))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in AUDIO_FUNCTIONS and node.func.id not in extra:
        raise _Refused(f"{node.func.id}(t) follows a soundtrack, and none was given (add --audio FILE)")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in extra:
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise _Refused(f"{node.func.id}() takes one argument, the frame (e.g. {node.func.id}(t))")
        function, arg = extra[node.func.id], _build(node.args[0], extra)
        return lambda env: float(function(arg(env)))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise _Refused(f"{ast.unparse(node.func)!r} is not an allowed function")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise _Refused(f"{node.func.id}() takes plain arguments")
        lo, hi = _ARITY.get(node.func.id, (1, 1))
        if not lo <= len(node.args) <= hi:
            raise _Refused(f"{node.func.id}() takes {lo if lo == hi else f'{lo} to {hi}'} argument{'s' * (hi > 1)}")
        function, args = FUNCTIONS[node.func.id], [_build(a, extra) for a in node.args]
        return lambda env: function(*(a(env) for a in args))
    raise _Refused(f"{type(node).__name__} is not plain arithmetic")


def compile_expression(text: str, input_name: str = "schedule", extra: Mapping[str, Callable[[float], float]] | None = None) -> Expression:
    """A function f(t=..., max_f=...) -> float for `text`; an InputError names anything that is not plain arithmetic.
    `extra` adds one-argument functions of the frame (a soundtrack's amplitude, onset and beat)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(input_name, "an empty value", HELP)
    if len(text) > MAX_LENGTH:
        raise InputError(input_name, f"a value of {len(text)} characters is too long (at most {MAX_LENGTH})", "write a shorter expression")
    depth = deepest = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_BRACKETS:
        raise InputError(input_name, f"{text.strip()[:40]!r}... is nested too deeply ({deepest} brackets)", "write a simpler expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise InputError(input_name, f"{text.strip()!r} is not an expression ({type(exc).__name__})", HELP) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES or _depth(tree) > MAX_DEPTH:
        raise InputError(input_name, f"{text.strip()!r} is nested too deeply", "write a simpler expression")
    try:
        body = _build(tree, extra)
    except _Refused as why:
        raise InputError(input_name, f"{text.strip()!r}: {why}", HELP) from None
    source = text.strip()

    def evaluate(t: float = 0.0, max_f: float = 1.0) -> float:
        try:
            value = body({"t": float(t), "max_f": float(max_f)})
        except (ArithmeticError, ValueError, TypeError) as exc:  # 1/0, 10**999, log(-1), sqrt(-1)
            raise InputError(input_name, f"{source!r} cannot be computed at t={t:g} ({type(exc).__name__})",
                             "keep the expression finite for every frame") from None
        if isinstance(value, complex) or not math.isfinite(value):
            raise InputError(input_name, f"{source!r} is not a finite number at t={t:g}", "keep the expression finite for every frame")
        return float(value)

    evaluate.source = source  # type: ignore[attr-defined]
    return evaluate
