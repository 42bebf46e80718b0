"""Issue 10: vaal-lloss, UncertainGCN, CoreGCN, BADGE, plain retraining (sec. 6.1), the full-pool
upper bound, and the settings made to match the authors' public code."""

from __future__ import annotations

import copy
import json
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from conftest import CI_BUDGET, CI_CYCLES, CI_TEST_LIMIT, ci_config

import tavaal_nb.strategies.badge as badge_module
from tavaal_nb import Callback, make_config, run_experiment
from tavaal_nb.data.imbalance import apply_imbalance
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.losses import margin_ranking_loss, ranker_objective_loss
from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18
from tavaal_nb.models.adversarial import build_discriminator, build_vae, kaiming_init_
from tavaal_nb.models.gcn import affinity_adjacency
from tavaal_nb.results import ResultsFileError
from tavaal_nb.strategies import METHODS, get_strategy
from tavaal_nb.strategies.badge import gradient_embeddings, kmeans_pp_seeds
from tavaal_nb.strategies.base import select_by_scores
from tavaal_nb.strategies.coreset import k_center_greedy
from tavaal_nb.strategies.gcn import GCNSettings, gcn_loss, train_gcn
from tavaal_nb.training import Runtime, TaskModel, count_parameters, train_task_model
from tavaal_nb.upper_bound import UPPER_BOUND_NAME, read_upper_bound, train_upper_bound

NEW_METHODS = ("vaal-lloss", "uncertaingcn", "coregcn", "badge")


def stub_context(candidates, labeled, budget, images=None, generator_seed=0, outputs=None):
    """What a strategy reads from a QueryContext, for selections on hand-made embeddings: ``outputs(rows)``
    stands for the task model, giving its outputs on the rows of ``images`` that ``context.infer`` is asked for."""
    return SimpleNamespace(
        candidates=torch.as_tensor(candidates), labeled=torch.as_tensor(labeled), budget=budget,
        data=SimpleNamespace(train_images=images), augmenter=None, task=None,
        config=SimpleNamespace(eval_batch_size=64), runtime=None,
        generator=torch.Generator().manual_seed(generator_seed),
        infer=lambda indices: outputs(images[indices]),
    )


# ----------------------------------------------------------------------------- select_by_scores
def test_select_by_scores_takes_the_extremes_with_stable_ties():
    context = stub_context([10, 11, 12, 13, 14], [], 2)
    scores = torch.tensor([0.5, 0.9, 0.1, 0.9, 0.1])
    high = select_by_scores(context, scores, "highest")
    low = select_by_scores(context, scores, "lowest", extras={"a": 1})
    assert high.indices.tolist() == [11, 13] and low.indices.tolist() == [12, 14]
    assert low.extras == {"a": 1} and high.extras == {} and high.strategy_data == {}
    assert high.scores.dtype == torch.float32 and high.candidates.tolist() == [10, 11, 12, 13, 14]
    d = select_by_scores(stub_context([1, 2], [], 5), torch.tensor([2.0, 1.0]), strategy_data={"d": [1.0, 1.0]})
    assert d.indices.tolist() == [1, 2] and d.strategy_data == {"d": [1.0, 1.0]}


# ----------------------------------------------------------------------------- the methods run
def test_new_methods_are_registered():
    assert all(name in METHODS for name in NEW_METHODS)
    assert get_strategy("vaal-lloss").ranker_objective == "margin"
    for name in ("uncertaingcn", "coregcn", "badge"):
        assert get_strategy(name).ranker_objective is None


def test_new_methods_run_end_to_end_at_ci(synthetic_run):
    results, _ = synthetic_run
    for method in NEW_METHODS:
        run = results.run(method, 0)
        assert run["finished"] and len(run["cycles"]) == CI_CYCLES
        for record in run["cycles"][:-1]:
            assert len(set(record["selected_indices"])) == CI_BUDGET
        has_d = run["cycles"][0]["strategy_data"].get("discriminator_scores") is not None
        assert has_d == (method == "vaal-lloss")


