"""Strategies with declared, typed parameters; plug-in provenance in the results file and the resume check on it;
the scoring-function form's strategy_data, a functools.partial's help line, and the report's name column."""

from __future__ import annotations

import functools
import json
import shutil
import sys
from unittest.mock import ANY

import pytest
import torch
from conftest import ci_config

from tavaal_nb import run_experiment
from tavaal_nb.analysis.grouping import group_results
from tavaal_nb.analysis.report import accuracy_table
from tavaal_nb.cli import main
from tavaal_nb.config import Config, make_config
from tavaal_nb.errors import ResultsMismatchError, SelectionError
from tavaal_nb.results import Results
from tavaal_nb.strategies import (
    PLUGINS_ENV,
    Strategy,
    StrategyParam,
    get_strategy,
    load_plugin,
    register_strategy,
    registry,
    strategy_names,
    unregister_strategy,
)
from tavaal_nb.strategies.params import parse_strategy_params, resolve_params
from tavaal_nb.sweep import SweepSpec

PLUGIN_SOURCE = '''
import torch
from tavaal_nb import StrategyParam, register_strategy

@register_strategy(name="{name}", params=[StrategyParam("temperature", float, 1.0, "divides the logits")])
def scores(context):
    """least confidence at a temperature"""
    logits = context.infer(context.candidates)["logits"] / context.params["temperature"]
    return 1.0 - torch.softmax(logits, dim=1).max(dim=1).values
'''


@pytest.fixture
def clean_registry(monkeypatch):
    """Whatever a test registers or loads as a plug-in is forgotten afterwards (and before)."""
    monkeypatch.setenv(PLUGINS_ENV, "")
    before = set(strategy_names())
    monkeypatch.setattr(registry, "_LOADED_PLUGINS", set())
    modules = set(sys.modules)
    yield
    for name in set(strategy_names()) - before:
        unregister_strategy(name)
    for module in set(sys.modules) - modules:
        if module.startswith("tavaal_nb_plugin_"):
            del sys.modules[module]


def write_plugin(folder, name="lc-param"):
    path = folder / f"{name.replace('-', '_')}.py"
    path.write_text(PLUGIN_SOURCE.format(name=name))
    return path


# ----------------------------------------------------------------------------- declarations and checks
def test_a_declaration_is_checked_when_it_is_made():
    with pytest.raises(ValueError, match="identifier"):
        StrategyParam("not a name", float, 1.0)
    with pytest.raises(ValueError, match="type must be one of int, float, str, bool"):
        StrategyParam("k", list, [])
    with pytest.raises(ValueError, match="its default 'x' is invalid; valid: a number"):
        StrategyParam("temperature", float, "x")
    with pytest.raises(ValueError, match="choices"):
        StrategyParam("init", str, "kmeans++", choices=("kmeans++", 3))
    assert StrategyParam("temperature", float, 2).default == 2.0 and isinstance(StrategyParam("t", float, 2).default, float)


@pytest.mark.parametrize("param,value,valid", [
    (StrategyParam("temperature", float, 1.0), "abc", "a number"),
    (StrategyParam("temperature", float, 1.0), "inf", "a finite number"),
    (StrategyParam("samples", int, 10), "2.5", "an integer"),
    (StrategyParam("greedy", bool, False), "maybe", "true or false"),
    (StrategyParam("init", str, "kmeans++", choices=("kmeans++", "random")), "kmeans", "one of 'kmeans++', 'random'"),
])
def test_a_bad_value_is_one_line_naming_method_key_value_and_what_is_valid(param, value, valid):
    with pytest.raises(ValueError) as caught:
        param.parse("my-method", value)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"method 'my-method', parameter '{param.name}': got ")
    assert repr(value) in message and message.endswith(f"valid: {valid}")


def test_values_from_text_and_from_python_take_the_declared_type():
    assert StrategyParam("t", float, 1.0).parse("m", "2") == 2.0
    assert StrategyParam("n", int, 1).parse("m", "7") == 7
    assert StrategyParam("g", bool, False).parse("m", "yes") is True
    assert StrategyParam("t", float, 1.0).check("m", 3) == 3.0
    with pytest.raises(ValueError, match="an integer"):
        StrategyParam("n", int, 1).check("m", True)  # a bool is not a count
    with pytest.raises(ValueError, match="a number"):
        StrategyParam("t", float, 1.0).check("m", "2")  # from Python, a text is not a number


