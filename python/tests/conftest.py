"""Shared fixtures: the repository's scenarios, the installed `tokensim`
command, and a small curve scenario for Python behaviours."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tokensim

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

# A bonding curve with exponent 1 (reserve = slope/2 · S²), a treasury taking
# the entry tribute, and one population for the behaviour under test.
CURVE = """
name = "py_curve"
seed = 11
ticks = {ticks}
assets = ["DAI", "TKN"]
output = {{ events = true }}  # the tests check the transactions

[contracts.pool]
kind = "treasury"
asset = "DAI"

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
entry_tribute = 0.05
exit_tribute = 0.05
treasury = "pool"

[populations.x]
count = {count}
balances = {{ DAI = 1000.0, TKN = 10.0 }}

[populations.x.behaviours.{behaviour}]
{params}
"""


def curve(behaviour: str, count: int = 100, ticks: int = 10, params: str = "") -> str:
    """The curve scenario's text with population `x` carrying `behaviour`."""
    return CURVE.format(behaviour=behaviour, count=count, ticks=ticks, params=params)


@pytest.fixture
def registry():
    """Restores the Python behaviour registry after a test."""
    saved = dict(tokensim._BEHAVIOURS)
    yield tokensim._BEHAVIOURS
    tokensim._BEHAVIOURS.clear()
    tokensim._BEHAVIOURS.update(saved)


@pytest.fixture(scope="session")
def tokensim_cmd() -> str:
    """The `tokensim` command the package installed next to this Python."""
    exe = Path(sys.executable).parent / ("tokensim.exe" if os.name == "nt" else "tokensim")
    found = str(exe) if exe.exists() else shutil.which("tokensim")
    assert found, "pip install did not put `tokensim` on the PATH"
    return found


def run_cli(cmd: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the `tokensim` command; output captured as text."""
    return subprocess.run([cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=600)
