"""The sandbox's exercise checkers (notebook 01: the loop, random / entropy / margin sampling, greedy k-center,
BALD) accept correct answers written here independently of the package, in several styles, and reject plausible
wrong ones with a hint naming the symptom measured."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from conftest import rejects

from tavaal_nb.classroom.exercises import (
    ExerciseFailed,
    NotImplementedYet,
    check_active_loop,
    check_bald,
    check_entropy_sampling,
    check_k_center,
    check_margin_sampling,
    check_random_sampling,
    sandbox_loop_pieces,
)
from tavaal_nb.classroom.sandbox import initial_labeled, make_toy_pool, run_sandbox

# ----------------------------------------------------------------------------- the loop


def loop_with_masks(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.zeros(pool_size, dtype=torch.bool)
    labeled[initial] = True
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.nonzero(~labeled).reshape(-1)
        if unlabeled.numel() == 0:
            break
        model = train(torch.nonzero(labeled).reshape(-1), cycle)
        sizes.append(int(labeled.sum()))
        accuracies.append(evaluate(model))
        b = min(budget, unlabeled.numel())
        labeled[unlabeled[strategy(model, torch.nonzero(labeled).reshape(-1), unlabeled, b, cycle)]] = True
    return sizes, accuracies


def loop_with_lists(pool_size, initial, budget, cycles, train, evaluate, strategy):
    """Python lists, labeled kept in the order points arrived, unlabeled in reverse order, evaluation last."""
    labeled = [int(i) for i in initial]
    sizes, accuracies = [], []
    cycle = 0
    while cycle < cycles and len(labeled) < pool_size:
        unlabeled = [i for i in reversed(range(pool_size)) if i not in labeled]
        model = train(torch.tensor(labeled), cycle)
        positions = strategy(model, torch.tensor(labeled), torch.tensor(unlabeled), min(budget, len(unlabeled)), cycle)
        sizes.append(len(labeled))
        accuracies.append(evaluate(model))
        labeled = labeled + [unlabeled[p] for p in positions.tolist()]
        cycle += 1
    return sizes, accuracies


def loop_trained_once(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    model = train(labeled, 0)
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()])
        if unlabeled.numel() == 0:
            break
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        positions = strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), cycle)
        labeled = torch.cat([labeled, unlabeled[positions]])
    return sizes, accuracies


def loop_positions_as_indices(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()])
        if unlabeled.numel() == 0:
            break
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        positions = strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), cycle)
        labeled = torch.cat([labeled, positions])  # positions, not pool indices
    return sizes, accuracies


def loop_budget_not_capped(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()], dtype=torch.long)
        if unlabeled.numel() == 0:
            break
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        labeled = torch.cat([labeled, unlabeled[strategy(model, labeled, unlabeled, budget, cycle)]])
    return sizes, accuracies


def loop_forgets_the_picks(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()])
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        picks = unlabeled[strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), cycle)]
        labeled.sort()  # picks computed, never added
        del picks
    return sizes, accuracies


def loop_unlabeled_never_updated(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()])
    sizes, accuracies = [], []
    for cycle in range(cycles):
        if labeled.numel() >= pool_size:
            break
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        b = min(budget, pool_size - labeled.numel())
        labeled = torch.cat([labeled, unlabeled[strategy(model, labeled, unlabeled, b, cycle)]]).unique()
    return sizes, accuracies


def loop_one_cycle_too_many(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles + 1):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()], dtype=torch.long)
        if unlabeled.numel() == 0:
            break
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        positions = strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), cycle)
        labeled = torch.cat([labeled, unlabeled[positions]])
    return sizes, accuracies


def loop_trains_on_the_full_pool_at_the_end(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()], dtype=torch.long)
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        if unlabeled.numel() == 0:
            break
        positions = strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), cycle)
        labeled = torch.cat([labeled, unlabeled[positions]])
    return sizes, accuracies


def loop_cycle_always_zero(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for _ in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()], dtype=torch.long)
        if unlabeled.numel() == 0:
            break
        model = train(labeled, 0)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        positions = strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), 0)
        labeled = torch.cat([labeled, unlabeled[positions]])
    return sizes, accuracies


def loop_sizes_after_picking(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()], dtype=torch.long)
        if unlabeled.numel() == 0:
            break
        model = train(labeled, cycle)
        accuracies.append(evaluate(model))
        labeled = torch.cat([labeled, unlabeled[strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()),
                                                         cycle)]])
        sizes.append(labeled.numel())
    return sizes, accuracies


def loop_in_place(pool_size, initial, budget, cycles, train, evaluate, strategy):
    """Correct bookkeeping, but it writes the picks into the caller's `initial` tensor."""
    labeled = initial
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()], dtype=torch.long)
        if unlabeled.numel() == 0:
            break
        model = train(labeled, cycle)
        sizes.append(labeled.numel())
        accuracies.append(evaluate(model))
        picks = unlabeled[strategy(model, labeled, unlabeled, min(budget, unlabeled.numel()), cycle)]
        grown = torch.cat([labeled, picks])
        if cycle == 0:
            labeled.copy_(grown[:labeled.numel()].flip(0))
        labeled = grown
    return sizes, accuracies


