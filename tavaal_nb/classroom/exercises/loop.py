"""The checker for the learner's pool-based active-learning loop (notebook 01), and the sandbox's pieces for it.

The learner writes::

    active_learning_loop(pool_size, initial, budget, cycles, train, evaluate, strategy) -> (sizes, accuracies)

Cycle ``k`` (``k = 0 .. cycles - 1``, while an unlabeled point is left): ``model = train(labeled, k)``
(a fresh model on the labeled pool indices), ``accuracy = evaluate(model)``, ``positions =
strategy(model, labeled, unlabeled, b, k)`` with ``b = min(budget, len(unlabeled))`` (positions
*within* ``unlabeled``), and the points ``unlabeled[positions]`` join the labeled set. It returns
the labeled-set size and the accuracy of every cycle. :func:`check_active_loop` grades the
behaviour through instrumented ``train``/``evaluate``/``strategy`` (what each was called with, how
often, with which model), then checks that with the sandbox's pieces (:func:`sandbox_loop_pieces`)
the loop reproduces :func:`~tavaal_nb.classroom.sandbox.run_sandbox`'s curve exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from tavaal_nb.classroom.exercises.harness import Case, ExerciseFailed, call_learner, run_cases
from tavaal_nb.classroom.sandbox import run as sandbox_run
from tavaal_nb.classroom.sandbox.learner import SandboxMLP, single_thread, train_mlp
from tavaal_nb.classroom.sandbox.pool import ToyPool, make_toy_pool
from tavaal_nb.classroom.sandbox.run import SandboxRun, initial_labeled, run_sandbox, sandbox_context
from tavaal_nb.classroom.sandbox.strategies import SandboxStrategy, resolve_strategy

__all__ = ["LoopPieces", "sandbox_loop_pieces", "check_active_loop"]

LoopFunction = Callable[..., Any]


class LoopPieces(NamedTuple):
    """What a loop needs from the sandbox: ``train(labeled, cycle) -> model``, ``evaluate(model) ->
    accuracy (%)`` and ``strategy(model, labeled, unlabeled, budget, cycle) -> positions in unlabeled``
    (None when :func:`sandbox_loop_pieces` was given no strategy)."""

    train: Callable[[Tensor, int], SandboxMLP]
    evaluate: Callable[[SandboxMLP], float]
    strategy: Callable[[SandboxMLP, Tensor, Tensor, int, int], Tensor] | None


def _index_tensor(indices: Any, what: str) -> Tensor:
    try:
        tensor = torch.as_tensor(indices)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ExerciseFailed(f"{what} should be pool indices (a 1-D integer tensor), got {type(indices).__name__}") \
            from error
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool or tensor.dim() > 1:
        raise ExerciseFailed(f"{what} should be pool indices (a 1-D integer tensor), got a tensor of dtype "
                             f"{tensor.dtype} and shape {tuple(tensor.shape)}")
    return tensor.reshape(-1).long()


def sandbox_loop_pieces(pool: ToyPool, strategy: str | SandboxStrategy | None = None, seed: int = 0,
                        steps: int = 100, dropout: float = 0.0) -> LoopPieces:
    """``train``, ``evaluate`` and (for a sandbox ``strategy``) ``strategy`` exactly as
    :func:`~tavaal_nb.classroom.sandbox.run_sandbox` does them for a seed: cycle ``k`` trains a fresh MLP
    seeded ``seed * 1009 + k`` on the labeled points (sorted, so their order does not matter) and
    gives the strategy a generator seeded ``seed * 7919 + k``. A loop written to the spec of
    :func:`check_active_loop`, started from ``initial_labeled(pool, initial, seed)``, then draws
    ``run_sandbox``'s curve. ``dropout`` > 0 trains MLPs with dropout (for MC dropout)."""
    resolved = resolve_strategy(strategy) if strategy is not None else None
    trains_loss_head = bool(resolved and resolved.trains_loss_head)

    def train(labeled: Tensor, cycle: int) -> SandboxMLP:
        labeled = _index_tensor(labeled, "labeled").sort().values
        with single_thread():
            return train_mlp(pool.x[labeled], pool.y[labeled], pool.num_classes, steps=steps,
                             train_loss_head=trains_loss_head, seed=seed * 1009 + int(cycle), dropout=dropout)

    def evaluate(model: SandboxMLP) -> float:
        with torch.no_grad(), single_thread():
            accuracy = (model(pool.test_x)[0].argmax(dim=1) == pool.test_y).float().mean().item()
        return 100.0 * accuracy

    if resolved is None:
        return LoopPieces(train, evaluate, None)

    def choose(model: SandboxMLP, labeled: Tensor, unlabeled: Tensor, budget: int, cycle: int) -> Tensor:
        labeled, unlabeled = _index_tensor(labeled, "labeled"), _index_tensor(unlabeled, "unlabeled")
        generator = torch.Generator().manual_seed(seed * 7919 + int(cycle))
        with single_thread():
            context = sandbox_context(model, pool, labeled.sort().values, int(budget), generator, int(cycle),
                                      trains_loss_head)
            picks = context.candidates[resolved(context)]
        position_of = {int(index): position for position, index in enumerate(unlabeled.tolist())}
        outside = [int(index) for index in picks.tolist() if int(index) not in position_of]
        if outside:
            raise ValueError(f"the sandbox strategy picked pool indices {outside[:6]}, which are not in `unlabeled`: "
                             "pass the pool indices that are not labeled")
        return torch.tensor([position_of[int(index)] for index in picks.tolist()], dtype=torch.long)

    return LoopPieces(train, evaluate, choose)


