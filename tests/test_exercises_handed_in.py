"""Every checker refuses the package's own solution handed in as the answer (an alias, a partial, a decorated
wrapper, a copy of its code, a staticmethod, a bound method), and the checkers of notebook 01 and 05 refuse the
``0 * log 0`` mistakes that only rows zero for *some* classes (``[0.5, 0.5, 0]``) or partly-zero MC samples show;
each wrong answer gets the hint that names its symptom. The wrong answers are written here, not taken from the
package; correct variants (nan turned into 0 term by term, another log base where only the order counts, the
learner's own partial or decorator) are still accepted."""

from __future__ import annotations

import functools
import math
import types

import pytest
import torch
from conftest import rejects

from tavaal_nb import losses, metrics
from tavaal_nb.classroom.exercises import (
    adversarial,
    bald,
    check_active_loop,
    check_adversarial_step,
    check_bald,
    check_class_entropy,
    check_conditional_vae_objective,
    check_entropy_sampling,
    check_k_center,
    check_margin_sampling,
    check_random_sampling,
    check_ranker_loss,
    check_reparameterize,
    check_selection,
    check_table_1_row,
    entropy,
    k_center,
    sampling,
    vae,
)
from tavaal_nb.classroom.exercises.harness import handed_in_reference
from tavaal_nb.classroom.sandbox import run as sandbox_run
from tavaal_nb.classroom.sandbox import strategies as sandbox_strategies
from tavaal_nb.models import ConditionalVAE
from tavaal_nb.strategies import coreset, scores, vaal

HANDED_IN = "the function handed in is the package's"

# ----------------------------------------------------------------------------- the reference handed in

REFERENCES = [  # (checker, the package's own solution of its exercise)
    (check_active_loop, sandbox_run.run_sandbox),
    (check_random_sampling, sandbox_strategies._random),
    (check_entropy_sampling, scores.entropy_scores),
    (check_margin_sampling, sampling.reference_margin),
    (check_k_center, k_center.reference_k_center),
    (check_k_center, coreset.k_center_greedy),
    (check_bald, bald.reference_bald_scores),
    (check_ranker_loss, losses.bce_ranking_loss),
    (check_reparameterize, ConditionalVAE.reparameterize),
    (check_conditional_vae_objective, vae.reference_conditional_vae_objective),
    (check_conditional_vae_objective, losses.conditional_vae_loss),
    (check_adversarial_step, vaal.train_adversarial),
    (check_selection, adversarial.reference_selection),
    (check_class_entropy, metrics.class_entropy),
    (check_table_1_row, entropy.table_1_row),
]


def alias(reference):
    my_answer = reference  # "my_class_entropy = class_entropy"
    return my_answer


def partial(reference):
    return functools.partial(reference)


def decorated(reference):
    @functools.wraps(reference)
    def answer(*args, **kwargs):
        return reference(*args, **kwargs)
    return answer


def copied_code(reference):
    """A new function object running the reference's own code (what copy-and-rename gives)."""
    copy = types.FunctionType(reference.__code__, reference.__globals__, "my_answer", reference.__defaults__,
                              reference.__closure__)
    copy.__kwdefaults__ = reference.__kwdefaults__
    return copy


def static(reference):
    return staticmethod(reference)


@pytest.mark.parametrize("form", [alias, partial, decorated, copied_code, static])
@pytest.mark.parametrize("checker, reference", REFERENCES,
                         ids=[f"{c.__name__}-{r.__name__}" for c, r in REFERENCES])
def test_every_checker_rejects_the_package_solution_handed_in(checker, reference, form):
    rejects(checker, form(reference), HANDED_IN, "write it yourself")


def test_a_bound_method_of_the_package_is_rejected():
    model = ConditionalVAE(1, 16, z_dim=3, r_dim=1, width=2)
    rejects(check_reparameterize, model.reparameterize, HANDED_IN, "reparameterize")
    rejects(check_reparameterize, functools.partial(model.reparameterize), HANDED_IN)


def test_a_classmethod_and_a_package_object_are_rejected():
    class Holder:
        answer = classmethod(lambda cls, counts: 0.0)

    assert handed_in_reference(Holder.__dict__["answer"]) is None  # the learner's own lambda
    assert handed_in_reference(classmethod(metrics.class_entropy)) == "tavaal_nb.metrics.class_entropy"
    strategy = sandbox_strategies.resolve_strategy("random")  # a package object with __call__
    assert handed_in_reference(strategy).startswith("tavaal_nb.")