def loop_delegated(pool_size, initial, budget, cycles, train, evaluate, strategy):
    from tavaal_nb.classroom.sandbox import run_sandbox as package_loop
    package_loop(make_toy_pool("moons", largest=20), "random", cycles=1)
    return loop_with_masks(pool_size, initial, budget, cycles, train, evaluate, strategy)


def loop_not_implemented(pool_size, initial, budget, cycles, train, evaluate, strategy):
    raise NotImplementedError()


@contextlib.contextmanager
def global_stream_untouched():
    """The checker run inside leaves torch's global random stream where it found it (a case may reseed it)."""
    torch.manual_seed(321)
    expected = torch.rand(3)
    torch.manual_seed(321)
    yield
    assert torch.equal(torch.rand(3), expected), "the checker moved torch's global random stream"


@pytest.mark.parametrize("right", [loop_with_masks, loop_with_lists])
def test_loop_checker_accepts_correct_loops(right, capsys):
    with global_stream_untouched():
        assert check_active_loop(right) == 10
    assert f"✓ {right.__name__}" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, fragments", [
    (loop_trained_once, ("case 1/10", "only 1 model(s) were trained", "fresh model")),
    (loop_positions_as_indices, ("the positions the strategy returned", "unlabeled[positions]")),
    (loop_budget_not_capped, ("the last cycle", "asked for 6 points with 3 unlabeled", "min(budget, unlabeled) = 3")),
    (loop_forgets_the_picks, ("the previous cycle's picks must join the labeled set",)),
    (loop_unlabeled_never_updated, ("holds labeled points", "update the unlabeled pool")),
    (loop_one_cycle_too_many, ("6 cycles ran for cycles=5, expected 5",)),
    (loop_trains_on_the_full_pool_at_the_end, ("already labeled", "stop when no unlabeled point is left")),
    (loop_cycle_always_zero, ("train was called with cycle=0 in cycle 1",)),
    (loop_sizes_after_picking, ("the sizes returned are [9, 13", "before its picks join")),
    (loop_in_place, ("changed the `initial` tensor in place",)),
])
def test_loop_checker_rejects_plausible_mistakes(wrong, fragments):
    rejects(check_active_loop, wrong, "the pool-based active-learning loop", *fragments)


def test_loop_checker_rejects_the_package_loop():
    rejects(check_active_loop, loop_delegated, "calls the package's tavaal_nb.classroom.sandbox.run.run_sandbox", "yourself")


def test_loop_checker_says_not_implemented_yet():
    with pytest.raises(NotImplementedYet, match="write loop_not_implemented in the cell above"):
        check_active_loop(loop_not_implemented)


def test_sandbox_pieces_reproduce_run_sandbox_with_an_independent_loop():
    """The pieces are what makes a learner's loop draw the package's curve: check it on a strategy with a loss head."""
    pool = make_toy_pool("blobs", largest=30, imbalance=2.0, seed=1)
    expected = run_sandbox(pool, "lloss", initial=5, budget=6, cycles=3, seed=4, steps=20)
    sizes, accuracies = loop_with_lists(pool.size, initial_labeled(pool, 5, 4), 6, 3,
                                        *sandbox_loop_pieces(pool, "lloss", seed=4, steps=20))
    assert sizes == expected.labeled_sizes == [5, 11, 17]
    assert accuracies == expected.accuracy