# ----------------------------------------------------------------------------- behaviour


@dataclass
class _Model:
    """A stand-in model: which cycle trained it, on what."""

    cycle: int
    labeled: frozenset[int]


@dataclass
class _Recorder:
    """Instrumented train / evaluate / strategy: they record every call and every broken rule."""

    pool_size: int
    budget: int
    labeled: set[int]
    problems: list[str] = field(default_factory=list)
    models: list[_Model] = field(default_factory=list)
    evaluated: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    asked: int = 0
    picked: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.problems.append(problem)

    @property
    def cycle(self) -> int:
        return len(self.models) - 1

    def train(self, labeled: Any, cycle: Any) -> _Model:
        indices = _index_tensor(labeled, "train's labeled").tolist()
        number = len(self.models)
        if number and self.asked < number:
            self.note(f"the model was trained again in cycle {number - 1} before the strategy picked: train "
                      "once per cycle, then evaluate and pick with that model")
        before = set(self.labeled)
        if self.picked:  # the previous cycle's picks should now be labeled
            self.labeled |= set(self.picked)
            self.picked = []
        if number and self.positions and set(indices) == before | set(self.positions) != self.labeled:
            self.note(f"cycle {number} trains on the pool indices {sorted(self.positions)[:6]}, the positions the "
                      "strategy returned: the strategy returns *positions within the unlabeled pool*; the points "
                      "to label are unlabeled[positions]")
        if number and len(self.labeled) >= self.pool_size:
            self.note(f"cycle {number} trained although every one of the {self.pool_size} points was already "
                      "labeled: stop when no unlabeled point is left (there is nothing to pick)")
        if len(indices) != len(set(indices)):
            twice = sorted({i for i in indices if indices.count(i) > 1})
            self.note(f"cycle {number} trains on pool indices {twice[:6]} twice: a point is labeled once")
        if set(indices) != self.labeled:
            missing, extra = sorted(self.labeled - set(indices)), sorted(set(indices) - self.labeled)
            self.note(f"cycle {number} trains on {len(set(indices))} points, expected the {len(self.labeled)} "
                      f"labeled so far ({_difference(missing, extra)}){_grow_hint(number, missing, extra)}")
        if _as_int(cycle) != number:
            self.note(f"train was called with cycle={cycle!r} in cycle {number}: pass the cycle's number, "
                      "0, 1, 2, ... (the sandbox seeds each cycle's model with it)")
        model = _Model(number, frozenset(indices))
        self.models.append(model)
        self.sizes.append(len(indices))
        return model

    def evaluate(self, model: Any) -> float:
        if not self.models:
            self.note("evaluate was called before any model was trained")
            return 0.0
        if model is not self.models[-1]:
            which = f"cycle {model.cycle}'s model" if isinstance(model, _Model) else f"a {type(model).__name__}"
            self.note(f"in cycle {self.cycle}, evaluate got {which}, not the model trained in this cycle")
        accuracy = 40.0 + 7.0 * self.cycle + 0.01 * len(self.labeled)
        self.evaluated.append(accuracy)
        return accuracy

    def strategy(self, model: Any, labeled: Any, unlabeled: Any, budget: Any, cycle: Any) -> Tensor:
        if not self.models:
            self.note("the strategy was called before any model was trained")
            return torch.empty(0, dtype=torch.long)
        self.asked += 1
        number = self.cycle
        if self.asked > len(self.models):
            self.note(f"the strategy was called {self.asked} times but only {len(self.models)} model(s) were "
                      "trained: train a fresh model at the start of every cycle, then pick once with it")
        if model is not self.models[-1]:
            which = f"cycle {model.cycle}'s model" if isinstance(model, _Model) else f"a {type(model).__name__}"
            self.note(f"in cycle {number} the strategy scored with {which}, not the one trained in this cycle: "
                      "retrain the model every cycle and hand that model to the strategy")
        labeled_list = _index_tensor(labeled, "the strategy's labeled").tolist()
        unlabeled_list = _index_tensor(unlabeled, "the strategy's unlabeled").tolist()
        if set(labeled_list) != set(self.models[-1].labeled):
            self.note(f"in cycle {number} the strategy got a labeled set of {len(set(labeled_list))} points, not the "
                      f"{len(self.models[-1].labeled)} the model was trained on")
        complement = set(range(self.pool_size)) - set(self.models[-1].labeled)
        if len(unlabeled_list) != len(set(unlabeled_list)):
            self.note(f"in cycle {number} the strategy's unlabeled pool holds a point twice")
        if set(unlabeled_list) != complement:
            missing, extra = sorted(complement - set(unlabeled_list)), sorted(set(unlabeled_list) - complement)
            self.note(f"in cycle {number} the strategy's unlabeled pool is not the pool minus the labeled set "
                      f"({_difference(missing, extra)})" + (": it holds labeled points (update the unlabeled pool "
                                                            "each cycle)" if extra else ""))
        expected_budget = min(self.budget, len(complement))
        if _as_int(budget) != expected_budget:
            self.note(f"in cycle {number} the strategy was asked for {budget!r} points with {len(complement)} "
                      f"unlabeled, expected min(budget, unlabeled) = {expected_budget}")
        if _as_int(cycle) != number:
            self.note(f"the strategy was called with cycle={cycle!r} in cycle {number}: pass the cycle's number")
        # pick a spread of pool indices (not the first ones), given as positions within the learner's unlabeled
        candidates = sorted(set(unlabeled_list))
        count = max(0, min(_as_int(budget) or 0, len(candidates)))
        chosen = sorted(candidates, key=lambda index: ((index * 7919 + 13 * number) % 101, index))[:count]
        self.picked = chosen
        position_of = {index: position for position, index in enumerate(unlabeled_list)}
        self.positions = [position_of[index] for index in reversed(chosen)]
        return torch.tensor(self.positions, dtype=torch.long)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _difference(missing: list[int], extra: list[int]) -> str:
    parts = []
    if missing:
        parts.append(f"missing {missing[:6]}{'...' if len(missing) > 6 else ''}")
    if extra:
        parts.append(f"not labeled: {extra[:6]}{'...' if len(extra) > 6 else ''}")
    return ", ".join(parts)


