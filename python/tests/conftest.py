"""Shared fixtures: the command-line binary the package is checked against,
and the bundled sample."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "datasets" / "sample"


def binary() -> Path:
    """The `touchpath` binary of the same build as the package."""
    given = os.environ.get("TOUCHPATH_BIN")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "touchpath" / "target"))
    return target / "debug" / "touchpath"


@pytest.fixture(scope="session")
def cli():
    """Runs the command line; returns the completed process."""
    path = binary()
    if not path.is_file():
        pytest.fail(f"no touchpath binary at {path}: build it (cargo build) or set TOUCHPATH_BIN")

    def call(*arguments, check=True):
        process = subprocess.run([str(path), *map(str, arguments)], capture_output=True, text=True)
        if check and process.returncode != 0:
            raise AssertionError(f"touchpath {' '.join(map(str, arguments))}: {process.stderr}")
        return process

    return call


@pytest.fixture(scope="session")
def sample_report(cli, tmp_path_factory):
    """`touchpath run` on the bundled sample."""
    out = tmp_path_factory.mktemp("cli") / "report"
    cli("run", "--events", SAMPLE / "events.csv", "--spend", SAMPLE / "spend.csv", "--out", out, "--quiet")
    return out
