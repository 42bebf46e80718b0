"""The 2-D sandbox: pool sizes, the strategies on hand-made cases, the loop's determinism, the view."""

from __future__ import annotations

import math

import pytest
import torch

from tavaal_nb.classroom.sandbox import (
    SANDBOX_STRATEGIES,
    SandboxContext,
    SandboxView,
    discriminator_scores,
    make_toy_pool,
    run_sandbox,
    scoring_strategy,
    toy_class_counts,
)
from tavaal_nb.strategies.scores import entropy_scores, margin_scores


def make_context(features=None, probabilities=None, embedding=None, labeled_embedding=None, budget=1, seed=0):
    """A context over m candidates; what a test leaves out is filled with neutral values."""
    m = next(t.shape[0] for t in (features, probabilities, embedding) if t is not None)
    features = torch.zeros(m, 2) if features is None else features
    probabilities = torch.full((m, 2), 0.5) if probabilities is None else probabilities
    embedding = features if embedding is None else embedding
    labeled_embedding = torch.zeros(1, embedding.shape[1]) if labeled_embedding is None else labeled_embedding
    n_labeled = labeled_embedding.shape[0]
    labeled = torch.zeros(m + n_labeled, dtype=torch.bool)
    labeled[m:] = True
    return SandboxContext(features=features, probabilities=probabilities, embedding=embedding, predicted_loss=None,
                          labeled_features=torch.zeros(n_labeled, 2), labeled_embedding=labeled_embedding,
                          labeled_labels=torch.zeros(n_labeled, dtype=torch.long), candidates=torch.arange(m),
                          labeled=labeled, budget=budget, generator=torch.Generator().manual_seed(seed))


def test_class_counts_follow_the_imbalance_knob():
    # 200 * 8 ** (-c / 3) for c = 0..3: 200, 100, 50, 25.
    assert toy_class_counts(200, 4, 8.0) == [200, 100, 50, 25]
    assert toy_class_counts(300, 2, 10.0) == [300, 30]
    assert make_toy_pool("blobs", 200, 8.0).class_counts() == [200, 100, 50, 25]
    moons = make_toy_pool("moons", 300, 10.0, seed=3)
    assert moons.class_counts() == [300, 30] and moons.x.shape == (330, 2)
    assert moons.test_y.bincount().tolist() == [200, 200]  # the test set stays balanced


@pytest.mark.parametrize("kwargs, match", [
    ({"imbalance": 0.5}, "imbalance"), ({"kind": "spirals"}, "unknown pool kind"),
    ({"kind": "moons", "num_classes": 3}, "moons have 2 classes"), ({"largest": 5, "imbalance": 20.0}, "empty"),
])
def test_bad_pool_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_toy_pool(**kwargs)


def test_kcenter_picks_the_far_point_first():
    # Labeled point at the origin; candidates at distances 1, 5, 2: k-center takes the one at 5,
    # then the one at 2 (distance 2 to the origin beats distance 1).
    context = make_context(features=torch.tensor([[1.0, 0.0], [5.0, 0.0], [2.0, 0.0]]), budget=2)
    assert SANDBOX_STRATEGIES["coreset"](context).tolist() == [1, 2]


def test_entropy_and_margin_pick_the_most_uncertain_points():
    two = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3]])
    assert torch.allclose(entropy_scores(two)[1], torch.tensor(math.log(2)))
    assert SANDBOX_STRATEGIES["entropy"](make_context(probabilities=two, budget=2)).tolist() == [1, 2]
    # Three classes: margins 0.05, 0.4, 0.01; the smallest margin is the most uncertain.
    three = torch.tensor([[0.4, 0.35, 0.25], [0.6, 0.2, 0.2], [0.34, 0.33, 0.33]])
    assert torch.allclose(margin_scores(three), torch.tensor([0.05, 0.4, 0.01]))
    assert SANDBOX_STRATEGIES["margin"](make_context(probabilities=three, budget=2)).tolist() == [2, 0]
    assert SANDBOX_STRATEGIES["entropy"](make_context(probabilities=three, budget=1)).tolist() == [2]


def test_discriminator_scores_the_far_cluster_as_unlabeled():
    generator = torch.Generator().manual_seed(0)
    labeled = 0.1 * torch.randn(20, 2, generator=generator)
    near, far = 0.1 * torch.randn(10, 2, generator=generator), 3.0 + 0.1 * torch.randn(10, 2, generator=generator)
    candidates = torch.cat([near, far])
    d = discriminator_scores(labeled, candidates, torch.Generator().manual_seed(1))
    assert d[10:].max() < d[:10].min()  # eq. 9 takes the lowest D: the cluster nobody labeled


