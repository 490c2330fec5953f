"""Queue-time checks: what the nodes' `validate_inputs` take and return, and how ComfyUI shows each problem found.

A problem is one line, `widget: problem; fix`, in the canvas' words. ComfyUI checks number ranges (and, from 0.8 on,
combo options) itself, each under its input; a node's own `validate_inputs` takes only the inputs ComfyUI cannot
check (text, inputs checked together). ComfyUI lists whatever that function returns under *every* input it takes, so
the pack regroups its own nodes' results: one entry per problem, under the input the problem names.
"""
from __future__ import annotations

import functools
import inspect
import logging
import re
from typing import Callable, Iterable

PROBLEM_SEPARATOR = "\n"
#: The error type ComfyUI gives a `validate_inputs` result that is not True.
CUSTOM_FAILURE = "custom_validation_failed"
log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def warn_once(message: str) -> None:
    """One log line per message and server (ComfyUI 0.14+ asks the extension twice: on_load and the node list)."""
    log.warning(message)
_PACK = __name__.rpartition(".")[0]  # the pack's node package, whatever ComfyUI named the pack's module


def host_checks_combos() -> bool:
    """Whether this ComfyUI checks a V3 combo's value against its options itself (from 0.8 on; 0.3.75 does not)."""
    try:
        from comfyui_version import __version__
    except ImportError:
        return False
    parts = [int(p) for p in re.findall(r"\d+", __version__)[:2]]
    return tuple(parts) >= (0, 8)


def checks(*names: str, combos: Iterable[str] = ()) -> Callable:
    """Declare the inputs a node's `validate_inputs` checks itself (decorate it under @classmethod); `combos` are
    declared only where ComfyUI does not check combo options itself. ComfyUI calls it with only those inputs and checks
    the others on its own."""
    declared = list(names) + ([] if host_checks_combos() else list(combos))

    def declare(func: Callable) -> Callable:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD  # ComfyUI reads getfullargspec(...).args
        func.__signature__ = inspect.Signature(
            [inspect.Parameter("cls", kind)] + [inspect.Parameter(n, kind, default=None) for n in declared])
        return func

    return declare


def report(problems: Iterable[str]) -> bool | str:
    """What `validate_inputs` returns: True when nothing is wrong, else its problems, one per line."""
    return PROBLEM_SEPARATOR.join(p.replace(PROBLEM_SEPARATOR, " ") for p in problems) or True