def _grow_hint(cycle: int, missing: list[int], extra: list[int]) -> str:
    if cycle == 0:
        return ": start from the initial labeled set" if missing else ""
    if missing and not extra:
        return ": the previous cycle's picks must join the labeled set"
    if extra:
        return (": the strategy returns *positions within the unlabeled pool*; the points to label are "
                "unlabeled[positions]")
    return ""


def _behaviour_case(pool_size: int, initial: list[int], budget: int,
                    cycles: int) -> Callable[[LoopFunction], str | None]:
    def run(fn: LoopFunction) -> str | None:
        recorder = _Recorder(pool_size, budget, set(initial))
        start = torch.tensor(initial, dtype=torch.long)
        given = start.clone()
        result = call_learner(fn, pool_size, given, budget, cycles, recorder.train, recorder.evaluate,
                              recorder.strategy)
        if recorder.problems:
            return recorder.problems[0]
        if not torch.equal(given, start):
            return "your loop changed the `initial` tensor in place: copy it before adding picks"
        left, expected_cycles = pool_size - len(initial), 0
        while expected_cycles < cycles and left > 0:
            expected_cycles, left = expected_cycles + 1, left - min(budget, left)
        trained = len(recorder.models)
        if trained != expected_cycles:
            if trained == 1 and expected_cycles > 1:
                return (f"the model was trained once in {expected_cycles} cycles: retrain a fresh model on the "
                        "labeled set at the start of every cycle")
            stop = (" (the loop stops early only when no unlabeled point is left)" if trained < expected_cycles
                    else "")
            return f"{trained} cycles ran for cycles={cycles}, expected {expected_cycles}{stop}"
        if recorder.asked != trained:
            return f"the strategy was called {recorder.asked} times in {trained} cycles: once per cycle"
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return f"return (sizes, accuracies), two lists with one entry per cycle, got {type(result).__name__}"
        sizes, accuracies = (list(_as_list(part)) for part in result)
        if sizes != recorder.sizes:
            hint = (": record the size the cycle trained on, before its picks join"
                    if sizes == recorder.sizes[1:] + [recorder.sizes[-1] + min(budget, pool_size - recorder.sizes[-1])]
                    else "")
            return f"the sizes returned are {sizes}, expected {recorder.sizes}{hint}"
        if [float(a) for a in accuracies] != recorder.evaluated:
            return (f"the accuracies returned are {[round(float(a), 2) for a in accuracies]}, but evaluate "
                    f"gave {recorder.evaluated}: return evaluate(model) of every cycle, in order")
        return None

    return run


