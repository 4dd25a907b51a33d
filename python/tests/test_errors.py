"""Errors are Python exceptions with the CLI's text and the location."""

from __future__ import annotations

import pytest

import tokensim
from conftest import SCENARIOS, run_cli


def test_scenario_error_is_located_like_the_cli(tmp_path, tokensim_cmd):
    text = (SCENARIOS / "market.toml").read_text()
    bad = text.replace('kind = "bonding_curve"', 'kind = "bonding_curv"', 1)
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    line = next(i for i, l in enumerate(bad.splitlines(), 1) if "bonding_curv\"" in l)
    with pytest.raises(tokensim.ScenarioError) as info:
        tokensim.run(path, quiet=True)
    e = info.value
    assert (e.file, e.line, e.path) == (str(path), line, "contracts.curve.kind")
    assert e.column == bad.splitlines()[line - 1].index("kind") + 1
    assert "unknown mechanism `bonding_curv`" in e.message and "bonding_curve" in e.message
    r = run_cli(tokensim_cmd, "validate", str(path))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {e}"


def test_bad_override_names_its_path():
    with pytest.raises(tokensim.ScenarioError) as info:
        tokensim.run(SCENARIOS / "market.toml", set={"contracts.curve.slopee": 1.0}, quiet=True)
    assert info.value.path == "contracts.curve.slopee"
    assert "expected one of" in info.value.message
    with pytest.raises(tokensim.ScenarioError, match="no `contracts.curvee`"):
        tokensim.Scenario.load(SCENARIOS / "market.toml").set("contracts.curvee.slope", 1.0)
    with pytest.raises(TypeError, match="cannot put a"):
        tokensim.Scenario.load(SCENARIOS / "market.toml").set("ticks", object())


def test_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(tokensim.ScenarioError) as info:
        tokensim.Scenario.from_toml("ticks = = 3", path="x.toml")
    assert info.value.file == "x.toml" and info.value.line == 1
    with pytest.raises(tokensim.TokensimError, match="nope.toml"):
        tokensim.Scenario.load(tmp_path / "nope.toml")


def test_jobs_zero_is_an_error():
    with pytest.raises(ValueError, match="jobs"):
        tokensim.run(SCENARIOS / "market.toml", jobs=0, ticks=1, quiet=True)