def test_vaal_lloss_trains_its_ranker_with_eq_1():
    config = ci_config(ranker_margin=0.7)
    loss = ranker_objective_loss(get_strategy("vaal-lloss").ranker_objective, config.ranker_margin)
    pred, target = torch.tensor([0.3, -0.2, 0.5, 0.1]), torch.tensor([1.0, 2.0, 0.5, 3.0])
    # pairs (0, 3) and (1, 2): l_0 < l_3 so I = -1; l_1 > l_2 so I = +1
    by_hand = (max(0.0, (0.3 - 0.1) + 0.7) + max(0.0, -(-0.2 - 0.5) + 0.7)) / 2
    assert float(loss(pred, target)) == pytest.approx(by_hand)
    assert float(loss(pred, target)) == pytest.approx(float(margin_ranking_loss(pred, target, 0.7)))
    assert get_strategy("vaal-lloss").trains_ranker


# ----------------------------------------------------------------------------- BADGE
def test_gradient_embeddings_are_the_last_layers_gradients():
    torch.manual_seed(0)
    layer = torch.nn.Linear(5, 3)
    features = torch.randn(6, 5)
    logits = layer(features)
    embeddings = gradient_embeddings(logits.detach(), features)
    for i in range(6):
        layer.zero_grad()
        F.cross_entropy(layer(features[i : i + 1]), logits[i : i + 1].argmax(1)).backward()
        assert torch.allclose(embeddings.dense()[i], layer.weight.grad.flatten(), atol=1e-6)
    dense = embeddings.dense()
    for i in range(6):
        assert torch.allclose(embeddings.squared_distance_to(i), ((dense - dense[i]) ** 2).sum(1), atol=1e-5)


def factored(vectors):
    """Gradient embeddings equal to the given rows (one class, features = the rows)."""
    vectors = torch.as_tensor(vectors, dtype=torch.float32)
    return badge_module.GradientEmbeddings(torch.ones(vectors.shape[0], 1), vectors)


def test_kmeans_pp_seeds_known_case():
    # point 2 has the largest norm; points 0 and 3 are copies of it, so after the first seed
    # only point 1 is at a non-zero distance: k-means++ must take it second, whatever the draw.
    embeddings = factored([[3.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 0.0]])
    for seed in range(5):
        picks, to_first = kmeans_pp_seeds(embeddings, 2, torch.Generator().manual_seed(seed))
        assert picks.tolist() == [0, 1] or picks.tolist() == [2, 1]
    picks, to_first = kmeans_pp_seeds(embeddings, 4, torch.Generator().manual_seed(0))
    first = picks[0].item()
    assert picks[1].item() == 1 and sorted(picks.tolist()) == [0, 1, 2, 3]
    assert to_first.tolist() == pytest.approx([0.0, 10.0, 0.0, 0.0]) and first in (0, 2, 3)


def test_kmeans_pp_draws_in_proportion_to_squared_distance():
    # squared norms 100, 81, 109: the first seed is point 2
    embeddings = factored([[10.0, 0.0], [9.0, 0.0], [10.0, 3.0]])
    assert int(torch.argmax(embeddings.squared_norms)) == 2
    # from point 2: point 0 at 9, point 1 at 1 + 9 = 10
    generator = torch.Generator().manual_seed(0)
    second = [kmeans_pp_seeds(embeddings, 2, generator)[0][1].item() for _ in range(2000)]
    assert second.count(0) / 2000 == pytest.approx(9 / 19, abs=0.04)
    a = kmeans_pp_seeds(embeddings, 3, torch.Generator().manual_seed(3))[0]
    b = kmeans_pp_seeds(embeddings, 3, torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)


def test_badge_selects_its_seeds():
    rows = torch.tensor([[3.0, 0.0], [0.0, 1.0], [3.0, 0.0], [2.9, 0.0]])
    images = torch.cat([torch.zeros(5, 2), rows])  # candidates 5..8 are these rows
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def outputs(batch):
        return {"logits": batch @ weight.T, "embedding": batch}

    selection = METHODS["badge"].select(stub_context([5, 6, 7, 8], [], 2, images, outputs=outputs))
    embeddings = gradient_embeddings(rows @ weight.T, rows)
    first = int(torch.argmax(embeddings.squared_norms))
    assert selection.indices[0].item() == [5, 6, 7, 8][first] and selection.indices.numel() == 2
    assert selection.scores.tolist() == pytest.approx(embeddings.squared_norms.sqrt().tolist())


