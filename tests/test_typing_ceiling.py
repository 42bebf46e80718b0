"""The mypy ceiling of .ci/mypy_ceiling.py (`make typecheck`): how it reads mypy's count and the stored ceiling,
and what passes. mypy itself runs in CI, not here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "mypy_ceiling.py"


@pytest.fixture(scope="module")
def ceiling_script():
    spec = importlib.util.spec_from_file_location("mypy_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_count_is_read_from_mypys_summary(ceiling_script):
    output = "tavaal_nb/a.py:1: error: x  [misc]\nFound 12 errors in 3 files (checked 108 source files)\n"
    assert ceiling_script.error_count(output) == 12
    assert ceiling_script.error_count("Found 1 error in 1 file (checked 2 source files)") == 1
    assert ceiling_script.error_count("Success: no issues found in 108 source files") == 0
    with pytest.raises(ValueError, match="did not report a count"):
        ceiling_script.error_count("mypy: can't read file 'tavaal_nb': No such file or directory")


def test_more_errors_than_the_ceiling_fail_and_fewer_ask_to_lower_it(ceiling_script):
    assert ceiling_script.verdict(88, 87) == (False, "mypy: 88 errors, over the ceiling of 87: fix the 1 new one(s) "
                                                     "(listed above)")
    passed, line = ceiling_script.verdict(80, 87)
    assert passed and "lower mypy-error-ceiling in pyproject.toml to 80" in line
    assert ceiling_script.verdict(87, 87)[0]


def test_the_ceiling_is_stored_in_pyproject_and_checked(ceiling_script, tmp_path):
    assert ceiling_script.ceiling() >= 0  # the repository's own
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[tool.tavaal-nb.typecheck]\nmypy-error-ceiling = "many"\n')
    with pytest.raises(ValueError, match="mypy-error-ceiling must be an integer >= 0, got 'many'"):
        ceiling_script.ceiling(bad)
