"""The notebook API end to end: what `tokensim.run` returns equals what the
`tokensim` command writes, byte for byte."""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest

import tokensim
from conftest import SCENARIOS, run_cli

MARKET = SCENARIOS / "market.toml"
SETS = {"contracts.curve.entry_tribute": 0.1, "populations.traders.count": 300, "output.events": True}


def set_args(sets: dict) -> list[str]:
    """`--set PATH=VALUE` arguments for the CLI, values written as TOML."""
    args = []
    for k, v in sets.items():
        args += ["--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    return args


def parquet_files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("*.parquet"))}


def test_tokensim_command_is_installed(tokensim_cmd):
    r = run_cli(tokensim_cmd, "--version")
    assert r.returncode == 0 and r.stdout.startswith("tokensim ")


def test_run_equals_cli_byte_for_byte(tmp_path, tokensim_cmd):
    cli_dir, api_dir = tmp_path / "cli", tmp_path / "api"
    args = ["run", str(MARKET), "-o", str(cli_dir), "--runs", "3", "--seed", "1", "--ticks", "40", "--jobs", "2", "-q"]
    args += set_args(SETS)
    r = run_cli(tokensim_cmd, *args)
    assert r.returncode == 0, r.stderr
    res = tokensim.run(MARKET, set=SETS, runs=3, seed=1, ticks=40, jobs=2, out=api_dir, quiet=True)
    cli_files, api_files = parquet_files(cli_dir), parquet_files(api_dir)
    assert set(cli_files) == set(api_files) and any(n.startswith("ticks") for n in cli_files)
    for name in cli_files:
        assert cli_files[name] == api_files[name], name
    # The frames are the files' contents, every row and column.
    for table in ("runs", "ticks", "events"):
        on_disk = pl.concat([pl.read_parquet(p) for p in sorted(cli_dir.glob(f"{table}*.parquet"))])
        assert res.table(table).equals(on_disk), table
    assert res.runs.height == 3
    assert res.ticks.height == 3 * 40
    assert res.ticks.join(res.runs, on="run_id").height == 3 * 40
    assert res.manifest["runs"] == 3 and res.manifest["seed"] == 1
    assert res.agents is None and res.violations is None
    # market.toml declares properties: one verdict per run and property.
    with open(MARKET, "rb") as f:
        declared = list(tomllib.load(f).get("properties", {}))
    if declared:
        props = res.properties
        assert props.height == 3 * len(declared)
        assert sorted(set(props["property"].to_list())) == sorted(declared)
        assert (props["held"] == (props["margin"] >= 0)).all()


def test_load_existing_directory(tmp_path):
    out = tmp_path / "r"
    a = tokensim.run(MARKET, set=SETS, ticks=5, out=out, quiet=True)
    b = tokensim.load(out)
    assert b.ticks.equals(a.ticks) and b.events.equals(a.events)
    assert "ticks" in b.tables
    with pytest.raises(tokensim.TokensimError, match="not a tokensim dataset"):
        tokensim.load(tmp_path)


def test_tables_cross_through_the_arrow_stream_interface(tmp_path):
    out = tmp_path / "r"
    tokensim.run(MARKET, set=SETS, ticks=3, out=out, quiet=True)
    stream = tokensim._tokensim.read_table(str(out), "ticks")
    assert hasattr(stream, "__arrow_c_stream__")
    df = pl.DataFrame(stream)
    assert df.columns[:2] == ["run_id", "tick"] and df.height == 3
    with pytest.raises(RuntimeError, match="consumed"):
        stream.__arrow_c_stream__()