def test_params_resolve_with_defaults_and_an_unknown_key_names_the_valid_ones():
    class Sampler(Strategy):
        name = "sampler"
        params = (StrategyParam("samples", int, 10, "MC samples"), StrategyParam("seed", int, 0))

    assert dict(resolve_params(Sampler(), "sampler", {"samples": 3})) == {"samples": 3, "seed": 0}
    with pytest.raises(ValueError, match=r"method 'sampler' has no parameter 'sample'; valid: samples \(int\), "
                                         r"seed \(int\)"):
        resolve_params(Sampler(), "sampler", {"sample": 3})
    with pytest.raises(ValueError, match="method 'random' has no parameter 'x'; it takes none"):
        resolve_params(get_strategy("random"), "random", {"x": 1})


def test_register_strategy_declares_params_and_refuses_bad_declarations(clean_registry):
    strategy = register_strategy(lambda context: context.candidates.float(), name="with-params",
                                 params=[StrategyParam("temperature", float, 1.0)])
    assert [p.name for p in strategy.params] == ["temperature"]

    class Renamed(Strategy):
        name = "base-one"
        params = (StrategyParam("k", int, 5),)

    assert get_strategy(register_strategy(Renamed, name="renamed").name).params == Renamed.params
    with pytest.raises(ValueError, match="StrategyParam declarations"):
        register_strategy(lambda context: context.candidates, name="bad-params", params=[("temperature", float)])
    with pytest.raises(ValueError, match="repeat a name"):
        register_strategy(lambda context: context.candidates, name="twice",
                          params=[StrategyParam("t", float, 1.0), StrategyParam("t", float, 2.0)])


def test_command_line_assignments_target_the_methods_that_declare_them(clean_registry):
    register_strategy(lambda context: context.candidates.float(), name="warm",
                      params=[StrategyParam("temperature", float, 1.0)])
    strategies = {m: get_strategy(m) for m in ("warm", "random")}
    assert parse_strategy_params(["temperature=2"], ("warm", "random"), strategies) == {"warm": {"temperature": 2.0}}
    assert parse_strategy_params(["warm.temperature=0.5"], ("warm", "random"), strategies) == {"warm": {"temperature": 0.5}}
    for texts, words in ((["temperature"], "METHOD.KEY=VALUE or KEY=VALUE"),
                         (["other.temperature=2"], "names method 'other', which this command does not run"),
                         (["samples=2"], "no method of this command (warm, random) has a parameter 'samples'"),
                         (["random.temperature=2"], "method 'random' has no parameter 'temperature'")):
        with pytest.raises(ValueError) as caught:
            parse_strategy_params(texts, ("warm", "random"), strategies)
        assert words in str(caught.value) and "\n" not in str(caught.value)


def test_config_holds_strategy_params_read_only_hashable_and_as_json(clean_registry):
    config = make_config("ci", methods=("random", "entropy"), strategy_params={"entropy": {"k": 2}})
    assert config.to_dict()["strategy_params"] == {"entropy": {"k": 2}}
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert hash(config) == hash(Config.from_dict(config.to_dict()))
    with pytest.raises(TypeError):
        config.strategy_params["entropy"]["k"] = 3  # type: ignore[index]
    with pytest.raises(ValueError, match="strategy_params names method 'badge', which this configuration does not run"):
        make_config("ci", methods=("random",), strategy_params={"badge": {"k": 1}})
    with pytest.raises(ValueError, match="must be a number, a text or true/false, got \\[1\\]"):
        make_config("ci", methods=("random",), strategy_params={"random": {"k": [1]}})
    with pytest.raises(ValueError, match="strategy_params must map method names"):
        make_config("ci", methods=("random",), strategy_params=["random"])


def test_a_run_refuses_a_parameter_its_strategy_does_not_declare(clean_registry):
    with pytest.raises(ValueError, match="method 'random' has no parameter 'temperature'; it takes none"):
        run_experiment(ci_config(methods=("random",), strategy_params={"random": {"temperature": 2.0}}), progress=False)


