"""The presets as config.py writes them down: the paper preset is Config's defaults, value by value."""

from __future__ import annotations

import dataclasses

from tavaal_nb.config import PRESETS, Config, make_config


def test_paper_preset_spells_out_configs_defaults():
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    paper = PRESETS["paper"]
    assert paper, "the paper preset lists its values with their sources"
    for name, value in paper.items():
        assert defaults[name] == value, name
    # what the paper preset leaves out is about the run, not the method
    assert set(defaults) - set(paper) == {"dataset", "methods", "first_trial", "eval_batch_size", "precision",
                                          "memory_format", "fused_optimizers", "cuda_graphs", "compile", "autocast_cache",
                                          "seed", "device", "data_dir", "preset", "strategy_params"}


def test_every_preset_value_is_a_config_field_and_builds():
    fields = {f.name for f in dataclasses.fields(Config)}
    for name, values in PRESETS.items():
        assert set(values) <= fields, name
        config = make_config(name, dataset="synthetic", device="cpu")
        for key, value in values.items():
            assert getattr(config, key) == value, (name, key)