def own_entropy(counts, base=math.e):
    values = [float(c) for c in counts]
    if min(values) < 0 or not sum(values):
        raise ValueError("counts must be non-negative and not all zero")
    total = sum(values)
    return -sum(v / total * math.log(v / total, base) for v in values if v)


def test_the_learners_own_partial_and_decorator_are_accepted():
    assert check_class_entropy(functools.partial(own_entropy, base=math.e)) == 9

    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            return fn(*args)
        return wrapper

    assert check_class_entropy(logged(own_entropy)) == 9

    class Answers:
        entropy = staticmethod(own_entropy)

    assert check_class_entropy(Answers.entropy) == 9


def test_a_forwarding_lambda_is_left_to_the_tripwire():
    forwarding = lambda counts: metrics.class_entropy(counts)  # noqa: E731
    assert handed_in_reference(forwarding) is None
    rejects(check_class_entropy, forwarding, "your answer calls the package's", "class_entropy")


# ----------------------------------------------------------------------------- entropy sampling


def naive_entropy(p):
    return -(p * p.log()).sum(dim=1)  # nan where a probability is 0


def top(values, budget):
    return torch.argsort(values, descending=True)[:budget]


def entropy_nan_terms_to_zero(p, budget):
    return top(torch.nan_to_num(-(p * p.log())).sum(dim=1), budget)  # 0 log 0 -> 0 term by term: right


def entropy_in_bits(p, budget):
    return top(-torch.special.xlogy(p, p).sum(dim=1) / math.log(2), budget)  # the order is the same: right


def entropy_nan_rows_to_zero(p, budget):
    return top(torch.nan_to_num(naive_entropy(p), nan=0.0), budget)


def entropy_drop_nan_rows(p, budget):
    values = naive_entropy(p)
    kept = torch.nonzero(torch.isfinite(values)).reshape(-1)
    return kept[top(values[kept], budget)]


def entropy_one_vs_rest(p, budget):
    binary = -torch.special.xlogy(p, p) - torch.special.xlogy(1 - p, 1 - p)
    return top(binary.sum(dim=1), budget)


def entropy_second_softmax(p, budget):
    q = torch.softmax(p, dim=1)
    return top(-(q * q.log()).sum(dim=1), budget)


def entropy_smallest_margin(p, budget):
    best = p.topk(2, dim=1).values
    return torch.argsort(best[:, 0] - best[:, 1])[:budget]


@pytest.mark.parametrize("right", [entropy_nan_terms_to_zero, entropy_in_bits])
def test_entropy_checker_accepts_more_correct_variants(right):
    assert check_entropy_sampling(right) == 11


@pytest.mark.parametrize("wrong, fragments", [
    (entropy_nan_rows_to_zero, ("[0.5, 0.5, 0], budget 5", "scored 0 (or were left out)", "log 2")),
    (entropy_drop_nan_rows, ("[0.5, 0.5, 0], budget 5", "scored 0 (or were left out)")),
    (entropy_one_vs_rest, ("4 classes, many zero", "binary entropy, one class against the rest")),
    (entropy_second_softmax, ("second softmax",)),
    (entropy_smallest_margin, ("smallest margin p_(1) - p_(2) (margin sampling)",)),
])
def test_entropy_checker_names_the_mistake(wrong, fragments):
    message = rejects(check_entropy_sampling, wrong, "entropy sampling", *fragments)
    assert "least confidence" not in message


# ----------------------------------------------------------------------------- margin sampling


def margin_by_sorting(p, budget):
    ordered = p.sort(dim=1, descending=True).values
    return torch.argsort(ordered[:, 0] - ordered[:, 1], stable=True)[:budget]


def margin_is_entropy(p, budget):
    return top(-torch.special.xlogy(p, p).sum(dim=1), budget)


def margin_of_classes_0_and_1(p, budget):
    return torch.argsort((p[:, 0] - p[:, 1]).abs())[:budget]


def margin_as_ratio(p, budget):
    best = p.topk(2, dim=1).values
    return torch.argsort(best[:, 0] / best[:, 1])[:budget]


def margin_as_ratio_second_over_first(p, budget):
    best = p.topk(2, dim=1).values
    return top(best[:, 1] / best[:, 0], budget)


