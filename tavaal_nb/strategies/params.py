"""A strategy's declared, typed parameters: what ``--strategy-param`` sets and ``methods`` lists.

A strategy declares its parameters (a class's ``params``, or ``register_strategy(..., params=...)``)::

    @register_strategy(name="least-confidence", params=[StrategyParam("temperature", float, 1.0, "softmax temperature")])
    def least_confidence(context):
        logits = context.infer(context.candidates)["logits"] / context.params["temperature"]
        ...

A run's ``Config.strategy_params`` holds what was given, ``{method: {key: value}}``; the strategy reads every
declared parameter (defaults filled in) as ``context.params``. Values are checked here, against the
declarations, at the start of every run and sweep (:func:`tavaal_nb.preflight.check_names`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["StrategyParam", "PARAM_TYPES", "declared_params", "resolve_params", "param_problems",
           "parse_strategy_params", "describe_params"]

PARAM_TYPES = (int, float, str, bool)
"""The types a strategy parameter may have (they are stored in the results file as JSON)."""

_TYPE_WORDS = {int: "an integer", float: "a number", str: "a text", bool: "true or false"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class StrategyParam:
    """One parameter of a strategy: its ``name`` (a Python identifier), ``type`` (int, float, str or bool),
    ``default``, a ``help`` line and, optionally, the ``choices`` it may take."""

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a strategy parameter's name must be a Python identifier, got {self.name!r}")
        if self.type not in PARAM_TYPES:
            raise ValueError(f"parameter {self.name!r}: type must be one of int, float, str, bool, got {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
            if not self.choices or any(self._problem(choice) for choice in self.choices):
                raise ValueError(f"parameter {self.name!r}: choices must be values of type {self.type.__name__}, "
                                 f"got {self.choices!r}")
        problem = self._problem(self.default)
        if problem:
            raise ValueError(f"parameter {self.name!r}: its default {self.default!r} is invalid; valid: {problem}")
        object.__setattr__(self, "default", self.type(self.default))

    @property
    def valid(self) -> str:
        """What a value may be, in words."""
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        return _TYPE_WORDS[self.type] + (" (finite)" if self.type is float else "")

    def _problem(self, value: Any) -> str | None:
        """What is valid when ``value`` is not (None when it is)."""
        kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[self.type]
        if not isinstance(value, kinds) or (self.type is not bool and isinstance(value, bool)):
            return _TYPE_WORDS[self.type]
        if self.type is float and isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if self.choices is not None and value not in self.choices:
            return self.valid
        return None

    def check(self, method: str, value: Any, given: Any = None) -> Any:
        """``value`` as this parameter's type, or a ValueError (one line: method, key, the ``given`` value, by
        default ``value``, and what is valid)."""
        problem = self._problem(value)
        if problem:
            shown = value if given is None else given
            raise ValueError(f"method {method!r}, parameter {self.name!r}: got {shown!r}; valid: {problem}")
        return self.type(value)

    def parse(self, method: str, text: str) -> Any:
        """The value a command line's ``text`` stands for, checked (:meth:`check`)."""
        value: Any = text
        try:
            if self.type is bool:
                word = text.strip().lower()
                value = True if word in _TRUE else False if word in _FALSE else text
            elif self.type is int:
                value = int(text)
            elif self.type is float:
                value = float(text)
        except ValueError:
            value = text
        return self.check(method, value, given=text)

    def describe(self) -> str:
        """``temperature (float, default 1.0): softmax temperature``: how ``methods`` lists it."""
        kind = self.type.__name__ if self.choices is None else " | ".join(map(str, self.choices))
        return f"{self.name} ({kind}, default {self.default!r})" + (f": {self.help}" if self.help else "")


def declared_params(strategy: Any) -> tuple[StrategyParam, ...]:
    """The parameters ``strategy`` declares (its ``params``; none for a strategy that says nothing)."""
    return tuple(getattr(strategy, "params", ()) or ())


def _unknown(method: str, key: str, declared: Sequence[StrategyParam]) -> str:
    valid = ", ".join(f"{p.name} ({p.type.__name__})" for p in declared)
    return f"method {method!r} has no parameter {key!r}; " + (f"valid: {valid}" if valid else "it takes none")


def resolve_params(strategy: Any, method: str, given: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Every parameter ``strategy`` declares, its default replaced by ``given``'s value (checked): what a
    strategy reads as ``context.params`` (read-only). A ValueError names the first bad key or value."""
    declared = {param.name: param for param in declared_params(strategy)}
    values = {name: param.default for name, param in declared.items()}
    for key, value in (given or {}).items():
        if key not in declared:
            raise ValueError(_unknown(method, key, tuple(declared.values())))
        values[key] = declared[key].check(method, value)
    return MappingProxyType(values)


def param_problems(strategy_params: Mapping[str, Mapping[str, Any]], strategies: Mapping[str, Any]) -> list[str]:
    """One line per bad entry of a Config's ``strategy_params`` (``strategies``: method name -> strategy)."""
    problems = []
    for method, given in strategy_params.items():
        if method not in strategies:
            continue  # Config.validate names a method the run does not use
        for key, value in given.items():
            try:
                resolve_params(strategies[method], method, {key: value})
            except ValueError as error:
                problems.append(str(error))
    return problems


def parse_strategy_params(texts: Iterable[str], methods: Sequence[str],
                          strategies: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``--strategy-param`` values -> ``{method: {key: value}}`` for a command running ``methods``.

    ``METHOD.KEY=VALUE`` sets one method's parameter; ``KEY=VALUE`` sets it for every method of the command
    that declares ``KEY`` (refused when none does). Values are parsed as the declared type.
    """
    chosen: dict[str, dict[str, Any]] = {}
    for text in texts:
        target, equals, value = text.partition("=")
        method, dot, key = target.strip().rpartition(".")
        if not equals or not key:
            raise ValueError(f"--strategy-param takes METHOD.KEY=VALUE or KEY=VALUE (e.g. "
                             f"least-confidence.temperature=2), got {text!r}")
        if dot and method not in methods:
            raise ValueError(f"--strategy-param {text!r} names method {method!r}, which this command does not run; "
                             f"its methods: {', '.join(methods)}")
        targets = [method] if dot else [m for m in methods
                                        if any(p.name == key for p in declared_params(strategies[m]))]
        if not targets:
            raise ValueError(f"--strategy-param {text!r}: no method of this command ({', '.join(methods)}) has a "
                             f"parameter {key!r} (`python -m tavaal_nb methods` lists each method's parameters)")
        for name in targets:
            declared = {p.name: p for p in declared_params(strategies[name])}
            if key not in declared:
                raise ValueError(_unknown(name, key, tuple(declared.values())))
            chosen.setdefault(name, {})[key] = declared[key].parse(name, value)
    return chosen


def describe_params(strategy: Any) -> list[str]:
    """One line per declared parameter (:meth:`StrategyParam.describe`)."""
    return [param.describe() for param in declared_params(strategy)]
