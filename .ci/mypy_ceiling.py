"""mypy on the package with an error count that may only fall: ``make typecheck`` (and so .ci/run) runs this.

It runs ``python -m mypy tavaal_nb`` (settings: ``[tool.mypy]`` in pyproject.toml), counts the errors and
compares the count with ``mypy-error-ceiling`` under ``[tool.tavaal-nb.typecheck]``: more errors fail (exit 1,
the new ones are among those printed), fewer pass with a line asking to lower the ceiling to the new count.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mypy brings tomli there
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^Found (\d+) errors? in \d+ files?", re.M)


def ceiling(pyproject: Path = ROOT / "pyproject.toml") -> int:
    """The stored ceiling (an integer >= 0), or a ValueError saying where it belongs."""
    table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("tavaal-nb", {})
    value = table.get("typecheck", {}).get("mypy-error-ceiling")
    if type(value) is not int or value < 0:
        raise ValueError(f"{pyproject}: [tool.tavaal-nb.typecheck] mypy-error-ceiling must be an integer >= 0, "
                         f"got {value!r}")
    return value


def error_count(output: str) -> int:
    """The number of errors in mypy's output (0 for "Success: no issues found"); a ValueError when the output
    is neither (mypy failed to run)."""
    found = SUMMARY.search(output)
    if found:
        return int(found.group(1))
    if re.search(r"^Success: no issues found", output, re.M):
        return 0
    raise ValueError("mypy did not report a count (it failed to run?):\n" + output[-2000:])


def verdict(count: int, limit: int) -> tuple[bool, str]:
    """Whether ``count`` errors pass a ceiling of ``limit``, and the line that says so."""
    if count > limit:
        return False, (f"mypy: {count} errors, over the ceiling of {limit}: fix the {count - limit} new one(s) "
                       "(listed above)")
    if count < limit:
        return True, (f"mypy: {count} errors, under the ceiling of {limit}: lower mypy-error-ceiling in "
                      f"pyproject.toml to {count}")
    return True, f"mypy: {count} errors (the ceiling)"


def main() -> int:
    done = subprocess.run([sys.executable, "-m", "mypy", "tavaal_nb"], cwd=ROOT, capture_output=True, text=True)
    output = done.stdout + done.stderr
    try:
        passed, line = verdict(error_count(output), ceiling())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not passed:
        print(output, end="")
    print(line)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
