"""Where a run's strategies come from, as its results file records them, and the resume check on it.

Every session entry of a results file gets ``strategies``: per method of the run, the parameters it
ran with (every declared one, defaults filled in) and its origin. A built-in records ``builtin: true``
(the session's ``package_version`` and ``git_commit`` name its code); any other strategy (a plug-in,
one registered in a notebook) records the ``plugin`` spec that loaded it (None when none did), the
``module`` and ``file`` defining its code, and ``sha256``, the hash of that file (of the function's or
class's source text when it has no file). ``--resume`` refuses a file whose last session recorded another
hash for a method (:func:`changed_sources`) unless it is allowed explicitly (``--allow-changed-plugin``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tavaal_nb.config import Config
from tavaal_nb.strategies.params import resolve_params
from tavaal_nb.strategies.registry import ScoringStrategy, get_strategy, is_builtin, plugin_of

__all__ = ["strategy_source", "strategy_provenance", "changed_sources"]


def _code_of(strategy: Any) -> Any:
    """The function or class whose source is the strategy's behaviour."""
    code = strategy.score if isinstance(strategy, ScoringStrategy) else type(strategy)
    while isinstance(code, functools.partial):
        code = code.func
    return code


def strategy_source(strategy: Any) -> dict[str, Any]:
    """``{"module", "file", "sha256"}`` of a strategy's code: the file defining its class or scoring function
    and the sha256 of that file's bytes; without a file (a notebook cell), ``file`` is None and ``sha256``
    hashes the source text when Python can find it (else None)."""
    code = _code_of(strategy)
    module = getattr(code, "__module__", None)
    try:
        file = inspect.getsourcefile(code)
    except (TypeError, OSError):
        file = None
    path = Path(file).resolve() if file else None
    if path is not None and path.is_file():
        return {"module": module, "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    try:
        text = inspect.getsource(code)
    except (TypeError, OSError):
        return {"module": module, "file": None, "sha256": None}
    return {"module": module, "file": None, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def strategy_provenance(config: Config) -> dict[str, dict[str, Any]]:
    """What a session entry records about each method of ``config``: ``params`` and where its code comes from."""
    out: dict[str, dict[str, Any]] = {}
    for method in config.methods:
        strategy = get_strategy(method)
        params = dict(resolve_params(strategy, method, config.strategy_params.get(method)))
        origin = ({"builtin": True} if is_builtin(strategy) else
                  {"builtin": False, "plugin": plugin_of(method), **strategy_source(strategy)})
        out[method] = {"params": params, **origin}
    return out


def _where(entry: Mapping[str, Any]) -> str:
    if entry.get("builtin"):
        return "built in"
    return str(entry.get("file") or entry.get("module") or "a notebook")


def changed_sources(sessions: Any, current: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per method whose code differs from what the last session of ``sessions`` that recorded it
    ran (a built-in then and not now, or the other way round, or another sha256); empty when none does or
    nothing was recorded (a file written before the strategies were recorded resumes as before)."""
    recorded: dict[str, Mapping[str, Any]] = {}
    for session in sessions if isinstance(sessions, list) else []:
        strategies = session.get("strategies") if isinstance(session, dict) else None
        if isinstance(strategies, dict):
            recorded.update({m: e for m, e in strategies.items() if isinstance(e, dict)})
    lines = []
    for method, now in current.items():
        then = recorded.get(method)
        if then is None:
            continue
        if bool(then.get("builtin")) != bool(now.get("builtin")):
            lines.append(f"method {method!r} was {_where(then)} when the results were written and is now "
                         f"{_where(now)}")
        elif then.get("sha256") and now.get("sha256") and then["sha256"] != now["sha256"]:
            lines.append(f"the plug-in source of method {method!r} changed since the results were written: "
                         f"{_where(now)} (sha256 {then['sha256'][:12]}... then, {now['sha256'][:12]}... now)")
    return lines