def test_scenario_objects(tmp_path):
    sc = tokensim.Scenario.load(MARKET).set("populations.traders.count", 200).set("ticks", 4)
    assert sc.ticks == 4 and sc.name == "market"
    a = tokensim.run(sc, quiet=True, events=True)
    text = tokensim.Scenario.from_toml(sc.to_toml())
    b = tokensim.run(text, quiet=True)
    with open(MARKET, "rb") as f:
        d = tomllib.load(f)
    d["ticks"] = 4
    d["populations"]["traders"]["count"] = 200
    c = tokensim.run(tokensim.Scenario.from_dict(d), quiet=True, events=True)
    assert a.ticks.equals(b.ticks) and a.ticks.equals(c.ticks)
    assert a.events.height > 0 and a.events.equals(c.events)
    assert b.events is None, "the events table is opt-in"


def test_out_none_is_a_temporary_directory():
    res = tokensim.run(MARKET, set=SETS, ticks=2, quiet=True)
    d = res.dir
    assert d.is_dir() and (d / "manifest.json").exists()
    del res
    import gc

    gc.collect()
    assert not d.exists()


def test_existing_results_need_force(tmp_path):
    out = tmp_path / "r"
    tokensim.run(MARKET, set=SETS, ticks=2, out=out, quiet=True)
    with pytest.raises(tokensim.TokensimError, match="already holds results"):
        tokensim.run(MARKET, set=SETS, ticks=2, out=out, quiet=True)
    tokensim.run(MARKET, set=SETS, ticks=2, out=out, quiet=True, force=True)


def test_pandas_and_report(tmp_path):
    res = tokensim.run(MARKET, set=SETS, ticks=5, runs=2, out=tmp_path / "r", quiet=True)
    pd_ticks = res.to_pandas("ticks")
    assert list(pd_ticks.columns) == res.ticks.columns and len(pd_ticks) == 10
    html = res.report(tmp_path / "report.html")
    assert html.exists() and "report-data" in html.read_text()


def test_progress_callback_counts_every_tick(tmp_path, monkeypatch):
    seen = []

    class Spy(tokensim._progress.Progress):
        def __init__(self, quiet):
            super().__init__(quiet)
            self.enabled = False

        def start(self, total_ticks, total_runs):
            seen.append(("start", total_ticks, total_runs))

        def update(self, ticks, runs):
            seen.append((ticks, runs))

    monkeypatch.setattr(tokensim, "Progress", Spy)
    tokensim.run(MARKET, set=SETS, ticks=7, runs=3, out=tmp_path / "r")
    assert seen[0] == ("start", 21, 3)
    assert seen[-1] == (21, 3)


def test_a_failed_gate_is_a_warning_with_the_cli_exit_4(tmp_path, tokensim_cmd):
    with open(MARKET, "rb") as f:
        props = list(tomllib.load(f).get("properties", {}))
    if "staking_adopted" not in props:
        pytest.skip("market.toml declares no staking_adopted property")
    sets = {**SETS, "properties.staking_adopted.max_failure_rate": 0.05}
    args = ["run", str(MARKET), "-o", str(tmp_path / "cli"), "--ticks", "20", "--runs", "2", "-q"]
    args += set_args(sets)
    r = run_cli(tokensim_cmd, *args)
    assert r.returncode == 4, r.stderr
    with pytest.warns(UserWarning, match="property `staking_adopted` is not shown safe"):
        res = tokensim.run(MARKET, set=sets, ticks=20, runs=2, out=tmp_path / "api", quiet=True)
    assert [g["property"] for g in res.gate_failures] == ["staking_adopted"]
    assert res.properties.filter(pl.col("property") == "staking_adopted")["held"].sum() == 0


def test_numpy_values_override_like_python_ones():
    import numpy as np

    a = tokensim.Scenario.load(MARKET).set("populations.traders.count", np.int64(250)).set("ticks", np.uint32(3))
    b = tokensim.Scenario.load(MARKET).set("populations.traders.count", 250).set("ticks", 3)
    assert a.to_toml() == b.to_toml()
    c = tokensim.Scenario.load(MARKET).set("contracts.curve.entry_tribute", np.float32(0.25))
    assert c.to_toml() == tokensim.Scenario.load(MARKET).set("contracts.curve.entry_tribute", 0.25).to_toml()
