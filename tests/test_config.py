"""Configuration: presets, validation messages, epoch rescaling; names checked against the registries."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ALL_METHODS, DATASET_NAMES, PRESET_NAMES, ci_config

from tavaal_nb import Config, make_config, run_experiment
from tavaal_nb.errors import ResultsMismatchError
from tavaal_nb.preflight import check_names
from tavaal_nb.stored_config import (
    EXECUTION_FIELDS,
    KEPT_ON_RESUME,
    VALUE_BEFORE_FIELD_EXISTED,
    completed_config,
    config_diff,
    kept_on_resume,
)


def test_unknown_dataset_lists_the_valid_ones():
    config = make_config("ci", dataset="mnist")  # a Config checks values; names are looked up at the start of a run
    with pytest.raises(ValueError) as info:
        check_names(config)
    message = str(info.value)
    assert "'mnist'" in message
    assert all(name in message for name in DATASET_NAMES)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        check_names(make_config("ci", dataset="synthetic", methods=("tavaal", "bald")))
    message = str(info.value)
    assert "method 'bald' is unknown" in message and "tavaal" not in message.split("valid:")[0]
    assert all(name in message for name in ALL_METHODS)


def test_methods_may_be_a_comma_separated_string():
    assert make_config("ci", methods="tavaal, random").methods == ("tavaal", "random")


def test_subset_smaller_than_budget_is_refused():
    with pytest.raises(ValueError, match=r"subset \(10\) must be at least the budget \(20\)"):
        ci_config(subset=10)


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"milestones": (5,)}, "milestones"),  # ci has 2 epochs
        ({"batch_size": 1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"decoder_r": "tanh"}, "decoder_r"),
        ({"disc_depth": 1}, "disc_depth"),
        ({"device": "tpu"}, "device"),
        ({"trials": 0}, "trials"),
    ],
)
def test_invalid_fields_are_named(overrides, field):
    with pytest.raises(ValueError, match=field):
        ci_config(**overrides)


def test_unknown_field_is_refused():
    with pytest.raises(ValueError, match="learning_rate"):
        make_config("ci", learning_rate=0.1)


def test_bad_tavaal_preset_names_the_variable(monkeypatch):
    monkeypatch.setenv("TAVAAL_PRESET", "fast")
    with pytest.raises(ValueError) as info:
        make_config()
    message = str(info.value)
    assert "TAVAAL_PRESET" in message and "'fast'" in message
    assert all(name in message for name in PRESET_NAMES)


def test_tavaal_preset_picks_the_default(monkeypatch):
    monkeypatch.setenv("TAVAAL_PRESET", "ci")
    assert make_config().preset == "ci"
    monkeypatch.delenv("TAVAAL_PRESET")
    assert make_config().preset == ("paper" if torch.cuda.is_available() else "cpu")


def test_unknown_preset():
    with pytest.raises(ValueError, match="paper"):
        make_config("quick")


@pytest.mark.parametrize(
    "preset,epochs,milestones,detach",
    [
        # paper: milestone 160 of 200 epochs and the ranker detach at 120 -> 0.8 and 0.6 of the new length
        ("paper", 20, (16,), 12),
        ("paper", 50, (40,), 30),
        ("paper", 200, (160,), 121),
        # cpu: 10 and 7 of 12 epochs -> halved for 6 epochs (round(3.5) == 4)
        ("cpu", 6, (5,), 4),
    ],
)
def test_epoch_override_rescales_milestones(preset, epochs, milestones, detach):
    config = make_config(preset, epochs=epochs)
    assert config.epochs == epochs
    assert config.milestones == milestones
    assert config.ranker_detach_epoch == detach


def test_explicit_milestones_are_not_rescaled():
    config = make_config("paper", epochs=20, milestones=(5, 15))
    assert config.milestones == (5, 15) and config.ranker_detach_epoch == 12
    config = make_config("paper", epochs=20, ranker_detach_epoch=3)
    assert config.milestones == (16,) and config.ranker_detach_epoch == 3


def test_replace_rescales_too():
    config = make_config("paper").replace(epochs=100)
    assert config.milestones == (80,) and config.ranker_detach_epoch == 60


def test_paper_adjustments_of_datasets():
    assert make_config("paper", dataset="cifar100").budget == 2000
    assert make_config("paper", dataset="cifar10").budget == 1000
    assert make_config("paper", dataset="cifar10-imb-1.65").cycles == 5
    assert make_config("authors-code", dataset="cifar100").budget == 2000
    assert make_config("paper", dataset="cifar100").initial == make_config("authors-code", dataset="cifar100").initial == 2000
    assert make_config("authors-code", dataset="fashion-mnist").z_dim == 28
    assert make_config("paper", dataset="fashion-mnist").z_dim == 32
    assert make_config("ci", dataset="cifar100").budget == 20  # small presets keep their sizes


def test_paper_and_authors_code_presets():
    paper, code = make_config("paper"), make_config("authors-code")
    assert (paper.weight_decay, paper.crop_padding, paper.disc_depth) == (0.005, 2, 3)
    assert (code.weight_decay, code.crop_padding, code.disc_depth) == (5e-4, 4, 3)
    assert (paper.epochs, paper.milestones, paper.lr, paper.batch_size) == (200, (160,), 0.1, 128)
    assert (paper.initial, paper.budget, paper.subset, paper.cycles, paper.trials) == (1000, 1000, 10_000, 10, 5)


def test_config_round_trips_through_a_dict():
    config = ci_config(methods=("vaal", "random"), seed=3)
    assert Config.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="colour"):
        Config.from_dict({**config.to_dict(), "colour": "red"})


def test_vae_iterations_follow_the_public_codes_count():
    config = make_config("paper")
    # int((1000 c + 10000) * 100 / 128): c = 1 -> 8593, c = 9 -> 14843
    assert config.vae_iterations_for(1000, 10_000) == 8593
    assert config.vae_iterations_for(9000, 10_000) == 14843
    assert ci_config().vae_iterations_for(1000, 10_000) == 4  # the ci preset fixes it


def test_config_diff_treats_a_missing_field_as_its_default():
    # a results file written before a field existed resumes when the command keeps that field's default
    wanted = ci_config().to_dict()
    stored = {k: v for k, v in wanted.items() if k != "fused_optimizers"}
    assert config_diff(stored, wanted) == []
    changed = dict(wanted, fused_optimizers="off")
    assert [line.split(":")[0] for line in config_diff(stored, changed)] == ["fused_optimizers"]


def test_names_and_values_are_reported_together_by_their_checks():
    check_names(ci_config(methods=("random", "tavaal")))  # known names pass
    with pytest.raises(ValueError) as info:
        check_names(make_config("ci", dataset="nope", methods=("nada", "random")))
    lines = [line.strip() for line in str(info.value).splitlines()[1:]]
    assert lines[0].startswith("- dataset 'nope' is unknown; valid: cifar10,")
    assert lines[1].startswith("- method 'nada' is unknown; valid: random,") and len(lines) == 2
    with pytest.raises(ValueError, match="methods is empty"):
        ci_config(methods=())


def test_a_results_file_from_before_a_field_existed_resumes_and_pools_with_new_ones():
    """The shipped cpu results were written before adversarial_init, vae_layout, allow_tf32 and retrain_plain
    existed: they ran with PyTorch's initialisation, which the cpu preset still uses, so they resume."""
    new = make_config("cpu", dataset="fashion-mnist", seeding="per-method", min_steps=0).to_dict()
    old = {k: v for k, v in new.items() if k not in VALUE_BEFORE_FIELD_EXISTED}
    assert config_diff(old, new) == []
    # today's cpu preset differs from them in the two fields a resume keeps from the file (kept_on_resume)
    today = make_config("cpu", dataset="fashion-mnist")
    assert [line.split(":")[0] for line in config_diff(old, today.to_dict())] == sorted(KEPT_ON_RESUME)
    kept, notes = kept_on_resume(old, today)
    assert config_diff(old, kept.to_dict()) == [] and len(notes) == 2
    paper = make_config("paper", dataset="fashion-mnist", seeding="per-method").to_dict()
    old_paper = {k: v for k, v in paper.items() if k not in VALUE_BEFORE_FIELD_EXISTED}
    assert config_diff(old_paper, paper) == ["adversarial_init: results file has 'pytorch', this command has 'kaiming'"]
    assert completed_config(old) == completed_config(new)


