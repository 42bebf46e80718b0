"""The hidden tests of notebooks 01-08 (what only `nbgrader autograde` runs) pass the notebook's own solution and
fail a wrong answer to every exercise, with the checkers' module edited to accept everything: they recompute
the answers themselves and do not lean on the checkers a student copy carries."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from scipy import stats as scipy_stats
from test_exercises_handed_in import class_entropy_nan_to_zero

import tavaal_nb.classroom.exercises as exercises

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
PRELUDE = """
import math
import torch
import torch.nn.functional as F
from tavaal_nb.losses import conditional_vae_loss
from tavaal_nb.models import ConditionalVAE
"""


def cells(name: str) -> list[str]:
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def graded(name: str) -> tuple[dict, dict[str, str]]:
    """(a namespace holding the notebook's solutions, the hidden tests of each exercise by its function's name)."""
    namespace: dict = {}
    exec(PRELUDE, namespace)
    hidden = {}
    for source in cells(name):
        if "### BEGIN SOLUTION" in source:
            exec(source, namespace)
        for region in HIDDEN.findall(source):
            function = re.search(r"^check_\w+\((\w+)\)", source, re.M).group(1)
            hidden[function] = region
    return namespace, hidden


def entropy_rows(p):
    return -(p * p.log()).sum(dim=1)  # nan where p = 0


def loop_without_the_picks(pool_size, initial, budget, cycles, train, evaluate, strategy):
    labeled = torch.as_tensor(initial).clone()
    sizes, accuracies = [], []
    for cycle in range(cycles):
        unlabeled = torch.tensor([i for i in range(pool_size) if i not in labeled.tolist()])
        model = train(labeled, cycle)
        sizes.append(len(labeled))
        accuracies.append(evaluate(model))
        strategy(model, labeled, unlabeled, min(budget, len(unlabeled)), cycle)  # the picks never join
    return sizes, accuracies


def k_center_without_update(labeled, candidates, budget):
    nearest = torch.cdist(candidates, labeled).min(dim=1).values
    return torch.argsort(nearest, descending=True)[:budget]


def objective_without_kl_weight(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    total = 0.0
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled)):
        mu, logvar = vae.encode(x)
        recon = vae.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), r)
        total = total + F.mse_loss(recon, x) - 0.5 * torch.mean(1 + logvar - mu ** 2 - logvar.exp())
    return total



def step_with_swapped_labels(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
                             r_labeled, r_unlabeled, kl_weight=1.0, adversarial_weight=1.0):
    """Eqs. 6-7 right, eq. 8 with labeled = 0 and unlabeled = 1."""
    loss, codes = 0.0, []
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled)):
        mu, logvar = vae.encode(x)
        recon = vae.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), torch.sigmoid(r))
        logits = discriminator(mu, r)
        loss = loss + F.mse_loss(recon, x) - 0.5 * kl_weight * torch.mean(1 + logvar - mu ** 2 - logvar.exp()) \
            + adversarial_weight * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    vae_optimizer.zero_grad()
    loss.backward()
    vae_optimizer.step()
    with torch.no_grad():
        codes = [vae.encode(x)[0] for x in (x_labeled, x_unlabeled)]
    l_l, l_u = discriminator(codes[0], r_labeled), discriminator(codes[1], r_unlabeled)
    eq8 = F.binary_cross_entropy_with_logits(l_l, torch.zeros_like(l_l)) + \
        F.binary_cross_entropy_with_logits(l_u, torch.ones_like(l_u))
    discriminator_optimizer.zero_grad()
    eq8.backward()
    discriminator_optimizer.step()
    return loss.detach(), eq8.detach()


def paired_with_population_sd(a, b, confidence=0.95):
    """The paired interval with the sd divided by n instead of n - 1."""
    if len(a) != len(b):
        raise ValueError("unequal lengths")
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / len(d)
    if len(d) < 2:
        return mean, math.nan, math.nan
    half = scipy_stats.t.ppf((1 + confidence) / 2, len(d) - 1) * math.sqrt(
        sum((v - mean) ** 2 for v in d) / len(d)) / math.sqrt(len(d))
    return mean, mean - half, mean + half


def aulc_as_plain_mean(sizes, accuracies):
    """Every cycle weighted alike, whatever its width in labels."""
    if len(sizes) != len(accuracies) or len(sizes) < 2:
        raise ValueError("two equally long lists of at least two points")
    return sum(accuracies) / len(accuracies)


def labels_strictly_above(sizes, accuracies, target):
    """An accuracy exactly at the target does not count."""
    if len(sizes) != len(accuracies) or not 0 <= target <= 100:
        raise ValueError("unequal lengths or a target outside [0, 100]")
    return next((n for n, a in zip(sizes, accuracies) if a > target), None)


WRONG = {  # notebook -> the exercise's function -> a wrong answer written here
    "01_sandbox": {
        "active_learning_loop": loop_without_the_picks,
        "random_sampling": lambda n, b, generator: torch.arange(min(n, b)),
        "entropy_sampling": lambda p, b: torch.argsort(torch.nan_to_num(entropy_rows(p), nan=0.0),
                                                       descending=True)[:b],
        "margin_sampling": lambda p, b: torch.argsort((p[:, 0] - p[:, 1]).abs())[:b],
        "k_center_greedy": k_center_without_update,
        "bald_scores": lambda p: (torch.nan_to_num(-(p.mean(0) * p.mean(0).log()).sum(-1))
                                  - torch.nan_to_num(-(p * p.log()).sum(-1)).mean(0)),
    },
    "02_ranking_loss": {
        "my_ranker_loss": lambda pred, target: F.softplus(pred[: len(pred) // 2] - pred.flip(0)[: len(pred) // 2]).sum(),
    },
    "03_conditional_wae": {
        "my_reparameterize": lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu),
        "my_conditional_vae_objective": objective_without_kl_weight,
    },
    "04_discriminator_selection": {
        "my_adversarial_step": step_with_swapped_labels,
        "my_selection": lambda d, mu, r, b: torch.argsort(d(mu, r).detach(), descending=True)[:b],
    },
    "05_imbalanced_cifar10": {
        "my_class_entropy": class_entropy_nan_to_zero,
        "my_table_1_row": lambda counts: (round(sum(counts)), round(class_entropy_nan_to_zero(counts), 2)),
    },
    "06_active_loop": {"my_paired_interval": paired_with_population_sd},
    "07_reproducing_the_paper": {"my_aulc": aulc_as_plain_mean},
    "08_beyond_the_paper": {"my_labels_to_reach": labels_strictly_above},
}
CASES = [(name, function) for name, wrong in WRONG.items() for function in wrong]


@pytest.fixture
def checkers_accept_everything(monkeypatch):
    """A student copy whose checkers were edited to accept any answer."""
    for checker in [name for name in dir(exercises) if name.startswith("check_")]:
        monkeypatch.setattr(exercises, checker, lambda *args, **kwargs: None)


def test_every_graded_exercise_has_a_wrong_answer_here():
    assert {name: sorted(graded(name)[1]) for name in WRONG} == {name: sorted(wrong) for name, wrong in WRONG.items()}


@pytest.mark.parametrize("name, function", CASES)
def test_hidden_tests_pass_the_solution_and_fail_a_wrong_answer(name, function, checkers_accept_everything):
    namespace, hidden = graded(name)
    stream = torch.random.get_rng_state()
    exec(hidden[function], dict(namespace))  # the notebook's solution passes
    assert torch.equal(torch.random.get_rng_state(), stream), "the hidden tests changed the lesson's random stream"
    wrong = dict(namespace, **{function: WRONG[name][function]})
    if function == "my_class_entropy":
        wrong["my_table_1_row"] = lambda counts: (round(sum(counts)), math.floor(100 * wrong[function](counts)) / 100)
    with pytest.raises(AssertionError):
        exec(hidden[function], wrong)