# ----------------------------------------------------------------------------- random sampling


def random_by_permutation(n, budget, generator):
    return torch.randperm(n, generator=generator)[:budget]


def random_by_multinomial(n, budget, generator):
    return torch.multinomial(torch.ones(n), min(budget, n), replacement=False, generator=generator)


def random_by_sorting_noise(n, budget, generator):
    return torch.rand(n, generator=generator).argsort()[:budget]


def random_with_replacement(n, budget, generator):
    return torch.randint(n, (min(budget, n),), generator=generator)


def random_from_global_stream(n, budget, generator):
    return torch.randperm(n)[:budget]


def random_first_positions(n, budget, generator):
    return torch.arange(min(budget, n))


def random_one_too_many(n, budget, generator):
    return torch.randperm(n, generator=generator)[:budget + 1]


def random_biased(n, budget, generator):
    weights = torch.arange(1, n + 1, dtype=torch.float)
    return torch.multinomial(weights, min(budget, n), replacement=False, generator=generator)


def random_neighbours(n, budget, generator):
    start = int(torch.randint(n, (1,), generator=generator))
    return (start + torch.arange(min(budget, n))) % n


def random_scores(n, budget, generator):
    return torch.rand(n, generator=generator)


def random_delegated(n, budget, generator):
    from tavaal_nb.classroom.sandbox import strategies
    context = type("Context", (), {"candidates": torch.arange(n), "generator": generator})()
    return strategies._random(context).argsort()[:budget]


@pytest.mark.parametrize("right", [random_by_permutation, random_by_multinomial, random_by_sorting_noise])
def test_random_checker_accepts_correct_samplers(right):
    with global_stream_untouched():  # the seeded case reseeds the global stream inside
        assert check_random_sampling(right) == 7


@pytest.mark.parametrize("wrong, fragments", [
    (random_with_replacement, ("chosen twice",)),
    (random_from_global_stream, ("seeded alike", "generator=generator")),
    (random_first_positions, ("not random",)),
    (random_one_too_many, ("11 positions chosen for budget 10",)),
    (random_biased, ("every candidate must be equally likely",)),
    (random_neighbours, ("every *batch* must be equally likely", "neighbours")),
    (random_scores, ("integer tensor", "scores?")),
])
def test_random_checker_rejects_plausible_mistakes(wrong, fragments):
    rejects(check_random_sampling, wrong, "random sampling", *fragments)


def test_random_checker_rejects_the_package_random():
    rejects(check_random_sampling, random_delegated, "calls the package's", "yourself")


# ----------------------------------------------------------------------------- entropy and margin


def entropy_by_hand(probabilities, budget):
    logs = torch.where(probabilities > 0, probabilities.log(), torch.zeros_like(probabilities))
    scores = -(probabilities * logs).sum(dim=1)
    return scores.topk(min(budget, scores.numel())).indices


def entropy_with_xlogy(probabilities, budget):
    scores = -torch.special.xlogy(probabilities, probabilities).sum(dim=1)
    return torch.argsort(scores, descending=True)[:budget]


def entropy_with_distributions(probabilities, budget):
    scores = torch.distributions.Categorical(probs=probabilities).entropy()
    return torch.argsort(-scores)[:budget].int()


def entropy_lowest(probabilities, budget):
    scores = -torch.special.xlogy(probabilities, probabilities).sum(dim=1)
    return torch.argsort(scores)[:budget]


def entropy_nan_on_zeros(probabilities, budget):
    scores = -(probabilities * probabilities.log()).sum(dim=1)
    return scores.topk(min(budget, scores.numel())).indices


def entropy_least_confidence(probabilities, budget):
    return torch.argsort(probabilities.max(dim=1).values)[:budget]


def entropy_threshold(probabilities, budget):
    scores = -torch.special.xlogy(probabilities, probabilities).sum(dim=1)
    threshold = scores.sort(descending=True).values[min(budget, scores.numel()) - 1]
    return torch.nonzero(scores >= threshold).reshape(-1)


def entropy_returns_scores(probabilities, budget):
    return -torch.special.xlogy(probabilities, probabilities).sum(dim=1)


def entropy_fixed_budget(probabilities, budget):
    scores = -torch.special.xlogy(probabilities, probabilities).sum(dim=1)
    return torch.argsort(scores, descending=True)[:5]