# ------------------------------------------------------------------ renamed fields (margin -> ranker_margin)
def with_the_old_margin_name(config: dict) -> dict:
    """A config dict as files written before the rename store it: ``margin``, not ``ranker_margin``."""
    old = dict(config)
    old["margin"] = old.pop("ranker_margin")
    return old


def test_a_stored_config_with_the_old_margin_name_loads_into_ranker_margin_with_one_warning():
    new = ci_config(ranker_margin=0.5).to_dict()
    old = with_the_old_margin_name(new)
    with pytest.warns(FutureWarning) as caught:
        loaded = Config.from_dict(old)
    assert [str(w.message) for w in caught] == [
        "the setting 'margin' is now called 'ranker_margin' (--ranker-margin on the command line); 'margin' is read "
        "as 'ranker_margin' for now and will stop working in a later version"]
    assert loaded.ranker_margin == 0.5 and loaded == Config.from_dict(new)
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        assert completed_config(old) == completed_config(new)
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        assert config_diff(old, new) == []
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        assert config_diff(old, ci_config().to_dict()) == [
            "ranker_margin: results file has 0.5, this command has 1.0"]


def test_the_old_margin_name_works_in_make_config_and_both_names_are_refused():
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        assert make_config("ci", dataset="synthetic", margin=0.25).ranker_margin == 0.25
    with pytest.raises(ValueError, match="'margin' and 'ranker_margin' are both given"):
        Config.from_dict({**ci_config().to_dict(), "margin": 0.5})
    assert "margin" not in ci_config().to_dict()  # new files are written with the new name only


