"""The strategies selectable by name, built-in and plugged in.

``run_experiment``, the configuration check, the widgets, the report and the command
line all look methods up here, so a strategy registered from a notebook or a user's
module is as selectable as the built-ins:

    @register_strategy(name="least-confidence", prefer="highest")
    def least_confidence(context):  # one score per candidate
        ...

A plain scoring function ``fn(context) -> Tensor`` (or ``-> (Tensor, strategy_data)``) is wrapped
with :func:`~tavaal_nb.strategies.base.select_by_scores`; a :class:`Strategy` subclass or
instance is registered as it is.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from torch import Tensor

from tavaal_nb.errors import SelectionError
from tavaal_nb.losses import RANKER_OBJECTIVES
from tavaal_nb.names import safe_name
from tavaal_nb.strategies.badge import BADGE
from tavaal_nb.strategies.base import PREFERENCES, QueryContext, Selection, Strategy, select_by_scores
from tavaal_nb.strategies.coreset import CoreSet
from tavaal_nb.strategies.gcn import CoreGCN, UncertainGCN
from tavaal_nb.strategies.params import StrategyParam
from tavaal_nb.strategies.simple import EntropySampling, LearningLoss, LearningLossV2, MarginSampling, RandomSampling
from tavaal_nb.strategies.vaal import TAVAAL, VAAL
from tavaal_nb.strategies.vaal_lloss import VAALLearningLoss

__all__ = ["register_strategy", "unregister_strategy", "get_strategy", "strategy_names", "load_plugin", "load_plugins", "PLUGINS_ENV",
           "ScoringStrategy", "METHODS", "BUILTIN_METHODS", "is_builtin", "plugin_of"]

ScoringFunction = Callable[[QueryContext], Any]
"""A strategy written as one function: one score per candidate, in ``context.candidates``' order (a Tensor),
or ``(scores, strategy_data)`` to keep a dict of its own in the results (the record's ``strategy_data``)."""

_REGISTRY: dict[str, Strategy] = {}

METHODS: Mapping[str, Strategy] = MappingProxyType(_REGISTRY)
"""Every method name accepted by ``--method`` (a live, read-only view of the registry)."""


class ScoringStrategy(Strategy):
    """A strategy made of a scoring function: the ``budget`` candidates it scores highest (or lowest)."""

    def __init__(self, score: ScoringFunction, name: str, help: str = "", prefer: str = "highest",
                 ranker_objective: str | None = None, params: Iterable[StrategyParam] = ()) -> None:
        if prefer not in PREFERENCES:
            raise ValueError(f"prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
        self.score = score
        self.prefer = prefer
        # Instance attributes shadow the class-level defaults of Strategy.
        self.name = name  # type: ignore[misc]
        self.help = help  # type: ignore[misc]
        self.ranker_objective = ranker_objective  # type: ignore[misc]
        self.params = tuple(params)  # type: ignore[misc]

    def select(self, context: QueryContext) -> Selection:
        result, strategy_data = self.score(context), None
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
            result, strategy_data = result
        if not isinstance(result, Tensor):
            raise SelectionError(f"the scoring function of method {self.name!r} returned {type(result).__name__} in "
                                 f"cycle {context.cycle}; it must return a tensor of scores (one per candidate) or "
                                 "(scores, strategy_data) with strategy_data a dict")
        return select_by_scores(context, result, self.prefer, strategy_data=strategy_data)


def _unwrapped(function: Any) -> Any:
    """The function inside ``functools.partial`` layers (itself when there are none)."""
    while isinstance(function, functools.partial):
        function = function.func
    return function


def _function_help(function: Any) -> str:
    """The first line of a scoring function's docstring, with a partial's fixed arguments after it."""
    doc = (inspect.getdoc(_unwrapped(function)) or "").strip().splitlines()
    bound: list[str] = []
    while isinstance(function, functools.partial):
        bound = [*map(repr, function.args), *(f"{k}={v!r}" for k, v in function.keywords.items()), *bound]
        function = function.func
    return (doc[0] if doc else "") + (f" ({', '.join(bound)})" if bound else "")


def _default_name(strategy: Any) -> str:
    if isinstance(strategy, Strategy) or (inspect.isclass(strategy) and issubclass(strategy, Strategy)):
        return strategy.name
    return getattr(_unwrapped(strategy), "__name__", "").replace("_", "-")


def _checked_params(params: Any, name: str) -> tuple[StrategyParam, ...] | None:
    """``params`` as a tuple of distinct :class:`StrategyParam` (None stays None), or a ValueError naming the method."""
    if params is None:
        return None
    params = tuple(params)
    if not all(isinstance(param, StrategyParam) for param in params):
        raise ValueError(f"params of method {name!r} must be StrategyParam declarations "
                         f"(tavaal_nb.strategies.params.StrategyParam(name, type, default, help)), got {params!r}")
    names = [param.name for param in params]
    if len(set(names)) != len(names):
        raise ValueError(f"params of method {name!r} repeat a name: {names}")
    return params


def _as_strategy(strategy: Any, name: str, help: str | None, prefer: str,
                 ranker_objective: str | None, params: tuple[StrategyParam, ...] | None = None) -> Strategy:
    """``strategy`` as a Strategy instance named ``name``; class attributes are kept unless overridden."""
    if inspect.isclass(strategy) and issubclass(strategy, Strategy):
        _checked_params(strategy.params, name)
        overrides: dict[str, Any] = {"name": name}
        for key, value in (("help", help), ("ranker_objective", ranker_objective), ("params", params)):
            if value is not None:
                overrides[key] = value
        if any(getattr(strategy, key) != value for key, value in overrides.items()):
            # the subclass keeps the module of the class it is made from (what the results record as its source)
            strategy = type(strategy.__name__, (strategy,), {**overrides, "__module__": strategy.__module__})
        return strategy()
    if isinstance(strategy, Strategy):
        if name != strategy.name or help is not None or ranker_objective is not None or params is not None:
            raise ValueError(f"an instance of {type(strategy).__name__} is registered under its own name, help, "
                             "ranker_objective and params; register its class to change them")
        _checked_params(strategy.params, name)
        return strategy
    if callable(strategy):
        return ScoringStrategy(strategy, name, help if help is not None else _function_help(strategy), prefer,
                               ranker_objective, params or ())
    raise TypeError(f"register_strategy takes a Strategy subclass or instance, or a scoring function "
                    f"context -> Tensor; got {type(strategy).__name__}")


def register_strategy(strategy: Any = None, name: str | None = None, *, help: str | None = None,
                      prefer: str = "highest", ranker_objective: str | None = None,
                      params: Iterable[StrategyParam] | None = None, replace: bool = False) -> Any:
    """Make ``strategy`` selectable by ``name`` everywhere a method name is taken; returns the Strategy.

    ``strategy`` is a :class:`Strategy` subclass or instance, or a plain scoring function
    ``fn(context: QueryContext) -> Tensor`` (one score per candidate; or ``(scores, strategy_data)``,
    a dict kept as the cycle record's ``strategy_data``), whose ``prefer`` (``"highest"`` or
    ``"lowest"``) end is labeled. ``name`` defaults to the class's ``name`` or the function's
    ``__name__`` (underscores become hyphens; a ``functools.partial``'s function's); ``help`` to
    the class's ``help`` or the first line of the function's docstring (a partial's fixed
    arguments after it). ``ranker_objective`` (None, ``"margin"`` for eq. 1, ``"bce"`` for eq. 4)
    gives the task model a Ranker. ``params`` declares the strategy's parameters
    (:class:`~tavaal_nb.strategies.params.StrategyParam`; a class's own ``params`` by default),
    set per run by ``Config.strategy_params`` / ``--strategy-param`` and read as ``context.params``.
    A name already registered is refused unless ``replace=True``; so is a name that is not one
    path component (:func:`~tavaal_nb.names.safe_name`: letters, digits, ``-``, ``_``, ``.``), since a
    sweep makes a folder of it.

    Without ``strategy`` it returns a decorator: ``@register_strategy(name="x", prefer="lowest")``.
    """
    if strategy is None:
        return lambda target: register_strategy(target, name, help=help, prefer=prefer,
                                                 ranker_objective=ranker_objective, params=params, replace=replace)
    if ranker_objective is not None and ranker_objective not in RANKER_OBJECTIVES:
        raise ValueError(f"ranker_objective must be None or one of {', '.join(RANKER_OBJECTIVES)}, "
                         f"got {ranker_objective!r}")
    name = name if name is not None else _default_name(strategy)
    safe_name("method", name)  # it becomes a folder of a sweep: one path component
    if name in _REGISTRY and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True to replace it")
    registered = _as_strategy(strategy, name, help, prefer, ranker_objective, _checked_params(params, name))
    _REGISTRY[name] = registered
    _PLUGIN_OF.pop(name, None)  # load_plugin names the plug-in of the methods it adds
    return registered


def unregister_strategy(name: str) -> None:
    """Remove a registered strategy (built-ins included; for tests and notebooks)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(_REGISTRY)}")
    del _REGISTRY[name]
    _PLUGIN_OF.pop(name, None)


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def strategy_names() -> tuple[str, ...]:
    """Every registered method name, in registration order (the built-ins first)."""
    return tuple(_REGISTRY)


def _import_failure(spec: str, error: BaseException) -> ValueError:
    """One line for a plug-in whose import raised: the plug-in, the error, and where in the plug-in it was raised."""
    where = ""
    if not isinstance(error, SyntaxError):  # a SyntaxError's text says its file and line already
        frames = [frame for frame in traceback.extract_tb(error.__traceback__)
                  if "importlib" not in frame.filename and not frame.filename.startswith("<frozen")]
        if frames:
            where = f" (at {frames[-1].filename}, line {frames[-1].lineno})"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ValueError(f"plugin {spec!r} failed to import: {type(error).__name__}"
                      + (f": {text}" if text else "") + where)


def _loaded_from(path: Path):
    """The module already imported from the file ``path`` (resolved; as a module name or as a file), or None.

    Only a module whose file has ``path``'s name, or is a link, can resolve to ``path``: the others are
    passed over without resolving their paths (thousands of modules, a tenth of a second each time)."""
    for loaded in list(sys.modules.values()):
        origin = getattr(loaded, "__file__", None)
        if origin:
            try:
                if (os.path.basename(origin) == path.name or os.path.islink(origin)) and Path(origin).resolve() == path:
                    return loaded
            except (OSError, RuntimeError):
                continue
    return None


def _import_plugin_module(module: str):
    if module.endswith(".py"):
        path = Path(module).resolve()
        if not path.is_file():
            raise ValueError(f"plugin file {module!r} does not exist")
        module_name = f"tavaal_nb_plugin_{path.stem}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        already = _loaded_from(path)  # the same file given before as a module name: loaded once
        if already is not None:
            return already
        spec = importlib.util.spec_from_file_location(module_name, path)
        loaded = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[module_name] = loaded
        try:
            spec.loader.exec_module(loaded)  # type: ignore[union-attr]
        except (Exception, SystemExit, KeyboardInterrupt) as error:  # SyntaxError, sys.exit(), a missing module, ...
            sys.modules.pop(module_name, None)  # not left half-imported: a fixed file loads next time
            raise _import_failure(module, error) from None
        return loaded
    if module in sys.modules:
        return sys.modules[module]
    try:
        found = importlib.util.find_spec(module)
    except Exception:  # a parent package that does not import: reported by the import below
        found = None
    if found is not None and found.origin:
        already = _loaded_from(Path(found.origin).resolve())  # the same file given before as a path
        if already is not None:
            return already
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and (module == error.name or module.startswith(error.name + ".")):
            local = Path(module.replace(".", os.sep) + ".py")
            hint = (f"; {local} is a file in the current folder: give it as --plugin ./{local}"
                    if local.is_file() else "; give a module on the Python path, or a file as --plugin path/to/file.py")
            raise ValueError(f"cannot import plugin module {module!r}: no module named {error.name!r}{hint}") from None
        raise _import_failure(module, error) from None
    except (Exception, SystemExit, KeyboardInterrupt) as error:  # sys.exit() on import is a failed plug-in too
        raise _import_failure(module, error) from None


def _made_from(registered: Strategy, target: Any) -> bool:
    """Whether ``registered`` is ``target``, or was made from it by :func:`register_strategy`."""
    return registered is target or type(registered) is target or getattr(registered, "score", None) is target


def plugin_of(name: str) -> str | None:
    """The ``--plugin`` spec (:func:`load_plugin`) that registered method ``name``; None for the others."""
    return _PLUGIN_OF.get(name)


def load_plugin(spec: str) -> list[str]:
    """Import a plug-in and return the method names it added.

    ``spec`` is ``"module"``, ``"module:attr"``, ``"path/to/file.py"`` or
    ``"path/to/file.py:attr"``. The module may call :func:`register_strategy` itself;
    ``attr``, when given, is registered too (a Strategy class or instance, or a scoring
    function), unless it is already registered.
    """
    module, _, attr = spec.partition(":")
    if not module:
        raise ValueError(f"a plugin is 'module', 'module:attr' or 'file.py[:attr]', got {spec!r}")
    if spec in _LOADED_PLUGINS:
        return []
    before = set(_REGISTRY)
    loaded = _import_plugin_module(module)
    if attr:
        if not hasattr(loaded, attr):
            raise ValueError(f"plugin module {module!r} has no attribute {attr!r}")
        target = getattr(loaded, attr)
        if not any(_made_from(registered, target) for registered in _REGISTRY.values()):
            register_strategy(target)
    _LOADED_PLUGINS.add(spec)
    added = [name for name in _REGISTRY if name not in before]
    _PLUGIN_OF.update(dict.fromkeys(added, spec))
    return added


PLUGINS_ENV = "TAVAAL_PLUGINS"
"""Plug-in specs (comma-separated) that worker processes of a sweep or of parallel trials load first:
the CLI's ``--plugin`` sets it, so a strategy registered in the parent is known in its workers too."""
_LOADED_PLUGINS: set[str] = set()
_PLUGIN_OF: dict[str, str] = {}


def load_plugins(specs: Iterable[str] = (), export: bool = False) -> list[str]:
    """Load each plug-in spec once (see :func:`load_plugin`) plus those named in ``$TAVAAL_PLUGINS``;
    with ``export``, add ``specs`` to that variable so child processes load them too."""
    from_environment = [s for s in os.environ.get(PLUGINS_ENV, "").split(",") if s]
    wanted = list(dict.fromkeys([*from_environment, *specs]))
    added = [name for spec in wanted for name in load_plugin(spec)]
    if export and wanted:
        os.environ[PLUGINS_ENV] = ",".join(wanted)
    return added


for _builtin in (RandomSampling, LearningLoss, LearningLossV2, VAAL, TAVAAL, CoreSet, EntropySampling,
                 VAALLearningLoss, UncertainGCN, CoreGCN, BADGE, MarginSampling):
    register_strategy(_builtin)

BUILTIN_METHODS: tuple[str, ...] = strategy_names()
"""The methods that ship with tavaal_nb."""
_BUILTIN_STRATEGIES: tuple[Strategy, ...] = tuple(_REGISTRY.values())


def is_builtin(strategy: Strategy) -> bool:
    """Whether ``strategy`` is one of the instances tavaal_nb ships (not a plug-in, nor one registered over a
    built-in's name): the loop hands these the shared data, and copies of it to every other strategy."""
    return any(strategy is builtin for builtin in _BUILTIN_STRATEGIES)