def canvas_words(text: str) -> str:
    """An engine message in the canvas' words: command-line flags become widget names (--steps -> steps)."""
    return re.sub(r"--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), text)


def input_error(exc, rename: dict[str, str] | None = None) -> str:
    """`widget: problem; fix` for an engine InputError, named after the widget (strength-schedule -> strength_schedule)."""
    name = (rename or {}).get(exc.input_name, exc.input_name.replace("-", "_"))
    return canvas_words(f"{name}: {exc.problem}" + (f"; {exc.fix}" if exc.fix else ""))


def every_problem_in(check: Callable[[dict], object], values: dict, rename: dict[str, str] | None = None) -> list[str]:
    """Every problem `check(values)` finds, each as `widget: problem; fix`: after each one its widget is left out (its
    default stands in) and the check runs again, so two bad widgets are two messages at once."""
    from ghibli_core.api import InputError, InputErrors, every_problem

    def widget(input_name: str) -> str:
        return (rename or {}).get(input_name, input_name.replace("-", "_"))

    def leave_out(v: dict, input_name: str) -> dict | None:
        key = widget(input_name)
        return {k: x for k, x in v.items() if k != key} if key in v else None

    try:
        every_problem(check, values, leave_out)
    except InputErrors as exc:
        return [input_error(p, rename) for p in exc.problems]
    except InputError as exc:
        return [input_error(exc, rename)]
    return []


def combo_errors(values: dict, combos: dict) -> list[str]:
    """The V3 server of ComfyUI < 0.8 does not check combo values against their options: the nodes do, at queue time."""
    return [f"{name}: unknown {values[name]!r}; use one of {', '.join(options)}"
            for name, options in combos.items() if values.get(name) is not None and values[name] not in options]


def one_entry_per_problem(errors: list[dict], inputs: Iterable[str]) -> list[dict]:
    """ComfyUI's errors for one node, with each `validate_inputs` result (repeated under every input the function
    takes) split into its problems: one entry each, under the input it names (else the first input it came under).
    Other errors are kept as they are, in order."""
    inputs = set(inputs)
    regrouped: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        taken = (error.get("extra_info") or {}).get("input_name", "")
        details = error.get("details", "")
        if error.get("type") != CUSTOM_FAILURE or not details.startswith(f"{taken} - "):
            regrouped.append(error)
            continue
        for problem in details[len(taken) + 3:].split(PROBLEM_SEPARATOR):
            named, _, words = problem.partition(": ")
            if named not in inputs or not words:
                named, words = None, problem
            if (named, words) in seen:
                continue
            seen.add((named, words))
            name = named or taken
            regrouped.append({**error, "details": f"{name} - {words}", "extra_info": {**error["extra_info"], "input_name": name}})
    return regrouped


def _parameters(func) -> list[str]:
    try:
        return list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return []


def _declared(cls) -> set[str]:
    """The input names a node class declares (ComfyUI's INPUT_TYPES, which V3 nodes derive from their schema)."""
    try:
        types = cls.INPUT_TYPES()
    except Exception:
        return set()
    return {name for section in ("required", "optional") for name in (types.get(section) or {})}


def _is_pack_node(node_classes: dict, class_type: str) -> bool:
    cls = node_classes.get(class_type)
    return cls is not None and cls.__module__.startswith(_PACK + ".")


def one_message_per_problem() -> None:
    """Make ComfyUI report each problem the pack's nodes find once, under its input.

    ComfyUI has no per-input result for `validate_inputs`, and validates each node through
    `execution.validate_inputs(prompt_id, prompt, item, validated)`, looked up on the module on every call (recursion
    included). The pack wraps that one function (once): it calls ComfyUI's own, then regroups the errors of the pack's
    own nodes in place, in the list ComfyUI also keeps in its `validated` cache, so the response, the log and the
    canvas all show the regrouped list. Other nodes' errors are never touched.
    """
    import execution

    original = getattr(execution, "validate_inputs", None)
    if getattr(original, "ghibli_one_message_per_problem", False):
        return
    if not (inspect.iscoroutinefunction(original) and {"prompt", "item", "validated"} <= set(_parameters(original))):
        warn_once("Ghibli Animation: this ComfyUI's execution.validate_inputs is not the one the pack knows; its "
                    "queue-time messages are left as ComfyUI shows them")
        return

    def regroup(args: tuple, kwargs: dict, result) -> None:
        if not (isinstance(result, tuple) and len(result) == 3 and result[0] is not True and isinstance(result[1], list)):
            return
        unique_id = result[2]  # (valid, errors, unique_id); the prompt is the argument that holds that node
        node = next((a[unique_id] for a in (*args, *kwargs.values()) if isinstance(a, dict) and isinstance(a.get(unique_id), dict)
                     and "class_type" in a[unique_id]), None)
        classes = execution.nodes.NODE_CLASS_MAPPINGS
        if node and _is_pack_node(classes, node["class_type"]):
            # the inputs the graph gives, and every input the node declares (a problem may name one left unconnected)
            result[1][:] = one_entry_per_problem(result[1], {*node.get("inputs", {}), *_declared(classes[node["class_type"]])})

    async def validate_inputs(*args, **kwargs):  # async in every ComfyUI with the V3 node API
        result = await original(*args, **kwargs)
        try:
            regroup(args, kwargs, result)
        except Exception:  # never in the way of ComfyUI's own validation: its errors stay as they were
            log.exception("Ghibli Animation: could not regroup a node's queue-time messages")
        return result

    validate_inputs = functools.wraps(original)(validate_inputs)
    validate_inputs.ghibli_one_message_per_problem = True
    execution.validate_inputs = validate_inputs