def test_a_run_written_with_the_old_margin_name_resumes(tmp_path):
    config = ci_config(methods=("lloss",), cycles=2, epochs=1, milestones=(1,), ranker_margin=0.5)
    finished = run_experiment(config, tmp_path, progress=False)
    path = tmp_path / "results.json"
    stored = json.loads(path.read_text())
    stored["config"] = with_the_old_margin_name(stored["config"])  # as the file was before the rename
    stored["runs"][0]["cycles"].pop()  # the last cycle is still to run
    stored["runs"][0]["finished"] = False
    stored["status"] = "interrupted"
    path.write_text(json.dumps(stored))
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        with pytest.raises(ResultsMismatchError, match="ranker_margin: results file has 0.5, this command has 1.0"):
            run_experiment(config.replace(ranker_margin=1.0), tmp_path, resume=True, progress=False)
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        resumed = run_experiment(config, tmp_path, resume=True, progress=False)
    assert [r["selected_indices"] for r in resumed.runs[0]["cycles"]] == \
        [r["selected_indices"] for r in finished.runs[0]["cycles"]]
    assert [r["test_accuracy"] for r in resumed.runs[0]["cycles"]] == \
        [r["test_accuracy"] for r in finished.runs[0]["cycles"]]
    rewritten = json.loads(path.read_text())["config"]
    assert rewritten["ranker_margin"] == 0.5 and "margin" not in rewritten


def test_eval_batch_size_is_an_execution_field_not_compared_on_resume():
    assert "eval_batch_size" in EXECUTION_FIELDS
    assert config_diff(ci_config(eval_batch_size=7).to_dict(), ci_config(eval_batch_size=300).to_dict()) == []
    assert config_diff(ci_config(batch_size=8).to_dict(), ci_config().to_dict()) != []  # training's is compared


def test_a_stored_sweep_with_the_old_margin_override_reads_it_as_ranker_margin():
    from tavaal_nb.sweep import SweepSpec

    stored = {"datasets": ["synthetic"], "methods": ["lloss"], "trials": 1, "preset": "ci", "seed": 0,
              "overrides": {"margin": 0.5, "device": "cpu"}}  # as a sweep.json written before the rename
    with pytest.warns(FutureWarning, match="'margin' is now called 'ranker_margin'"):
        spec = SweepSpec.from_dict(stored)
    assert spec.overrides == {"ranker_margin": 0.5, "device": "cpu"}
    now = SweepSpec(datasets=("synthetic",), methods=("lloss",), trials=1, preset="ci", seed=0,
                    overrides={"ranker_margin": 0.5, "device": "cpu", "eval_batch_size": 7})
    assert now.extends(spec) == []  # same setting under its new name; eval_batch_size is where-and-how only