def test_scoring_strategy_checks_its_input():
    with pytest.raises(ValueError, match="prefer"):
        scoring_strategy(lambda c: c.features[:, 0], "x", prefer="largest")
    short = scoring_strategy(lambda c: torch.zeros(1), "short")
    with pytest.raises(ValueError, match="one score per candidate"):
        short(make_context(features=torch.zeros(3, 2)))
    with pytest.raises(ValueError, match="needs the MLP's loss-prediction head"):  # a context without one
        SANDBOX_STRATEGIES["lloss"](make_context(features=torch.zeros(3, 2)))


def test_the_loop_is_deterministic_for_a_seed():
    pool = make_toy_pool("moons", 60, 2.0, test_per_class=30)
    options = {"initial": 6, "budget": 5, "cycles": 3, "steps": 20, "grid_size": 5}
    first, again, other = (run_sandbox(pool, "entropy", seed=s, **options) for s in (0, 0, 1))
    assert [p.tolist() for p in first.picks] == [p.tolist() for p in again.picks]
    assert first.accuracy == again.accuracy and first.labeled_sizes == [6, 11, 16]
    assert [p.tolist() for p in first.picks] != [p.tolist() for p in other.picks]
    picked = torch.cat(first.picks)
    assert picked.unique().numel() == 15 and not set(picked.tolist()) & set(first.labeled[0].tolist())
    assert sum(first.pick_class_counts()) == 15
    lloss = run_sandbox(pool, "lloss", seed=0, **options)  # the loss head is trained (eq. 1) and used
    assert lloss.strategy.trains_loss_head and lloss.labeled_sizes == [6, 11, 16]
    unstarted = run_sandbox(pool, "entropy", seed=0, **{**options, "cycles": 0})
    unstarted.next_labeled = None
    with pytest.raises(ValueError, match="no labeled set to start from"):
        unstarted.advance(1)


def test_a_slider_change_redraws_a_different_figure():
    view = SandboxView(strategy="entropy", largest=60, initial=6, budget=5, cycles=3, static=True)
    before, redraws = view.figure.layout.title.text, view.redraws
    view.strategy.value = "coreset"
    assert view.redraws == redraws + 1 and view.figure.layout.title.text != before
    assert view.figure.layout.title.text.startswith("coreset, cycle 0: 6 labeled")
    view.imbalance.value = 5.0
    assert f"pool {view.pool.class_counts()}" in view.figure.layout.title.text and view.pool.class_counts()[1] == 12
    view.cycle.value = 2
    assert view.run.cycles == 3 and "cycle 2: 16 labeled" in view.figure.layout.title.text

    def first_coordinate(context):
        return context.features[:, 0]

    view.add_strategy(first_coordinate)
    assert "first-coordinate" in view.strategy.options and view.strategy.value == "first-coordinate"
    assert view.figure.layout.title.text.startswith("first-coordinate, cycle 2")


def test_mc_dropout_samples_differ_are_seeded_and_leave_the_model_in_eval_mode():
    from tavaal_nb.classroom.sandbox import mc_dropout_probabilities, train_mlp

    pool = make_toy_pool("moons", largest=40, seed=0)
    model = train_mlp(pool.x[:20], pool.y[:20], 2, steps=30, dropout=0.3, seed=1)
    again = train_mlp(pool.x[:20], pool.y[:20], 2, steps=30, dropout=0.3, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))  # masks seeded too
    torch.manual_seed(5)
    expected_global = torch.rand(2)
    torch.manual_seed(5)
    samples = mc_dropout_probabilities(model, pool.x, samples=6, seed=2)
    assert torch.equal(torch.rand(2), expected_global)  # the global stream is untouched
    assert samples.shape == (6, pool.size, 2)
    assert torch.allclose(samples.sum(dim=-1), torch.ones(6, pool.size))
    assert not torch.equal(samples[0], samples[1])  # a fresh mask per pass
    assert torch.equal(samples, mc_dropout_probabilities(model, pool.x, samples=6, seed=2))
    assert not model.training
    with torch.no_grad():  # in eval mode dropout is off: two predictions agree
        assert torch.equal(model(pool.x)[0], model(pool.x)[0])


def test_mc_dropout_needs_dropout_and_dropout_is_a_probability():
    from tavaal_nb.classroom.sandbox import SandboxMLP, mc_dropout_probabilities, train_mlp

    pool = make_toy_pool("moons", largest=20, seed=0)
    plain = train_mlp(pool.x, pool.y, 2, steps=5)
    with pytest.raises(ValueError, match="needs a model with dropout"):
        mc_dropout_probabilities(plain, pool.x)
    with pytest.raises(ValueError, match=r"dropout is a probability in \[0, 1\), got 1.0"):
        SandboxMLP(2, dropout=1.0)