# ----------------------------------------------------------------------------- GCN
def test_affinity_adjacency_by_hand():
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    c = 1 / math.sqrt(2)
    cosine = [[1, c, 0], [c, 1, c], [0, c, 1]]
    affinity = [[cosine[i][j] - (i == j) for j in range(3)] for i in range(3)]
    column = [sum(affinity[i][j] for i in range(3)) for j in range(3)]
    expected = [[affinity[i][j] / column[j] + (i == j) for j in range(3)] for i in range(3)]
    assert affinity_adjacency(v).tolist() == [pytest.approx(row) for row in expected]


def test_affinity_adjacency_of_a_zero_embedding_divides_by_its_negative_column_sum():
    # node 2's embedding is all zeros: its column of V V^T - I is (0, 0, -1), sum -1, so its diagonal is
    # -1 / -1 + 1 = 2 (the public Sequential-GCN code's value; clamping the sum to eps gave about -1e12)
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    adjacency = affinity_adjacency(v)
    assert adjacency[:, 2].tolist() == pytest.approx([0.0, 0.0, 2.0])
    # nodes 0 and 1: their columns are (0, c, 0) and (c, 0, 0), each summing to c: 1 off the diagonal, 1 on it
    assert adjacency[:2, :2].flatten().tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0], rel=1e-5)


def test_affinity_adjacency_leaves_a_zero_sum_column_undivided():
    # node 0 = e1 has cosines c and -c with the other two: its column (0, c, -c) sums to 0 and is kept as it is
    c = 1 / math.sqrt(2)
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]])
    column = affinity_adjacency(v)[:, 0]
    assert column.tolist() == pytest.approx([1.0, c, -c], abs=1e-5)


def test_gcn_loss_weights_the_unlabeled_term():
    logits = torch.tensor([0.0, 2.0, -1.0])
    mask = torch.tensor([True, False, False])
    sig = torch.sigmoid(logits)
    by_hand = -math.log(sig[0]) - 1.2 * (math.log(1 - sig[1]) + math.log(1 - sig[2])) / 2
    assert float(gcn_loss(logits, mask, 1.2)) == pytest.approx(by_hand, rel=1e-6)


@pytest.fixture(scope="module")
def two_clusters():
    """20 labeled embeddings near e1; candidates 0-9 near e1 too, 10-19 near e2 (unexplored)."""
    generator = torch.Generator().manual_seed(1)
    e1, e2 = torch.eye(16)[0], torch.eye(16)[1]

    def noisy(centre, n):
        return centre + 0.05 * torch.rand(n, 16, generator=generator)

    return torch.cat([noisy(e1, 10), noisy(e2, 10), noisy(e1, 20)])


def test_gcn_separates_the_clusters(two_clusters):
    torch.manual_seed(0)
    mask = torch.zeros(40, dtype=torch.bool)
    mask[20:] = True
    output = train_gcn(two_clusters, mask, GCNSettings())
    assert output.loss_history[-1] < output.loss_history[0]
    near, far = output.confidence[:10], output.confidence[10:20]
    assert near.min() > 0.3 and far.max() < 0.05  # the unexplored cluster is confidently "unlabeled"
    # k-center greedy in the GCN's feature space starts in the far cluster
    positions, _ = k_center_greedy(output.hidden[20:], output.hidden[:20], 3)
    assert all(p >= 10 for p in positions.tolist())


