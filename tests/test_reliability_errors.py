"""Nothing lost, nothing injected, part 2 (issue 19): one clean error for every bad file or value.

Each test feeds one bad input (a results document with a section of the wrong type, a corrupt Fashion-MNIST
file, a plug-in that does not import, an infinite number, a results path that is a directory or a symlink loop,
a gallery index out of range, ...) and checks that it is refused with one line (or one exception) that names the
file, field or flag and what is valid, and that nothing was rewritten. The ``ci`` preset on the synthetic set.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ci_config
from test_reliability import no_training
from test_reliability import one_error_line as shared_one_error_line

import tavaal_nb.cli as cli_module
from tavaal_nb.cli import main
from tavaal_nb.data.datasets import load_dataset
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.loop import open_results
from tavaal_nb.results import Results, ResultsFileError
from tavaal_nb.strategies import registry
from tavaal_nb.upper_bound import find_upper_bound

CI = ["--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--no-progress"]
SMALL = ["--method", "random", "--cycles", "2", "--epochs", "1", "--milestones", "1"]


def one_error_line(err: str) -> str:
    """One ``error:`` message (test_reliability's check), and only one."""
    assert shared_one_error_line(err).count("error: ") == 1, err
    return err


# ------------------------------------------------------------------ 8. sections of the wrong type


def _set(document: dict, where: str, value) -> None:
    """Set the field at ``where`` (``runs[0].cycles[1].x``, ``dataset``, ...) of a results document."""
    parts = where.replace("]", "").replace("[", ".").split(".")
    target = document
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value


WRONG_TYPES = [
    ("dataset", "x", "'dataset' must be an object, got str"),
    ("config", [], "'config' must be an object, got an empty list"),
    ("sessions", "x", "'sessions' must be a list of sessions, got str"),
    ("dataset.class_counts", "many", "dataset.class_counts must be a list of counts, got str"),
    ("dataset.name", 3, "dataset.name must be a dataset name, got int"),
    ("runs", {"a": 1}, "'runs' must be a list of runs, got object"),
    ("runs[0]", "x", "runs[0] (run 0) must be an object, got str"),
    ("runs[0].initial_indices", [], "runs[0].initial_indices (random, trial 0) must be a non-empty list of pool "
                                    "indices, got an empty list"),
    ("runs[0].finished", "yes", "runs[0].finished (random, trial 0) must be true or false, got str"),
    ("runs[0].cycles", {"0": {}}, "runs[0].cycles (random, trial 0) must be a list of cycle records, got object"),
    ("runs[0].cycles[1]", "x", "runs[0].cycles[1] (random, trial 0) must be an object, got str"),
    ("runs[0].cycles[1].candidate_scores", [0.5, "high"],
     "runs[0].cycles[1].candidate_scores (random, trial 0) must be a list of numbers or null, got a list holding"),
    ("runs[0].cycles[0].selected_class_counts", "x",
     "runs[0].cycles[0].selected_class_counts (random, trial 0) must be a list of counts or null, got str"),
    ("runs[0].cycles[0].selected_class_entropy", "low",
     "runs[0].cycles[0].selected_class_entropy (random, trial 0) must be a number or null, got str"),
    ("runs[0].cycles[0].train_loss", "x", "train_loss (random, trial 0) must be a list of numbers or null, got str"),
    ("runs[0].cycles[0].timings_s", [], "timings_s (random, trial 0) must be an object or null"),
    ("runs[0].cycles[0].labeled_class_counts", {"a": 1},
     "labeled_class_counts (random, trial 0) must be a list of counts or null, got object"),
    ("runs[0].cycles[0].candidate_scores", "x",
     "runs[0].cycles[0].candidate_scores (random, trial 0) must be a list of numbers or null, got str"),
    ("runs[0].cycles[0].strategy_data", [], "runs[0].cycles[0].strategy_data (random, trial 0) must be an object"),
]
# The VAAL family's strategy_data keys are checked by its own rules, on its runs only:
# tests/test_reliability_records.py::test_a_strategys_data_is_checked_on_load_by_that_strategys_rules


@pytest.mark.parametrize(("where", "value", "named"), WRONG_TYPES, ids=[w for w, _, _ in WRONG_TYPES])
def test_a_section_of_the_wrong_type_is_refused_on_load_naming_its_path(run_copy, where, value, named):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    _set(document, where, value)
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    with pytest.raises(ResultsFileError) as info:
        Results.load(path)
    assert str(path) in str(info.value) and named in str(info.value) and "left untouched" in str(info.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize(("where", "value"), [("dataset", "x"), ("runs[0].cycles[1].candidate_scores", "x"),
                                              ("runs[0].cycles[0].selected_class_counts", "x")])
def test_report_html_refuses_a_wrong_type_with_one_line(run_copy, tmp_path, capsys, where, value):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    _set(document, where, value)
    path.write_text(json.dumps(document))
    code = main(["report", str(run_copy), "--html", str(tmp_path / "report.html")])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and str(path) in err and where.split(".")[-1] in err
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("content", [
    '{"format": "tavaal-nb/upper-bound", "version": 1, "dataset": "synthetic", "preset": "ci", "train_size": 400, '
    '"accuracies": "high", "seeds": [0]}',
    '{"format": "tavaal-nb/upper-bound", "version": 1, "dataset": "synthetic", "preset": "ci", "train_size": 400, '
    '"accuracies": [], "seeds": []}',
    '{"format": "tavaal-nb/upper-bound", "version": 1, "dataset": "synthetic"}',
    "{not json",
], ids=["accuracies-str", "accuracies-empty", "fields-missing", "not-json"])
def test_a_malformed_upper_bound_is_named_in_a_warning_and_skipped(run_copy, capsys, content):
    bound = run_copy / "upper_bound.json"
    bound.write_text(content)
    results = Results.load(run_copy)
    assert find_upper_bound([results]) is None
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("warning: ") and str(bound) in err and "not drawn" in err
    assert bound.read_text() == content


# ------------------------------------------------------------------ 9. corrupt Fashion-MNIST files


def idx_bytes(array: np.ndarray, magic: bytes | None = None) -> bytes:
    header = (magic or bytes([0, 0, 0x08, array.ndim])) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def fashion_files(root: Path, corrupt: str) -> tuple[Path, str]:
    """The four files in the layout the loader reads (root/FashionMNIST/raw/<name>.gz), one made bad as
    ``corrupt`` says; returns the bad file and a word its error must contain."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {FILES[0]: rng.integers(0, 256, size=(12, 28, 28)), FILES[1]: np.arange(12) % 10,
              FILES[2]: rng.integers(0, 256, size=(4, 28, 28)), FILES[3]: np.array([0, 9, 3, 4])}
    contents = {stem: idx_bytes(array) for stem, array in arrays.items()}
    bad, word = FILES[0], ""
    if corrupt == "truncated-gzip":
        packed = gzip.compress(contents[bad])
        (raw / f"{bad}.gz").write_bytes(packed[: len(packed) // 2])
        word = "truncated"
    elif corrupt == "not-gzip":
        (raw / f"{bad}.gz").write_bytes(b"this is not gzip at all, nor IDX" * 40)
        word = "not a gzip file"
    elif corrupt == "short-idx":
        (raw / f"{bad}.gz").write_bytes(gzip.compress(contents[bad][:-100]))
        word = "truncated"
    elif corrupt == "no-dimensions":
        (raw / f"{bad}.gz").write_bytes(gzip.compress(idx_bytes(arrays[bad], magic=b"\x00\x00\x08\x00")))
        word = "magic number"
    elif corrupt == "header-cut":
        (raw / f"{bad}.gz").write_bytes(gzip.compress(contents[bad][:9]))
        word = "header"
    elif corrupt == "labels-10":
        bad = FILES[3]
        (raw / f"{bad}.gz").write_bytes(gzip.compress(idx_bytes(np.array([0, 10, 3, 4]))))
        word = "label 10"
    elif corrupt == "counts-disagree":
        bad = FILES[1]
        (raw / f"{bad}.gz").write_bytes(gzip.compress(idx_bytes(np.arange(11) % 10)))
        word = "11 labels"
    for stem, content in contents.items():
        if not (raw / f"{stem}.gz").exists():
            (raw / f"{stem}.gz").write_bytes(gzip.compress(content))
    return raw / f"{bad}.gz", word


CORRUPTIONS = ["truncated-gzip", "not-gzip", "short-idx", "no-dimensions", "header-cut", "labels-10",
               "counts-disagree"]


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_a_corrupt_fashion_mnist_file_is_named_with_what_is_wrong(tmp_path, corrupt):
    bad, word = fashion_files(tmp_path, corrupt)
    with pytest.raises(ValueError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(bad) in message and word in message and "\n" not in message


@pytest.mark.parametrize("corrupt", ["truncated-gzip", "not-gzip", "labels-10"])
def test_the_cli_names_a_corrupt_fashion_mnist_file_in_one_line(tmp_path, capsys, monkeypatch, corrupt):
    no_training(monkeypatch)
    bad, word = fashion_files(tmp_path / "data", corrupt)
    code = main(["run", "--preset", "ci", "--dataset", "fashion-mnist", "--device", "cpu", "--no-progress",
                 "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"), *SMALL])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and str(bad) in err and word in err


# ------------------------------------------------------------------ 10. plug-ins that fail to import


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    """An empty current folder that is not on the Python path; the plug-ins' names and exports are undone after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.setenv(registry.PLUGINS_ENV, "")
    monkeypatch.setattr(registry, "_LOADED_PLUGINS", set())  # each test's plug-ins are new to the registry
    modules = set(sys.modules)
    methods = set(registry.strategy_names())
    yield tmp_path
    for name in set(registry.strategy_names()) - methods:
        registry.unregister_strategy(name)
    for name in set(sys.modules) - modules:
        if "plug" in name:
            del sys.modules[name]


@pytest.mark.parametrize(("source", "named"), [
    ("def score(context:\n", "SyntaxError"),
    ("RATE = 1 / 0\n", "ZeroDivisionError"),
    ("import tavaal_nb_no_such_module_here\n", "No module named 'tavaal_nb_no_such_module_here'"),
], ids=["syntax", "zero-division", "missing-module"])
@pytest.mark.parametrize("form", ["file", "module"])
def test_a_plugin_that_fails_to_import_is_one_line_naming_it(plugin_folder, monkeypatch, capsys, source, named, form):
    (plugin_folder / "brokenplug.py").write_text(source)
    if form == "module":
        monkeypatch.syspath_prepend(str(plugin_folder))
    spec = "./brokenplug.py" if form == "file" else "brokenplug"
    code = main(["methods", "--plugin", spec])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and f"plugin {spec!r}" in err and named in err
    # not left half-imported: the fixed file loads
    (plugin_folder / "brokenplug.py").write_text("X = 1\n")
    assert main(["methods", "--plugin", spec]) == 0


def test_a_module_name_that_is_a_file_here_hints_at_the_file_form(plugin_folder, capsys):
    (plugin_folder / "hereplug.py").write_text("X = 1\n")
    code = main(["methods", "--plugin", "hereplug"])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "'hereplug'" in err and "--plugin ./hereplug.py" in err


PLUGIN = """
import torch
from tavaal_nb.strategies import register_strategy

@register_strategy(name="twice-given", prefer="highest")
def twice_given(context):
    return torch.zeros(len(context.candidates))
"""


@pytest.mark.parametrize("order", ["module-then-file", "file-then-module", "linked-module-then-file"])
def test_the_same_file_as_module_and_as_path_is_loaded_once(plugin_folder, monkeypatch, capsys, order):
    (plugin_folder / "twiceplug.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(plugin_folder))
    specs = ["twiceplug", str(plugin_folder / "twiceplug.py")]
    if order == "file-then-module":
        specs.reverse()
    if order == "linked-module-then-file":  # a module imported through a link of another name is that file too
        (plugin_folder / "linkedplug.py").symlink_to(plugin_folder / "twiceplug.py")
        specs[0] = "linkedplug"
    code = main(["methods", "--plugin", specs[0], "--plugin", specs[1]])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err and "error" not in err, err
    assert out.count("twice-given") == 1


# ------------------------------------------------------------------ 11. infinite values, none, empty --out


@pytest.mark.parametrize(("flag", "value", "field"), [
    ("--lr", "inf", "lr"), ("--momentum", "inf", "momentum"), ("--ranker-weight", "inf", "ranker_weight"),
    ("--weight-decay", "1e309", "weight_decay"), ("--vae-epochs", "inf", "vae_epochs"),
    ("--vae-epochs", "1e30", "vae_epochs"), ("--disc-lr", "inf", "disc_lr"), ("--kl-weight", "inf", "kl_weight"),
])
def test_an_infinite_value_is_refused_like_nan(tmp_path, capsys, monkeypatch, flag, value, field):
    no_training(monkeypatch)
    code = main(["run", *CI, *SMALL, "--out", str(tmp_path / "out"), flag, value])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and field in err and ("finite" in err or "at most" in err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--vae-iterations", "--train-limit"])
def test_none_for_a_preset_number_is_refused_not_dropped(tmp_path, capsys, monkeypatch, flag):
    no_training(monkeypatch)
    code = main(["run", *CI, *SMALL, "--out", str(tmp_path / "out"), flag, "none"])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and f"{flag} none" in err and "leave" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["run", "sweep", "upper-bound"])
def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch, command):
    no_training(monkeypatch)
    monkeypatch.chdir(tmp_path)
    extra = {"run": [*CI, *SMALL], "sweep": ["--datasets", "synthetic", "--methods", "random", "--preset", "ci"],
             "upper-bound": ["--preset", "ci", "--dataset", "synthetic"]}[command]
    code = main([command, *extra, "--out", ""])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "--out" in err and "''" in err
    assert list(tmp_path.iterdir()) == []


def test_a_non_utf8_out_is_refused_naming_it(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9")
    code = main(["run", *CI, *SMALL, "--out", out])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "--out" in err and "caf\\xe9" in err and "UTF-8" in err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ 12. odd results paths, temporaries, signals


def test_a_results_json_that_is_a_directory_is_named(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)
    (tmp_path / "out" / "results.json").mkdir(parents=True)
    for extra in ([], ["--resume"]):
        code = main(["run", *CI, *SMALL, "--out", str(tmp_path / "out"), *extra])
        err = one_error_line(capsys.readouterr().err)
        assert code == 2 and f"{tmp_path / 'out' / 'results.json'} is a directory" in err
    code = main(["report", str(tmp_path / "out")])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "is a directory" in err
    assert (tmp_path / "out" / "results.json").is_dir()


def test_a_results_json_that_is_a_symlink_loop_is_named(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "results.json"
    link.symlink_to(link)
    for extra in ([], ["--resume"], ["--overwrite"]):
        code = main(["run", *CI, *SMALL, "--out", str(tmp_path / "out"), *extra])
        err = one_error_line(capsys.readouterr().err)
        assert code == 2 and f"{link} is a symlink loop" in err
    with pytest.raises(ResultsFileError, match="symlink loop"):
        Results.load(link)
    assert link.is_symlink() and os.readlink(link) == str(link)


def test_a_deeply_nested_results_file_is_one_line(run_copy, capsys, monkeypatch):
    no_training(monkeypatch)
    path = run_copy / "results.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    before = path.read_bytes()
    with pytest.raises(ResultsFileError, match="too deeply"):
        Results.load(path)
    code = main(["run", *CI, *SMALL, "--out", str(run_copy), "--resume"])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and str(path) in err and "too deeply" in err
    assert path.read_bytes() == before


def test_orphan_temporaries_of_killed_saves_are_removed_when_a_run_opens_its_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    orphans = [out / ".results.json.k1l2x9.tmp", out / ".results.json.a_b-c.tmp"]
    for orphan in orphans:
        orphan.write_text('{"torn": ')
    kept = [out / "notes.tmp", out / ".sweep.json.abc.tmp", out / "results.json.replaced-20260101-000000"]
    for other in kept:
        other.write_text("x")
    config = ci_config(methods=("random",), cycles=2, epochs=1, milestones=(1,))
    results = open_results(config, prepare_data(config), out, resume=False, overwrite=False)
    assert results.path == out / "results.json"
    assert not any(orphan.exists() for orphan in orphans)
    assert all(other.read_text() == "x" for other in kept)


def test_a_second_interrupt_during_shutdown_prints_no_traceback(monkeypatch):
    """The first Ctrl-C stops the command; a second one while it says so (or saves) is ignored."""
    if sys.platform == "win32":
        pytest.skip("POSIX signals")

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt()
    monkeypatch.setattr(cli_module, "load_plugins", interrupted)

    class InterruptedWhileWriting(io.StringIO):
        sent = False

        def write(self, text):
            if not self.sent:  # a second Ctrl-C arrives while the shutdown message is written
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)
            return super().write(text)

    stderr = InterruptedWhileWriting()
    monkeypatch.setattr(sys, "stderr", stderr)
    before = signal.getsignal(signal.SIGINT)
    try:
        code = main(["methods"])
    except KeyboardInterrupt:
        pytest.fail("the second SIGINT escaped main() as a KeyboardInterrupt (a traceback on the terminal)")
    assert stderr.sent and code == 128 + signal.SIGINT
    assert stderr.getvalue().startswith("interrupted") and "Traceback" not in stderr.getvalue()
    assert signal.getsignal(signal.SIGINT) is before  # restored for whoever called main()


# ------------------------------------------------------------------ 13. every gallery index checked


@pytest.fixture
def pool():
    return torch.zeros(60, 3, 8, 8, dtype=torch.uint8), torch.arange(60) % 10


@pytest.mark.parametrize(("indices", "named"), [
    ([*range(45), 60], "index 60 (at position 45) is outside the 60 images"),
    ([*range(41), 1000, 7], "index 1000 (at position 41)"),
    ([3, -1], "index -1 (at position 1)"),
    ([*range(50), 2.5], "indices must be integers"),
    ([1.0, 2.0], "indices must be integers"),
    (["3"], "indices must be integers"),
    (torch.tensor([*range(50), 99]), "index 99 (at position 50)"),
    (torch.tensor([0.0, 1.5]), "indices must be integers"),
    ("12", "indices must be a sequence of integers"),
], ids=["past-40", "past-40-large", "negative", "float-past-40", "whole-floats", "string-item", "tensor",
        "float-tensor", "string"])
def test_the_gallery_checks_every_index(pool, indices, named):
    from tavaal_nb.classroom.widgets.gallery import SelectionGallery

    images, labels = pool
    with pytest.raises(ValueError, match="indices|index") as info:
        SelectionGallery(images, labels, indices=indices)
    assert named in str(info.value)


def test_the_gallery_takes_more_than_40_good_indices(pool):
    from tavaal_nb.classroom.widgets.gallery import SelectionGallery

    images, labels = pool
    gallery = SelectionGallery(images, labels, indices=np.arange(55))
    assert gallery.indices == list(range(55)) and len(gallery.shown) == 40
