"""The engine needs no plotting or widget library: ``run``, ``report`` (text), ``bench`` and ``upper-bound``
work where importing plotly, ipywidgets or anywidget fails (the GPU machine's Python had none of them)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow
def test_the_command_line_engine_runs_where_plotly_ipywidgets_and_anywidget_cannot_be_imported(tmp_path):
    script = textwrap.dedent("""
        import sys
        for name in ("plotly", "ipywidgets", "anywidget"):
            sys.modules[name] = None  # `import plotly` (and every plotly.x) now raises ImportError
        from tavaal_nb.cli import main
        common = ["--preset", "ci", "--dataset", "synthetic", "--device", "cpu"]
        codes = [
            main(["run", *common, "--method", "tavaal,random", "--out", "out"]),
            main(["report", "out"]),
            main(["upper-bound", *common, "--out", "ub"]),
            main(["bench", "--preset", "ci", "--device", "cpu", "--steps", "1"]),
        ]
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("plotly", "ipywidgets", "anywidget")
                        and sys.modules[m] is not None)
        print("CODES", codes, "LOADED", loaded)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "CODES [0, 0, 0, 0] LOADED []" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "out" / "results.json").is_file() and (tmp_path / "ub" / "upper_bound.json").is_file()


@pytest.mark.slow
def test_an_html_report_without_plotly_says_what_to_install(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.modules["plotly"] = None
        from tavaal_nb.cli import main
        main(["run", "--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--method", "random",
              "--cycles", "2", "--out", "out"])
        sys.exit(main(["report", "out", "--html", "out/report.html"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "error: the HTML report draws its figures with plotly, which is not installed here" in done.stderr
    assert not (tmp_path / "out" / "report.html").exists()