def _as_list(part: Any) -> list[Any]:
    if isinstance(part, Tensor):
        return part.reshape(-1).tolist()
    try:
        return [int(v) if isinstance(v, Tensor) and not v.is_floating_point() else v for v in part]
    except TypeError as error:
        raise ExerciseFailed(f"return (sizes, accuracies), two lists, got a {type(part).__name__} inside") from error


def _zero_cycles_case(fn: LoopFunction) -> str | None:
    recorder = _Recorder(20, 5, {1, 2})
    result = call_learner(fn, 20, torch.tensor([1, 2]), 5, 0, recorder.train, recorder.evaluate, recorder.strategy)
    if recorder.models:
        return f"cycles=0 trained {len(recorder.models)} model(s): run no cycle"
    if not isinstance(result, (tuple, list)) or len(result) != 2 or any(len(_as_list(p)) for p in result):
        return f"cycles=0 should return two empty lists, got {result!r}"
    return None


# ----------------------------------------------------------------------------- the package's curve


def _sandbox_case(strategy: str, initial: int, budget: int, cycles: int,
                  seed: int) -> Callable[[LoopFunction], str | None]:
    pool = make_toy_pool("moons", largest=40, seed=3)
    steps = 30

    def run(fn: LoopFunction) -> str | None:
        expected = run_sandbox(pool, strategy, initial=initial, budget=budget, cycles=cycles, seed=seed, steps=steps,
                               grid_size=2)
        pieces = sandbox_loop_pieces(pool, strategy, seed=seed, steps=steps)
        result = call_learner(fn, pool.size, initial_labeled(pool, initial, seed), budget, cycles, *pieces)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return f"return (sizes, accuracies), got {type(result).__name__}"
        sizes, accuracies = (list(_as_list(part)) for part in result)
        if sizes != expected.labeled_sizes:
            return f"the labeled-set sizes are {sizes}, the sandbox's {expected.labeled_sizes}"
        got = [round(float(a), 6) for a in accuracies]
        if got != [round(a, 6) for a in expected.accuracy]:
            return (f"the accuracies are {got}, the sandbox's loop (run_sandbox, seed {seed}) gives "
                    f"{[round(a, 6) for a in expected.accuracy]}: with the sandbox's pieces the curves must coincide")
        return None

    return run


def check_active_loop(fn: LoopFunction) -> int:
    """Grade the learner's pool-based loop ``fn(pool_size, initial, budget, cycles, train, evaluate,
    strategy) -> (sizes, accuracies)`` (spec in this module's docstring) on behaviour, then on the
    sandbox: every cycle trains one fresh model on the current labeled set and hands that model,
    the labeled set and the rest of the pool to the strategy with ``min(budget, unlabeled)``;
    ``unlabeled[positions]`` join the labeled set (which grows by exactly that many, each point
    once); the loop stops after ``cycles`` cycles or when no unlabeled point is left; it returns
    each cycle's labeled-set size and ``evaluate(model)``. Index orders are free. With
    :func:`sandbox_loop_pieces` it must reproduce :func:`~tavaal_nb.classroom.sandbox.run_sandbox`'s sizes
    and accuracies exactly. Calling ``run_sandbox`` or ``SandboxRun.advance`` fails."""
    scattered = [11, 3, 14, 8, 0]
    cases = [
        Case("40 points, 5 labeled, budget 4, 5 cycles", _behaviour_case(40, [17, 3, 29, 8, 0], 4, 5)),
        Case("budget 1, 6 cycles", _behaviour_case(12, [5, 2], 1, 6)),
        Case("the last cycle has fewer unlabeled points than the budget", _behaviour_case(20, scattered, 6, 3)),
        Case("more cycles than the pool allows: stop when it is all labeled", _behaviour_case(15, scattered, 4, 9)),
        Case("budget = the whole unlabeled pool: one cycle labels everything", _behaviour_case(10, [4, 1], 8, 3)),
        Case("no cycle (cycles = 0)", _zero_cycles_case),
        Case("the sandbox's entropy loop, seed 0: the same curve as run_sandbox", _sandbox_case("entropy", 6, 5, 4, 0)),
        Case("the sandbox's core-set loop, seed 2", _sandbox_case("coreset", 4, 7, 3, 2)),
        Case("the sandbox's random loop, seed 1, budget 1", _sandbox_case("random", 5, 1, 3, 1)),
        Case("the sandbox's entropy loop, budget = the pool: the run stops", _sandbox_case("entropy", 6, 200, 3, 0)),
    ]
    return run_cases("the pool-based active-learning loop", fn, cases, "the sandbox's loop (run_sandbox)",
                     forbidden=[(sandbox_run, "run_sandbox"), (SandboxRun, "advance"), (SandboxRun, "_advance"),
                                (sandbox_run, "compare_strategies")])