@pytest.mark.parametrize("method", ["uncertaingcn", "coregcn"])
def test_gcn_methods_pick_the_unexplored_cluster(two_clusters, method):
    torch.manual_seed(0)
    context = stub_context(torch.arange(20), torch.arange(20, 40), 5, two_clusters,
                           outputs=lambda batch: {"embedding": batch})
    selection = METHODS[method].select(context)
    assert selection.indices.numel() == 5 and len(set(selection.indices.tolist())) == 5
    if method == "uncertaingcn":  # the GCN is confident the near cluster is "labeled": all five come from the far one
        assert all(10 <= i < 20 for i in selection.indices.tolist())
    else:  # k-center greedy: its first pick, the candidate farthest from the labeled set, is in the far cluster;
        # later picks spread out and may return to the near cluster (20 query seeds: 2 to 5 of 5 in the far one)
        assert 10 <= selection.indices[0].item() < 20
        assert sum(10 <= i < 20 for i in selection.indices.tolist()) >= 2
    confidence = selection.extras["gcn_confidence"]
    if method == "uncertaingcn":  # scores are |s - 0.1|; the five nearest the margin are chosen
        assert selection.scores.tolist() == pytest.approx((confidence - 0.1).abs().tolist())
        assert set(selection.indices.tolist()) == set(torch.argsort(selection.scores)[:5].tolist())


@pytest.mark.parametrize("method", ["uncertaingcn", "coregcn"])
def test_gcn_methods_draw_from_the_query_generator_not_the_global_rng(two_clusters, method):
    picks, confidences = [], []
    for global_seed in (0, 1):  # the global RNG differs between the two queries; the query's generator does not
        torch.manual_seed(global_seed)
        context = stub_context(torch.arange(20), torch.arange(20, 40), 5, two_clusters,
                               outputs=lambda batch: {"embedding": batch})
        before = torch.random.get_rng_state()
        selection = METHODS[method].select(context)
        assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is left as it was
        picks.append(selection.indices.tolist())
        confidences.append(selection.extras["gcn_confidence"])
    assert picks[0] == picks[1] and torch.equal(confidences[0], confidences[1])
    other = stub_context(torch.arange(20), torch.arange(20, 40), 5, two_clusters,
                         outputs=lambda batch: {"embedding": batch})
    other.generator.manual_seed(12345)  # another query seed: another GCN initialisation
    assert not torch.equal(METHODS[method].select(other).extras["gcn_confidence"], confidences[0])


# ----------------------------------------------------------------------------- plain retraining (sec. 6.1)
class StopAfter(Callback):
    def on_cycle_end(self, method, trial, record, selection):
        if record["cycle"] == 0:
            raise KeyboardInterrupt


def records_without_timings(results):
    runs = copy.deepcopy(results.runs)
    for run in runs:
        for record in run["cycles"]:
            record.pop("timings_s")
    return runs


@pytest.mark.slow
def test_retrain_plain_records_a_plain_accuracy_and_resumes(tmp_path):
    plain = run_experiment(ci_config(methods=("lloss",), retrain_plain=True), progress=False)
    joint = run_experiment(ci_config(methods=("lloss",)), progress=False)
    plain_runs, joint_runs = records_without_timings(plain), records_without_timings(joint)
    accuracies = [record.pop("plain_test_accuracy") for record in plain_runs[0]["cycles"]]
    assert len(accuracies) == CI_CYCLES
    for value in accuracies:  # 100 test images: whole percents
        assert 0.0 <= value <= 100.0 and value * CI_TEST_LIMIT / 100 == pytest.approx(round(value))
    # the flag adds one field and changes nothing else in the records
    assert plain_runs == joint_runs
    assert all("plain_test_accuracy" not in r for r in joint.runs[0]["cycles"])
    assert all("plain" in r["timings_s"] for r in plain.runs[0]["cycles"])
    out = tmp_path / "interrupted"
    config = ci_config(methods=("lloss",), retrain_plain=True)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out, callbacks=[StopAfter()], progress=False)
    stored = json.loads((out / "results.json").read_text())
    assert [r["plain_test_accuracy"] for r in stored["runs"][0]["cycles"]] == accuracies[:1]
    resumed = run_experiment(config, out, resume=True, progress=False)
    assert [r["plain_test_accuracy"] for r in resumed.runs[0]["cycles"]] == accuracies