def entropy_delegated(probabilities, budget):
    from tavaal_nb.classroom.sandbox.strategies import entropy_scores
    return entropy_scores(probabilities).argsort(descending=True)[:budget]


@pytest.mark.parametrize("right", [entropy_by_hand, entropy_with_xlogy, entropy_with_distributions])
def test_entropy_checker_accepts_correct_answers(right):
    assert check_entropy_sampling(right) == 11


@pytest.mark.parametrize("wrong, fragments", [
    (entropy_lowest, ("lowest scores", "the highest entropy")),
    (entropy_nan_on_zeros, ("certain candidates", "0 log 0 counts as 0")),
    (entropy_least_confidence, ("least confidence",)),
    (entropy_threshold, ("4 positions chosen for budget 3",)),
    (entropy_returns_scores, ("integer tensor", "scores?")),
    (entropy_fixed_budget, ("budget 7",)),
])
def test_entropy_checker_rejects_plausible_mistakes(wrong, fragments):
    rejects(check_entropy_sampling, wrong, "entropy sampling", *fragments)


def test_entropy_checker_rejects_the_package_scores():
    rejects(check_entropy_sampling, entropy_delegated, "calls the package's", "entropy_scores")


def margin_by_hand(probabilities, budget):
    top = probabilities.sort(dim=1, descending=True).values
    return torch.argsort(top[:, 0] - top[:, 1])[:budget]


def margin_with_topk(probabilities, budget):
    first, second = probabilities.topk(2, dim=1).values.unbind(dim=1)
    return (second - first).topk(min(budget, probabilities.shape[0])).indices


def margin_highest(probabilities, budget):
    top = probabilities.topk(2, dim=1).values
    return torch.argsort(top[:, 0] - top[:, 1], descending=True)[:budget]


def margin_top_minus_least(probabilities, budget):
    return torch.argsort(probabilities.max(dim=1).values - probabilities.min(dim=1).values)[:budget]


def margin_least_confidence(probabilities, budget):
    return torch.argsort(probabilities.max(dim=1).values)[:budget]


def margin_first_two_classes(probabilities, budget):
    return torch.argsort((probabilities[:, 0] - probabilities[:, 1]).abs())[:budget]


def margin_every_budget_plus_one(probabilities, budget):
    top = probabilities.topk(2, dim=1).values
    return torch.argsort(top[:, 0] - top[:, 1])[:budget + 1]


def margin_delegated(probabilities, budget):
    from tavaal_nb.strategies.base import lowest
    top = probabilities.topk(2, dim=1).values
    return lowest(top[:, 0] - top[:, 1], budget)


@pytest.mark.parametrize("right", [margin_by_hand, margin_with_topk])
def test_margin_checker_accepts_correct_answers(right):
    assert check_margin_sampling(right) == 11


@pytest.mark.parametrize("wrong, fragments", [
    (margin_highest, ("highest scores", "smallest margin")),
    (margin_top_minus_least, ("*least* probable",)),
    (margin_least_confidence, ("least confidence",)),
    (margin_first_two_classes, ("expected the 5 lowest",)),
    (margin_every_budget_plus_one, ("6 positions chosen for budget 5",)),
])
def test_margin_checker_rejects_plausible_mistakes(wrong, fragments):
    rejects(check_margin_sampling, wrong, "margin sampling", *fragments)


def test_margin_checker_rejects_the_package_lowest():
    rejects(check_margin_sampling, margin_delegated, "calls the package's", "lowest")


# ----------------------------------------------------------------------------- k-center


def k_center_by_hand(labeled, candidates, budget):
    nearest = torch.full((candidates.shape[0],), float("inf"), dtype=candidates.dtype)
    for point in labeled:
        nearest = torch.minimum(nearest, (candidates - point).norm(dim=1))
    picks = []
    for _ in range(min(budget, candidates.shape[0])):
        free = nearest.clone()
        free[picks] = -1.0
        choice = int(free.argmax())
        picks.append(choice)
        nearest = torch.minimum(nearest, (candidates - candidates[choice]).norm(dim=1))
    return torch.tensor(picks)


