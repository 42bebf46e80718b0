"""benchmarks/gpu_session.sh in its dry-run mode on the CPU: the script a GPU session runs in one call.

The device tool brings back at most 8 files from $OUT, so whatever a mode writes is packed; this runs
`bench` at the ci preset with one timed step (no ablation, no matrix peak: compiling on a 2-core CPU
takes minutes) and checks what comes back, not how fast anything is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_session.sh"
MAX_FILES = 8  # what the device tool brings back from $OUT
FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_SKIP_REASON = f"needs the real Fashion-MNIST in {FASHION} (Debian's dataset-fashion-mnist)"


def session(tmp_path: Path, mode: str, **env: str) -> tuple[subprocess.CompletedProcess, list[Path]]:
    out = tmp_path / "out"
    variables = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "PRESET": "ci", "OUT": str(out),
                 "TMPDIR": str(tmp_path), **env}
    done = subprocess.run(["bash", str(SCRIPT), mode], env=variables, cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    return done, sorted(p for p in out.rglob("*") if p.is_file())


needs_coreutils = pytest.mark.skipif(shutil.which("timeout") is None or shutil.which("tar") is None,
                                     reason="needs coreutils and tar")


@pytest.mark.slow
@needs_coreutils
def test_bench_mode_dry_run_on_the_cpu_packs_everything_into_few_files(tmp_path):
    done, files = session(tmp_path, "bench", STEPS="1", GRAPHS="auto off", EPOCH_OVERHEAD="40,100", ABLATION_S="0",
                          PEAK_S="0")
    assert done.returncode == 0, done.stdout[-3000:]
    # no nvidia-smi here, so no nvidia-smi.csv: on a GPU it is the fourth file
    assert len(files) <= MAX_FILES and {f.name for f in files} == {"gpu.txt", "summary.txt", "bench.tar.gz"}
    gpu = (tmp_path / "out" / "gpu.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in gpu[:5]] == [f"import {m}" for m in ("torch", "torchvision", "PIL", "tqdm",
                                                                               "scipy")]
    summary = (tmp_path / "out" / "summary.txt").read_text()
    for name in ("graph-checks", "bench-ci-graphs-auto", "bench-ci-graphs-off", "concurrency"):
        assert f"=== {name}: exit 0" in summary, name
    assert summary.index("=== graph-checks: exit 0") < summary.index("=== bench-ci-graphs-auto: exit 0")  # first
    assert "graph checks: skipped (no CUDA device here)" in summary and "ablation-ci: skipped (limit 0)" in summary
    assert "host operator calls per step" in summary and "trials/h" in summary
    assert "public code's pipeline" in summary  # the first bench only
    assert "a task epoch at 40 labeled" in summary and "a task epoch at 100 labeled" in summary
    assert "rates are steady state" in summary
    table = summary[summary.index("##### graphs-on-vs-off"):]
    assert "| bench-ci-graphs-auto | False |" in table and "| bench-ci-graphs-off | False |" in table
    with tarfile.open(tmp_path / "out" / "bench.tar.gz") as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert {"bench-ci-graphs-auto.json", "bench-ci-graphs-off.json", "concurrency.json", "steps.txt",
            "graphs-on-vs-off.txt"} <= names
    assert not list(tmp_path.glob("gpu-session.*"))  # the scratch folder is gone


@pytest.mark.slow
@needs_coreutils
def test_every_step_is_limited_to_the_time_left_before_the_one_deadline(tmp_path):
    done, files = session(tmp_path, "bench", DEADLINE_S="40", RESERVE_S="0", CHECKS_S="600", BENCH_S="0",
                          CONCURRENCY_S="0", ABLATION_S="0", PEAK_S="0")
    assert done.returncode == 0, done.stdout[-3000:]
    limit, into = map(int, re.search(r"=== graph-checks \(limit (\d+)s, (\d+)s into the call\)", done.stdout).groups())
    assert limit + into == 40 and limit < 600
    done, files = session(tmp_path, "bench", DEADLINE_S="3", RESERVE_S="0")
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert done.returncode == 0 and len(files) <= MAX_FILES
    for name in ("graph-checks", "bench-ci-graphs-on", "concurrency", "ablation-ci", "matmul-peak"):
        assert re.search(rf"=== {name}: skipped \(-?\d+s left before the 3s deadline\)", summary), name


@pytest.mark.slow
def test_reproduce_mode_without_the_data_says_what_to_carry(tmp_path):
    done, files = session(tmp_path, "reproduce", DATA_DIR=str(tmp_path / "nothing"))
    assert done.returncode == 2
    assert f"no Fashion-MNIST under {tmp_path / 'nothing'}/FashionMNIST/raw/" in done.stdout
    assert len(files) <= MAX_FILES


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason=FASHION_SKIP_REASON)
def test_reproduce_mode_stops_itself_and_the_next_call_resumes(tmp_path):
    data = tmp_path / "fmnist" / "FashionMNIST" / "raw"
    data.mkdir(parents=True)
    for source in FASHION.glob("*.gz"):
        (data / source.name).symlink_to(source)
    results = tmp_path / "results"
    env = {"DATA_DIR": str(tmp_path / "fmnist"), "RESULTS_DIR": str(results), "METHODS": "random", "TRIALS": "2",
           "RUN_FLAGS": "--cycles 6 --train-limit 300 --test-limit 50", "BUDGET_S": "8"}
    first, files = session(tmp_path, "reproduce", **env)  # may or may not finish within its 8 s
    assert first.returncode == 0 and len(files) <= MAX_FILES, first.stdout[-3000:]
    for _ in range(10):  # each call continues where the last one stopped
        if "reproduce: finished" in (tmp_path / "out" / "reproduce.txt").read_text():
            break
        done, files = session(tmp_path, "reproduce", **dict(env, BUDGET_S="60"))
        assert done.returncode == 0 and len(files) <= MAX_FILES, done.stdout[-3000:]
    text = (tmp_path / "out" / "reproduce.txt").read_text()
    assert "reproduce: finished" in text
    assert {f.name for f in files} == {"gpu.txt", "reproduce.txt", "reproduce.tar.gz", "fashion-mnist-paper.json"}
    stored = json.loads((tmp_path / "out" / "fashion-mnist-paper.json").read_text())
    assert all(r["finished"] for r in stored["runs"])
    assert len(stored["runs"]) == 2 and all(len(r["cycles"]) == 6 for r in stored["runs"])
    with tarfile.open(tmp_path / "out" / "reproduce.tar.gz") as tar:
        assert any(n.endswith("results.json") for n in tar.getnames())
        assert not any(n.endswith(".tavaal-nb.lock") for n in tar.getnames())


@pytest.mark.slow
def test_an_unknown_mode_is_refused(tmp_path):
    done, _ = session(tmp_path, "benchmark")
    assert done.returncode == 2 and "usage:" in done.stdout and "bench|reproduce" in done.stdout