def margin_least_probable(p, budget):
    return torch.argsort(p.max(dim=1).values - p.min(dim=1).values)[:budget]


def test_margin_checker_still_accepts_a_sorted_margin():
    assert check_margin_sampling(margin_by_sorting) == 11


@pytest.mark.parametrize("wrong, fragments", [
    (margin_is_entropy, ("highest entropy (entropy sampling)",)),
    (margin_of_classes_0_and_1, ("classes 0 and 1", "*two most probable*")),
    (margin_as_ratio, ("ratio p_(2) / p_(1)",)),
    (margin_as_ratio_second_over_first, ("ratio p_(2) / p_(1)",)),
    (margin_least_probable, ("*least* probable",)),
])
def test_margin_checker_names_the_mistake(wrong, fragments):
    message = rejects(check_margin_sampling, wrong, "margin sampling", *fragments)
    assert "top minus least" not in message


# ----------------------------------------------------------------------------- BALD


def entropy_terms(p):
    return -torch.special.xlogy(p, p).sum(dim=-1)


def bald_with_epsilon(p):
    h = lambda q: -(q * torch.log(q + 1e-12)).sum(dim=-1)  # noqa: E731  (p = 0 terms add 0: right)
    return h(p.mean(dim=0)) - h(p).mean(dim=0)


def bald_sample_nan_to_zero(p):
    h = lambda q: torch.nan_to_num(-(q * q.log()).sum(dim=-1), nan=0.0)  # noqa: E731
    return h(p.mean(dim=0)) - h(p).mean(dim=0)


def bald_drop_nan_samples(p):
    per_sample = -(p * p.log()).sum(dim=-1)
    finite = torch.isfinite(per_sample)
    kept_mean = torch.where(finite, per_sample, 0.0).sum(dim=0) / finite.sum(dim=0).clamp_min(1)
    return torch.nan_to_num(entropy_terms(p.mean(dim=0)) - kept_mean, nan=0.0)


def bald_score_nan_to_zero(p):
    h = lambda q: -(q * q.log()).sum(dim=-1)  # noqa: E731
    return torch.nan_to_num(h(p.mean(dim=0)) - h(p).mean(dim=0), nan=0.0)


def bald_base_10(p):
    return (entropy_terms(p.mean(dim=0)) - entropy_terms(p).mean(dim=0)) / math.log(10)


def test_bald_checker_accepts_an_epsilon_inside_the_log():
    assert check_bald(bald_with_epsilon) == 8


@pytest.mark.parametrize("wrong, fragments", [
    (bald_sample_nan_to_zero, ("partly-zero samples", "[0.5, 0.5, 0] has entropy log 2", "term by term")),
    (bald_drop_nan_samples, ("partly-zero samples", "term by term")),
    (bald_score_nan_to_zero, ("one-hot samples", "does not score 0")),
    (bald_base_10, ("log base 10",)),
])
def test_bald_checker_names_the_zero_probability_mistakes(wrong, fragments):
    rejects(check_bald, wrong, "BALD", *fragments)


# ----------------------------------------------------------------------------- the class-count entropy


def class_entropy_nan_to_zero(counts):
    p = torch.tensor([float(c) for c in counts], dtype=torch.float64)
    if (p < 0).any() or not p.sum():
        raise ValueError("bad counts")
    p = p / p.sum()
    return float(torch.nan_to_num(-(p * p.log()).sum(), nan=0.0))


def class_entropy_zero_counts_as_one(counts):
    """"Avoid log 0" by counting an empty class as one image: the empty classes then add entropy."""
    values = [float(c) for c in counts]
    return own_entropy([v if v else 1.0 for v in values]) if min(values) >= 0 and sum(values) else own_entropy(values)


def class_entropy_over_nonzero_classes_count(counts):
    """Normalised by the number of classes that hold images: not an entropy."""
    return own_entropy(counts) / max(1, sum(1 for c in counts if float(c) > 0)) * 2


@pytest.mark.parametrize("wrong, fragments", [
    (class_entropy_nan_to_zero, ("a class with no images", "expected 0.693147")),
    (class_entropy_zero_counts_as_one, ("a class with no images",)),
    (class_entropy_over_nonzero_classes_count, ("balanced pool",)),
])
def test_class_entropy_checker_rejects_zero_count_mistakes(wrong, fragments):
    rejects(check_class_entropy, wrong, "class-count entropy", *fragments)