def k_center_squared(labeled, candidates, budget):
    """Squared distances rank like distances: the same greedy picks."""
    squared = lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # noqa: E731
    nearest = squared(candidates, labeled).min(dim=1).values if labeled.shape[0] else \
        torch.full((candidates.shape[0],), float("inf"), dtype=candidates.dtype)
    chosen = torch.zeros(candidates.shape[0], dtype=torch.bool)
    picks = []
    for _ in range(min(budget, candidates.shape[0])):
        choice = int(nearest.masked_fill(chosen, -1).argmax())
        picks.append(choice)
        chosen[choice] = True
        nearest = torch.minimum(nearest, squared(candidates, candidates[choice:choice + 1]).reshape(-1))
    return torch.tensor(picks, dtype=torch.int64)


def k_center_last_index_on_ties(labeled, candidates, budget):
    """Ties broken towards the last candidate: a different, equally valid greedy sequence."""
    flipped = k_center_by_hand(labeled, candidates.flip(0), budget)
    return candidates.shape[0] - 1 - flipped


def k_center_no_update(labeled, candidates, budget):
    nearest = torch.cdist(candidates, labeled).min(dim=1).values if labeled.shape[0] else \
        torch.zeros(candidates.shape[0])
    return torch.argsort(nearest, descending=True)[:budget]


def k_center_mean_distance(labeled, candidates, budget):
    if not labeled.shape[0]:
        return k_center_by_hand(labeled, candidates, budget)
    return torch.argsort(torch.cdist(candidates, labeled).mean(dim=1), descending=True)[:budget]


def k_center_argmin(labeled, candidates, budget):
    nearest = torch.cdist(candidates, labeled).min(dim=1).values if labeled.shape[0] else \
        torch.zeros(candidates.shape[0])
    picks = []
    for _ in range(min(budget, candidates.shape[0])):
        choice = int(nearest.argmin())
        picks.append(choice)
        nearest[choice] = float("inf")
    return torch.tensor(picks)


def k_center_l1(labeled, candidates, budget):
    nearest = torch.cdist(candidates, labeled, p=1).min(dim=1).values if labeled.shape[0] else \
        torch.full((candidates.shape[0],), float("inf"))
    picks = []
    for _ in range(min(budget, candidates.shape[0])):
        choice = int(nearest.argmax())
        picks.append(choice)
        nearest = torch.minimum(nearest, torch.cdist(candidates, candidates[choice:choice + 1], p=1).reshape(-1))
    return torch.tensor(picks)


def k_center_sorted(labeled, candidates, budget):
    return k_center_by_hand(labeled, candidates, budget).sort().values


def k_center_ignores_labeled(labeled, candidates, budget):
    return k_center_by_hand(labeled[:0], candidates, budget)


def k_center_picks_twice(labeled, candidates, budget):
    """Relies on a pick's distance to itself being 0: with twins (all 0), it picks a point again."""
    nearest = torch.cdist(candidates, labeled).min(dim=1).values if labeled.shape[0] else \
        torch.full((candidates.shape[0],), float("inf"))
    picks = []
    for _ in range(min(budget, candidates.shape[0])):
        choice = int(nearest.argmax())
        picks.append(choice)
        nearest = torch.minimum(nearest, (candidates - candidates[choice]).norm(dim=1))
    return torch.tensor(picks)


def k_center_delegated(labeled, candidates, budget):
    from tavaal_nb.strategies.coreset import k_center_greedy
    return k_center_greedy(labeled, candidates, budget)[0]


@pytest.mark.parametrize("right", [k_center_by_hand, k_center_squared, k_center_last_index_on_ties])
def test_k_center_checker_accepts_every_greedy_sequence(right):
    assert check_k_center(right) == 9


@pytest.mark.parametrize("wrong, fragments", [
    (k_center_no_update, ("pick 3", "update the distances")),
    (k_center_mean_distance, ("largest mean distance", "*nearest* member")),
    (k_center_argmin, ("pick 1", "*nearest* to the labeled set")),
    (k_center_l1, ("L1 distance",)),
    (k_center_sorted, ("right set in another order",)),
    (k_center_ignores_labeled, ("made with nothing labeled", "measure from the labeled points")),
    (k_center_picks_twice, ("every candidate twice", "chosen twice")),
])
def test_k_center_checker_rejects_plausible_mistakes(wrong, fragments):
    rejects(check_k_center, wrong, "greedy k-center", *fragments)


