"""Config dataclasses from untrusted dicts (config.json, API keywords) with one-line type errors.

``batch_size="sixty"`` in a config.json or ``betas=0.5`` from Python must say which setting is
wrong and what it wants, not fail later deep inside torch. A string with a fixed set of values is
a ``Literal``: ``build`` refuses any other, naming the choices.

Each field is written once, with :func:`setting`: its default and its help. The command line
makes its flags from these (``ganforge.cli``), so a new field is a new flag.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union

from .errors import GanforgeError

T = TypeVar("T")

_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def setting(default: Any, help: str, *, metavar: str | None = None, choices: Any = None) -> Any:
    """A config field with its help text, as ``dataclasses.field`` with metadata.

    ``metavar`` names the value in ``--help`` (``PX``, ``LR``). ``choices``: a registry
    (``MODELS``, ``LOSSES``) whose names are the values a string field takes; a fixed set of
    values is a ``Literal`` annotation instead.
    """
    meta: dict[str, Any] = {"help": help}
    if metavar is not None:
        meta["metavar"] = metavar
    if choices is not None:
        meta["choices"] = choices
    return dataclasses.field(default=default, metadata=meta)


def literal_values(hint: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal[...]`` (or ``Literal[...] | None``), else None."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is Literal:
                return typing.get_args(arg)
    return None


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {len(typing.get_args(hint))} numbers"
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` wants it, or raise TypeError. Ints pass as floats, lists as tuples."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is Literal:
        for choice in typing.get_args(hint):  # True == 1, but not a channel count
            if type(value) is type(choice) and value == choice:
                return choice
        raise TypeError
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None) and value is None:
                return None
        for arg in typing.get_args(hint):
            if arg is not type(None):
                try:
                    return _convert(value, arg)
                except TypeError:
                    pass
        raise TypeError
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise TypeError
        return tuple(_convert(v, a) for v, a in zip(value, args))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        (arg,) = typing.get_args(hint) or (Any,)
        return [_convert(v, arg) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError
    return value


def build(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """``cls(**values)`` with every value checked against its annotation.

    ``where`` names the source in errors, e.g. ``"runs/x/config.json: run."``.
    """
    if not isinstance(values, dict):
        raise GanforgeError(f"{where or cls.__name__}: expected a mapping of settings, "
                            f"got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GanforgeError(f"{where}unknown setting{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**{k: _checked(k, v, hints[k], where) for k, v in values.items()})


def _checked(name: str, value: Any, hint: Any, where: str) -> Any:
    try:
        return _convert(value, hint)
    except TypeError:
        raise GanforgeError(f"{where}{name} must be {_describe(hint)}, got {value!r}") from None


def check(obj: Any) -> None:
    """Check a config built without :func:`build` (``GANConfig(update="x")``) the same way:
    every field's type and choices, one line naming the first wrong one."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if f.init:
            _checked(f.name, getattr(obj, f.name), hints[f.name], "")


def fields_of(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def as_dict(obj: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-ready data (tuples become lists in JSON)."""
    return dataclasses.asdict(obj)