def test_methods_lists_each_declared_parameter(capsys, clean_registry, tmp_path):
    assert main(["methods", "--plugin", str(write_plugin(tmp_path))]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(k for k, line in enumerate(out) if line.startswith("lc-param "))
    assert out[row + 1].split() == ["parameter", "temperature", "(float,", "default", "1.0):", "divides", "the",
                                    "logits"]


# ----------------------------------------------------------------------------- runs, results and resume
def test_the_strategy_reads_its_params_and_the_results_record_them(clean_registry, tmp_path):
    seen = []

    @register_strategy(name="spy", params=[StrategyParam("temperature", float, 1.0), StrategyParam("k", int, 4)])
    def spy(context):
        seen.append(dict(context.params))
        return torch.zeros(context.candidates.numel())

    config = ci_config(methods=("spy",), cycles=2, epochs=1, milestones=(1,), strategy_params={"spy": {"temperature": 2.5}})
    run_experiment(config, tmp_path / "run", progress=False)
    assert seen == [{"temperature": 2.5, "k": 4}]  # one query (two cycles); the default filled in
    stored = json.loads((tmp_path / "run" / "results.json").read_text())
    assert stored["config"]["strategy_params"] == {"spy": {"temperature": 2.5}}
    entry = stored["sessions"][0]["strategies"]["spy"]
    assert entry["params"] == {"temperature": 2.5, "k": 4} and entry["builtin"] is False
    assert entry["module"] == __name__ and entry["file"] == str(__import__("pathlib").Path(__file__).resolve())
    with pytest.raises(ResultsMismatchError) as caught:  # another value: refused, naming the field
        run_experiment(config.replace(strategy_params={"spy": {"temperature": 3.0}}), tmp_path / "run", resume=True,
                       progress=False)
    assert "strategy_params: results file has {'spy': {'temperature': 2.5}}" in str(caught.value)


def test_an_old_results_file_without_params_or_provenance_still_resumes(tmp_path):
    config = ci_config(methods=("random",), cycles=2, epochs=1, milestones=(1,))
    run_experiment(config, tmp_path, progress=False)
    path = tmp_path / "results.json"
    data = json.loads(path.read_text())
    del data["config"]["strategy_params"]
    for session in data["sessions"]:
        del session["strategies"]
    path.write_text(json.dumps(data))
    resumed = run_experiment(config, tmp_path, resume=True, progress=False)
    assert len(resumed.data["sessions"]) == 2 and resumed.data["sessions"][-1]["strategies"]["random"] == {
        "params": {}, "builtin": True}


def test_a_resume_after_the_plugin_changed_is_refused_naming_the_file(clean_registry, tmp_path):
    plugin = write_plugin(tmp_path, "lc-changing")
    assert load_plugin(str(plugin)) == ["lc-changing"]
    config = ci_config(methods=("lc-changing",), cycles=2, epochs=1, milestones=(1,))
    out = tmp_path / "run"
    run_experiment(config, out, progress=False)
    first = json.loads((out / "results.json").read_text())["sessions"][0]["strategies"]["lc-changing"]
    assert first["plugin"] == str(plugin) and first["file"] == str(plugin.resolve())
    run_experiment(config, out, resume=True, progress=False)  # unchanged: resumes
    plugin.write_text(plugin.read_text().replace("divides the logits", "divides the logits first"))
    before = (out / "results.json").read_bytes()
    with pytest.raises(ResultsMismatchError) as caught:
        run_experiment(config, out, resume=True, progress=False)
    message = str(caught.value)
    assert "\n" not in message and str(plugin.resolve()) in message and "--allow-changed-plugin" in message
    assert (out / "results.json").read_bytes() == before  # refused before anything was written
    resumed = run_experiment(config, out, resume=True, progress=False, allow_changed_plugin=True)
    hashes = [s["strategies"]["lc-changing"]["sha256"] for s in resumed.data["sessions"]]
    assert hashes[0] == hashes[1] != hashes[2]  # each session keeps the hash of the code it ran
    run_experiment(config, out, resume=True, progress=False)  # the last session's hash is the one compared now


def test_the_command_line_sets_params_and_refuses_a_changed_plugin_in_one_line(capsys, clean_registry, tmp_path):
    plugin = write_plugin(tmp_path, "lc-cli")
    out = tmp_path / "run"
    argv = ["run", "--plugin", str(plugin), "--method", "lc-cli,random", "--strategy-param", "temperature=4",
            "--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--cycles", "2", "--epochs", "1",
            "--milestones", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert Results.load(out).config["strategy_params"] == {"lc-cli": {"temperature": 4.0}}
    capsys.readouterr()
    shutil.copy(plugin, tmp_path / "backup.py")
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and str(plugin.resolve()) in err
    assert main([*argv, "--resume", "--allow-changed-plugin"]) == 0


@pytest.mark.slow
def test_a_sweep_gives_each_task_its_own_methods_params(capsys, clean_registry, tmp_path):
    plugin = write_plugin(tmp_path, "lc-sweep")
    out = tmp_path / "sweep"
    assert main(["sweep", "--plugin", str(plugin), "--datasets", "synthetic", "--methods", "lc-sweep,random",
                 "--strategy-param", "lc-sweep.temperature=0.5", "--trials", "1", "--preset", "ci", "--cycles", "2",
                 "--device", "cpu", "--workers", "1", "--quiet", "--out", str(out)]) == 0, capsys.readouterr().err
    stored = {m: Results.load(out / "synthetic" / m / "trial-0") for m in ("lc-sweep", "random")}
    assert stored["lc-sweep"].config["strategy_params"] == {"lc-sweep": {"temperature": 0.5}}
    assert stored["random"].config["strategy_params"] == {}
    assert stored["lc-sweep"].data["sessions"][0]["strategies"]["lc-sweep"]["params"] == {"temperature": 0.5}
    with pytest.raises(ValueError, match="strategy_params names method 'badge', which the sweep does not run"):
        SweepSpec(datasets=("synthetic",), methods=("random",), preset="ci",
                  overrides={"strategy_params": {"badge": {"k": 1}}})


# ----------------------------------------------------------------------------- scoring functions and the report
def test_a_scoring_function_can_keep_strategy_data(clean_registry):
    @register_strategy(name="with-data")
    def with_data(context):
        scores = torch.arange(context.candidates.numel(), dtype=torch.float32)
        return scores, {"mean_score": float(scores.mean()), "cycle": context.cycle}

    results = run_experiment(ci_config(methods=("with-data",), cycles=2, epochs=1, milestones=(1,)), progress=False)
    record = results.runs[0]["cycles"][0]
    assert record["strategy_data"] == {"mean_score": (record["candidate_count"] - 1) / 2, "cycle": 0}
    assert results.runs[0]["cycles"][-1]["strategy_data"] == {}  # the last cycle makes no query


def test_a_scoring_function_returning_something_else_is_one_line(clean_registry):
    register_strategy(lambda context: [0.0] * context.candidates.numel(), name="returns-a-list")
    with pytest.raises(SelectionError, match="method 'returns-a-list' returned list in cycle 0; it must return a "
                                             "tensor of scores"):
        run_experiment(ci_config(methods=("returns-a-list",), cycles=2), progress=False)


def test_a_partial_is_registered_with_its_functions_name_and_a_real_help_line(clean_registry):
    def tempered(context, temperature=1.0):
        """confidence at a temperature"""
        return torch.zeros(context.candidates.numel())

    strategy = register_strategy(functools.partial(tempered, temperature=2.0))
    assert strategy.name == "tempered" and strategy.help == "confidence at a temperature (temperature=2.0)"
    named = register_strategy(functools.partial(functools.partial(tempered), temperature=3.0), name="hot")
    assert named.help == "confidence at a temperature (temperature=3.0)"


def test_the_report_table_sizes_the_name_column_to_the_longest_name():
    def results(method):
        return Results({"format": "tavaal-nb/results", "version": 1, "config": {"dataset": "synthetic"},
                        "dataset": {"name": "synthetic"}, "sessions": [], "runs": [
                            {"method": method, "trial": 0, "initial_indices": [0], "finished": True,
                             "cycles": [{"cycle": 0, "labeled_size": 20, "test_accuracy": 50.0, "selected_indices": []}]}]})

    lines = accuracy_table([results("a-rather-long-plugin-name"), results("random")]).splitlines()
    ends = [line.index("20") + 2 if k == 0 else line.index("50.00") + 5 for k, line in enumerate(lines)]
    assert len(set(ends)) == 1  # the columns line up
    assert lines[0].startswith("method" + " " * (len("a-rather-long-plugin-name") - len("method")))



def test_results_pool_unless_a_method_ran_with_other_parameters():
    def results(method, params):
        return Results({"format": "tavaal-nb/results", "version": 1,
                        "config": {"dataset": "synthetic", "methods": [method], "strategy_params": params},
                        "dataset": {"name": "synthetic"}, "sessions": [], "runs": [
                            {"method": method, "trial": 0, "initial_indices": [0], "finished": True, "cycles": []}]})

    old = results("random", {})
    del old.config["strategy_params"]  # a file written before parameters existed
    warm, cold = results("lc", {"lc": {"temperature": 2.0}}), results("lc", {"lc": {"temperature": 0.5}})
    assert list(group_results([old, results("random", {}), warm]).values()) == [[old, ANY, warm]]
    groups = group_results([old, warm, cold])
    assert [len(members) for members in groups.values()] == [2, 1]
    assert any("lc.temperature=0.5" in label for label in groups)