def test_k_center_checker_rejects_the_package_k_center():
    rejects(check_k_center, k_center_delegated, "calls the package's", "k_center_greedy")


# ----------------------------------------------------------------------------- BALD


def entropy_nats(p):
    return -torch.special.xlogy(p, p).sum(dim=-1)


def bald_by_hand(probabilities):
    return entropy_nats(probabilities.mean(dim=0)) - entropy_nats(probabilities).mean(dim=0)


def bald_with_loops(probabilities):
    samples = probabilities.shape[0]
    mean = sum(probabilities[t] for t in range(samples)) / samples
    expected_entropy = sum(entropy_nats(probabilities[t]) for t in range(samples)) / samples
    return entropy_nats(mean) - expected_entropy


def bald_as_kl(probabilities):
    """The mutual information is also the mean KL divergence of each sample from the mean."""
    mean = probabilities.mean(dim=0, keepdim=True)
    ratio = torch.where(probabilities > 0, probabilities / mean.clamp_min(1e-30), torch.ones_like(probabilities))
    return torch.special.xlogy(probabilities, ratio).sum(dim=-1).mean(dim=0)


def bald_entropy_of_mean(probabilities):
    return entropy_nats(probabilities.mean(dim=0))


def bald_mean_entropy(probabilities):
    return entropy_nats(probabilities).mean(dim=0)


def bald_flipped(probabilities):
    return entropy_nats(probabilities).mean(dim=0) - entropy_nats(probabilities.mean(dim=0))


def bald_bits(probabilities):
    return bald_by_hand(probabilities) / math.log(2)


def bald_summed(probabilities):
    return entropy_nats(probabilities.sum(dim=0)) - entropy_nats(probabilities).sum(dim=0)


def bald_nan(probabilities):
    entropy = lambda p: -(p * p.log()).sum(dim=-1)  # noqa: E731
    return entropy(probabilities.mean(dim=0)) - entropy(probabilities).mean(dim=0)


def bald_wrong_axis(probabilities):
    return entropy_nats(probabilities.mean(dim=1)) - entropy_nats(probabilities).mean(dim=1)


def bald_delegated(probabilities):
    from tavaal_nb.classroom.exercises.bald import reference_bald_scores
    return reference_bald_scores(probabilities)


@pytest.mark.parametrize("right", [bald_by_hand, bald_with_loops, bald_as_kl])
def test_bald_checker_accepts_correct_answers(right):
    assert check_bald(right) == 8


@pytest.mark.parametrize("wrong, fragments", [
    (bald_entropy_of_mean, ("entropies of the mean prediction",)),
    (bald_mean_entropy, ("the part BALD *removes*",)),
    (bald_flipped, ("sign is flipped",)),
    (bald_bits, ("bits",)),
    (bald_summed, ("summed, not averaged",)),
    (bald_nan, ("one-hot samples", "0 log 0 = 0")),
    (bald_wrong_axis, ("has shape (20,), expected (15,)",)),
])
def test_bald_checker_rejects_plausible_mistakes(wrong, fragments):
    rejects(check_bald, wrong, "BALD", *fragments)


def test_bald_checker_rejects_the_reference():
    rejects(check_bald, bald_delegated, "calls the package's", "reference_bald_scores")


# ----------------------------------------------------------------------------- every new checker


def stub(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("checker", [check_active_loop, check_random_sampling, check_entropy_sampling,
                                     check_margin_sampling, check_k_center, check_bald])
def test_every_checker_says_not_implemented_yet_and_refuses_a_non_function(checker):
    with pytest.raises(NotImplementedYet, match="not implemented yet: write stub in the cell above"):
        checker(stub)
    with pytest.raises(ExerciseFailed, match="expected a function, got int"):
        checker(3)


def test_sandbox_pieces_refuse_an_unlabeled_pool_that_misses_the_picks():
    pool = make_toy_pool("moons", largest=20, seed=0)
    pieces = sandbox_loop_pieces(pool, "entropy", steps=5)
    labeled = torch.arange(5)
    model = pieces.train(labeled, 0)
    with pytest.raises(ValueError, match="which are not in `unlabeled`: pass the pool indices that are not labeled"):
        pieces.strategy(model, labeled, torch.tensor([5]), 3, 0)  # three picks, one unlabeled point given