# ----------------------------------------------------------------------------- upper bound
def test_upper_bound_round_trips(tmp_path):
    config = ci_config(train_limit=64, epochs=1, milestones=(1,))
    path = tmp_path / UPPER_BOUND_NAME
    bound = train_upper_bound(config, path, trials=2, progress=False)
    assert bound.train_size == 64 and len(bound.accuracies) == 2 and len(set(bound.seeds)) == 2
    assert all(0 <= a <= 100 for a in bound.accuracies)
    assert bound.test_accuracy == pytest.approx(sum(bound.accuracies) / 2)
    stored = json.loads(path.read_text())
    assert stored["format"] == "tavaal-nb/upper-bound" and stored["version"] == 1
    assert stored["test_accuracy"] == pytest.approx(bound.test_accuracy)
    assert read_upper_bound(tmp_path) == bound and [p.name for p in tmp_path.iterdir()] == [UPPER_BOUND_NAME]
    path.write_text(json.dumps({"format": "tavaal-nb/results", "version": 1}))
    with pytest.raises(ResultsFileError, match="upper-bound"):
        read_upper_bound(path)
    with pytest.raises(ValueError, match="trials"):
        train_upper_bound(config, trials=0)


# ----------------------------------------------------------------------------- fidelity to the public code
def test_paper_and_authors_code_discriminator_has_the_public_codes_size():
    by_hand = (32 * 512 + 512) + (512 * 512 + 512) + (512 * 1 + 1)
    assert by_hand == 280_065
    for preset in ("paper", "authors-code"):
        config = make_config(preset)
        assert config.disc_depth == 3 and config.z_dim == 32
        assert count_parameters(build_discriminator(config, r_dim=0)) == by_hand
        linear = [m for m in build_discriminator(config, r_dim=1).modules() if isinstance(m, torch.nn.Linear)]
        assert len(linear) == 3 and linear[0].in_features == 33  # TA-VAAL: z and r
    assert count_parameters(Discriminator(32, 1, 512, 5)) == 805_889  # the old 5-layer depth stays an option


def test_authors_code_fashion_mnist_vae_is_the_public_codes():
    config = make_config("authors-code", dataset="fashion-mnist")
    assert (config.z_dim, config.vae_layout) == (28, "authors")
    vae = build_vae(config, 1, 28, 1)
    conv = (1 * 128 * 16) + (128 * 256 * 16) + (256 * 512 * 16) + (512 * 1024 * 9)
    norms = 2 * (128 + 256 + 512 + 1024) + 2 * (512 + 256 + 128)
    heads = 2 * (1024 * 2 * 2 * 28 + 28)
    decoder = (29 * 1024 * 4 * 4 + 1024 * 4 * 4) + (1024 * 512 * 9) + (512 * 256 * 16) + (256 * 128 * 16) + (128 + 1)
    assert conv + norms + heads + decoder == 15_408_825 == count_parameters(vae)
    x = torch.randn(2, 1, 28, 28)
    recon, z, mu, _ = vae.eval()(x, torch.zeros(2, 1))
    assert recon.shape == x.shape and mu.shape == (2, 28) and vae.pad == 0
    padded = make_config("paper", dataset="fashion-mnist")
    assert padded.vae_layout == "padded" and build_vae(padded, 1, 28, 1).pad == 4
    # on 32x32 images the two layouts are one network
    assert count_parameters(ConditionalVAE(3, 32, 32, 1, 8, "authors")) == count_parameters(ConditionalVAE(3, 32, 32, 1, 8))


