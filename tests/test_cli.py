"""The command line, called in-process through ``tavaal_nb.cli.main``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import ALL_METHODS, CI_BUDGET, CI_CYCLES, CI_INITIAL, DATASET_NAMES, PRESET_NAMES

from tavaal_nb.cli import main
from tavaal_nb.strategies import PLUGINS_ENV, registry, strategy_names, unregister_strategy


def first_words(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "command,names", [("datasets", DATASET_NAMES), ("methods", list(ALL_METHODS)), ("presets", PRESET_NAMES)]
)
def test_lists_name_every_choice(capsys, command, names):
    assert main([command]) == 0
    out = capsys.readouterr().out
    assert sorted(first_words(out)) == sorted(names)
    for line in out.splitlines():
        assert len(line.split()) > 1, f"no help text on {line!r}"


@pytest.fixture(scope="module")
def cli_run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli") / "run"


def run_args(out, *extra):
    return ["run", "--preset", "ci", "--dataset", "synthetic", "--method", "random,entropy", "--device", "cpu",
            "--epochs", "1", "--milestones", "1", "--no-progress", "--out", str(out), *extra]


def test_run_writes_results(capsys, cli_run_dir):
    assert main(run_args(cli_run_dir)) == 0
    out = capsys.readouterr().out
    assert "preset ci" in out and "results:" in out
    stored = json.loads((cli_run_dir / "results.json").read_text())
    assert stored["config"]["methods"] == ["random", "entropy"] and stored["config"]["preset"] == "ci"
    assert [len(run["cycles"]) for run in stored["runs"]] == [CI_CYCLES, CI_CYCLES]
    # the accuracy table has one column per labeled size: 20, 40, 60
    sizes = [CI_INITIAL + CI_BUDGET * c for c in range(CI_CYCLES)]
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert [int(v) for v in header.split()[1:]] == sizes


def test_second_run_into_the_same_dir_is_refused(capsys, cli_run_dir):
    before = (cli_run_dir / "results.json").read_bytes()
    assert main(run_args(cli_run_dir)) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "error" in err
    assert (cli_run_dir / "results.json").read_bytes() == before
    assert main(run_args(cli_run_dir, "--resume")) == 0  # a finished run: nothing left to do


def test_resume_with_other_settings_names_them(capsys, cli_run_dir):
    assert main(run_args(cli_run_dir, "--resume", "--budget", "10")) == 2
    assert "budget" in capsys.readouterr().err


def test_report_writes_html(capsys, cli_run_dir, synthetic_run, tmp_path):
    _, all_methods_dir = synthetic_run
    html = tmp_path / "report.html"
    assert main(["report", str(cli_run_dir), str(all_methods_dir), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "report:" in out
    page = html.read_text()
    assert page.lower().startswith("<!doctype html")
    assert "plotly" in page.lower()
    for method in ALL_METHODS:
        assert method in out
    # an existing report is kept unless --overwrite
    assert main(["report", str(cli_run_dir), "--html", str(html)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["report", str(cli_run_dir), "--html", str(html), "--overwrite"]) == 0


def test_report_on_a_missing_directory(capsys, tmp_path):
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    assert "nothing-here" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_prints_the_three_phases(capsys, tmp_path):
    figures = tmp_path / "bench.json"
    assert main(["bench", "--preset", "ci", "--device", "cpu", "--steps", "1", "--json", str(figures)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.search(r"\d+\.\d+\s+(images/s|iterations/s)", line)]
    assert len(rows) == 3
    assert any("task training" in row for row in rows)
    assert any("VAE" in row and "discriminator" in row for row in rows)
    assert any("scoring" in row for row in rows)
    for row in rows:
        rate = float(re.search(r"(\d+\.\d+)\s+(images/s|iterations/s)", row).group(1))
        assert rate > 0
    stored = json.loads(figures.read_text())
    assert len(stored["rows"]) == 3 and stored["meta"]["steps"] == 1 and stored["meta"]["device"] == "cpu"


@pytest.mark.parametrize(
    "args,words",
    [
        (["--method", "bald"], ["bald", "tavaal", "random"]),
        (["--dataset", "mnist"], ["mnist", "cifar10"]),
        (["--subset", "5"], ["subset"]),
        (["--cycles", "40"], ["40 cycles"]),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, tmp_path, args, words):
    argv = ["run", "--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--no-progress",
            "--out", str(tmp_path / "bad"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:")
    for word in words:
        assert word in err
    assert not (tmp_path / "bad" / "results.json").exists()


def test_unparseable_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--preset", "ci", "--out", "x", "--budget", "many"])
    assert info.value.code == 2
    assert "budget" in capsys.readouterr().err


PLUGIN = str(Path(__file__).resolve().parents[1] / "docs" / "examples" / "least_confidence.py")


@pytest.fixture
def clean_plugins(monkeypatch):
    """Forget what --plugin registered and exported, before the test (an earlier test file may have loaded
    the same plug-in) and after it, so other tests see the built-ins only."""
    monkeypatch.setenv(PLUGINS_ENV, "")  # restored (removed) afterwards, whatever --plugin exported

    def forget_plugins() -> None:
        for name in set(strategy_names()) - set(registry.BUILTIN_METHODS):
            unregister_strategy(name)
        registry._LOADED_PLUGINS.clear()
        sys.modules.pop("tavaal_nb_plugin_least_confidence", None)

    forget_plugins()
    yield
    forget_plugins()


@pytest.mark.slow
def test_plugin_flag_makes_a_method_nameable_in_a_sweep_worker(capsys, tmp_path, clean_plugins):
    assert main(["methods", "--plugin", PLUGIN]) == 0
    assert "least-confidence" in first_words(capsys.readouterr().out)
    out = tmp_path / "sweep"
    # two local worker processes: the plug-in reaches them through TAVAAL_PLUGINS
    code = main(["sweep", "--plugin", PLUGIN, "--preset", "ci", "--datasets", "synthetic", "--methods", "least-confidence",
                 "--trials", "2", "--workers", "2", "--quiet", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    for trial in (0, 1):
        run = json.loads((out / "synthetic" / "least-confidence" / f"trial-{trial}" / "results.json").read_text())["runs"][0]
        assert run["method"] == "least-confidence" and len(run["cycles"]) == CI_CYCLES


def test_unknown_plugin_is_one_error_line(capsys, tmp_path, clean_plugins):
    assert main(["methods", "--plugin", "no_such_module_xyz"]) == 2
    assert "no_such_module_xyz" in capsys.readouterr().err


# ------------------------------------------------------------------ boolean flags and renamed flags
@pytest.mark.parametrize("flag", ["--retrain-plain", "--allow-tf32", "--compile"])
@pytest.mark.parametrize("argv,value", [([], None), (["{flag}"], True), (["--no-{bare}"], False),
                                        (["{flag}", "true"], True), (["{flag}", "false"], False),
                                        (["{flag}", "0"], False)])
def test_boolean_flags_read_like_flags_and_still_take_true_or_false(flag, argv, value):
    from tavaal_nb.cli import build_parser

    argv = [a.format(flag=flag, bare=flag[2:]) for a in argv]
    for command in (["run", "--out", "x"], ["sweep", "--out", "x"], ["upper-bound", "--dataset", "synthetic",
                                                                       "--out", "x"]):
        if flag == "--retrain-plain" and command[0] == "upper-bound":
            continue  # upper-bound trains the plain model only: no flag
        args = build_parser().parse_args([*command, *argv])
        assert getattr(args, flag[2:].replace("-", "_")) is value, (command, argv)


def test_every_boolean_config_field_has_both_flag_forms():
    import dataclasses
    import typing

    from tavaal_nb.cli import build_parser
    from tavaal_nb.config import Config

    booleans = [f.name for f in dataclasses.fields(Config) if typing.get_type_hints(Config)[f.name] is bool]
    assert booleans, "Config has boolean fields"
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for name in booleans:
        flag = "--" + name.replace("_", "-")
        assert f"{flag} [true|false]" in help_text and f"--no-{flag[2:]} " in help_text, name


def test_a_boolean_flag_with_another_word_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--preset", "ci", "--out", "x", "--retrain-plain", "maybe"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == ("python -m tavaal_nb run: error: argument --retrain-plain: expected true or false (or the flag "
                    "alone for true, its --no- form for false), got 'maybe'")


def test_the_old_margin_flag_still_works_with_one_warning_line(capsys, tmp_path):
    argv = ["run", "--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--no-progress", "--method", "lloss",
            "--cycles", "1", "--epochs", "1", "--milestones", "1"]
    assert main([*argv, "--margin", "0.5", "--out", str(tmp_path / "old")]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "margin" in line]
    assert warnings == ["warning: the setting 'margin' is now called 'ranker_margin' (--ranker-margin on the command "
                        "line); 'margin' is read as 'ranker_margin' for now and will stop working in a later version"]
    assert main([*argv, "--ranker-margin", "0.5", "--out", str(tmp_path / "new")]) == 0
    assert "margin" not in capsys.readouterr().err
    old, new = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("old", "new"))
    assert old["config"]["ranker_margin"] == new["config"]["ranker_margin"] == 0.5
    assert [r["test_accuracy"] for r in old["runs"][0]["cycles"]] == \
        [r["test_accuracy"] for r in new["runs"][0]["cycles"]]
    assert main([*argv, "--margin", "0.5", "--ranker-margin", "0.5", "--out", str(tmp_path / "both")]) == 2
    assert "'margin' and 'ranker_margin' are both given" in capsys.readouterr().err