@torch.no_grad()
def test_kaiming_init_as_the_public_code():
    torch.manual_seed(0)
    discriminator = build_discriminator(make_config("paper"), r_dim=1)
    linear = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert all(float(m.bias.abs().sum()) == 0.0 for m in linear)
    assert float(linear[1].weight.std()) == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    vae = build_vae(make_config("paper"), 3, 32, 1)
    assert float(vae.fc_decode.bias.abs().sum()) == 0.0
    assert float(vae.fc_mu.bias.abs().sum()) > 0.0  # the public code's initialiser misses fc_mu / fc_logvar
    deconv = vae.decoder[0][0]
    assert isinstance(deconv, torch.nn.ConvTranspose2d)
    bound = 1 / math.sqrt(deconv.weight.shape[1] * 16)  # PyTorch's default for a transposed conv
    assert float(deconv.weight.abs().max()) <= bound
    default = build_discriminator(make_config("cpu"), r_dim=1)
    assert make_config("cpu").adversarial_init == "pytorch"
    assert float(next(m for m in default.modules() if isinstance(m, torch.nn.Linear)).bias.abs().sum()) > 0.0
    skipped = torch.nn.Linear(4, 4)
    before = skipped.weight.clone()
    kaiming_init_(torch.nn.Sequential(skipped, torch.nn.Linear(4, 4)), skip=(skipped,))
    assert torch.equal(skipped.weight, before)


def test_ranker_is_detached_from_the_detach_epoch_on():
    """Detached from ``ranker_detach_epoch`` on; the paper preset's 121 is the public code's ``epoch > 120``.
    With 3 epochs and detach epoch 2, only epoch 2 is detached."""
    config = ci_config(epochs=3, milestones=(3,), ranker_detach_epoch=2)
    data = prepare_data(config)
    backbone = ResNet18(data.num_classes, data.channels, config.width)
    task = TaskModel(backbone, LossPredictionModule(backbone.stage_channels))
    attached: list[bool] = []
    task.ranker.register_forward_pre_hook(lambda module, args: attached.append(args[0][0].requires_grad))
    labeled = torch.arange(32)
    epochs = []
    train_task_model(task, data, labeled, config, make_augmenter(config, data), torch.Generator().manual_seed(0),
                     margin_ranking_loss, progress=False, on_epoch=lambda epoch, loss: epochs.append(len(attached)))
    per_epoch = [attached[a:b] for a, b in zip([0] + epochs[:-1], epochs)]
    assert [set(flags) for flags in per_epoch] == [{True}, {True}, {False}]


def test_authors_code_runs_in_fp32_without_tf32():
    runtime = Runtime.resolve(make_config("authors-code"), torch.device("cuda"))
    assert (runtime.amp, runtime.channels_last, runtime.fused, runtime.tf32) == (False, False, False, False)
    paper = Runtime.resolve(make_config("paper"), torch.device("cuda"))
    assert (paper.amp, paper.channels_last, paper.fused, paper.tf32) == (True, True, True, True)
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        paper.apply_tf32()
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        runtime.apply_tf32()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_official_profile_keeps_the_first_n_per_class():
    labels = torch.arange(10).repeat(5001)  # class c at positions c, c + 10, ...
    keep = apply_imbalance(labels, "official-100x", seed=3)
    counts = [50, 5000] * 5
    expected = sorted(p for c in range(10) for p in [c + 10 * k for k in range(counts[c])])
    assert keep.tolist() == expected
    drawn = apply_imbalance(labels, "official-100x", seed=3, draw="random")
    assert drawn.tolist() != expected and torch.bincount(labels[drawn]).tolist() == counts
    # the paper's profiles still draw at random
    first_of_each = apply_imbalance(labels, "entropy-1.65", seed=0, draw="first")
    assert apply_imbalance(labels, "entropy-1.65", seed=0).tolist() != first_of_each.tolist()
    with pytest.raises(ValueError, match="draw must be one of"):
        apply_imbalance(labels, "official-100x", draw="last")


@pytest.mark.parametrize(
    "field,value",
    [("retrain_plain", "yes"), ("allow_tf32", 1), ("adversarial_init", "xavier"), ("vae_layout", "cropped")],
)
def test_new_settings_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        ci_config(**{field: value})


def test_cifar100_starts_from_2000_at_the_paper_presets():
    for preset in ("paper", "authors-code"):
        config = make_config(preset, dataset="cifar100")
        assert (config.initial, config.budget) == (2000, 2000)
    assert make_config("ci", dataset="cifar100").initial == 20
