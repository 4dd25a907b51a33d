"""Behaviours written in Python: known decisions, closed-form results,
determinism at any `jobs`, located errors, the CLI, and the speed figure."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import tokensim
from conftest import curve, run_cli


def buy_every_tick(amount: float):
    def decide(agents: pl.DataFrame, market: tokensim.Market, rng: np.random.Generator) -> pl.DataFrame:
        return pl.DataFrame(
            {"agent_id": agents["agent_id"], "contract": "curve", "action": "buy", "amount": amount}
        )

    return decide


def noise(agents: pl.DataFrame, market: tokensim.Market, rng: np.random.Generator) -> pl.DataFrame:
    """Trades with probability p_trade: buys or sells, even odds, a uniform
    fraction in [0, max_fraction) of its DAI or TKN. Polars expressions."""
    u = rng.random((3, agents.height))
    buy = pl.col("u1") < 0.5
    return (
        agents.with_columns(u0=u[0], u1=u[1], u2=u[2])
        .filter(pl.col("u0") < pl.col("p_trade"))
        .select(
            "agent_id",
            contract=pl.lit("curve"),
            action=pl.when(buy).then(pl.lit("buy")).otherwise(pl.lit("sell")),
            amount=pl.when(buy).then(pl.col("dai")).otherwise(pl.col("tkn")) * pl.col("u2") * pl.col("max_fraction"),
        )
    )


def test_known_decisions_match_the_closed_form(registry):
    n, ticks, d, tribute, slope = 50, 8, 2.0, 0.05, 1e-6
    tokensim.behaviour("py_buyer")(buy_every_tick(d))
    res = tokensim.run(tokensim.Scenario.from_toml(curve("py_buyer", n, ticks)), quiet=True)
    ev = res.events
    # Every agent bought d every tick, in agent-id order within the tick.
    assert ev.height == n * ticks
    assert (ev["action"].cast(pl.Utf8) == "buy").all() and (ev["status"].cast(pl.Utf8) == "ok").all()
    assert ev["amount_in"].to_list() == [d] * (n * ticks)
    assert ev.filter(pl.col("tick") == 1)["agent_id"].to_list() == list(range(n))
    assert (ev.group_by("tick").len()["len"] == n).all()
    # reserve = slope/2 · S² after depositing (1 − tribute) of every buy.
    t = res.ticks.sort("tick")
    r0 = slope / 2 * 1e6**2
    for k, row in enumerate(t.iter_rows(named=True), start=1):
        reserve = r0 + (1 - tribute) * d * n * k
        assert math.isclose(row["curve_reserve"], reserve, rel_tol=1e-12)
        assert math.isclose(row["curve_supply"], math.sqrt(2 * reserve / slope), rel_tol=1e-12)
        assert math.isclose(row["pool_balance"], tribute * d * n * k, rel_tol=1e-12)
        assert row["n_tx"] == n and row["n_rejected"] == 0


def test_agents_frame_has_ids_wallet_slots_and_sampled_params(registry):
    frames: list[pl.DataFrame] = []
    markets: list[tuple[int, float, float]] = []

    @tokensim.behaviour("py_spy", params={"size": 1.0, "other": 3.0})
    def spy(agents, market, rng):
        frames.append(agents)
        markets.append((market.tick, market.price("curve"), market.balance("pool", "DAI")))
        return pl.DataFrame({"agent_id": agents["agent_id"], "contract": "curve", "action": "buy", "amount": agents["size"]})

    params = 'size = { dist = "uniform", low = 1.0, high = 2.0 }'
    tokensim.run(tokensim.Scenario.from_toml(curve("py_spy", 20, 3, params)), quiet=True)
    assert len(frames) == 3
    first = frames[0]
    assert first.columns == ["agent_id", "dai", "tkn", "size", "other"]
    assert first["agent_id"].to_list() == list(range(20))
    assert (first["dai"] == 1000.0).all() and (first["tkn"] == 10.0).all()
    assert first["size"].min() >= 1.0 and first["size"].max() < 2.0 and first["size"].n_unique() == 20
    assert (first["other"] == 3.0).all()
    # Parameters are sampled once; wallets are start-of-tick balances.
    assert frames[1]["size"].equals(first["size"])
    assert np.allclose(frames[1]["dai"].to_numpy(), 1000.0 - first["size"].to_numpy())
    # The market: tick from 1, the curve's spot price slope·S, the pool's balance.
    assert [m[0] for m in markets] == [1, 2, 3]
    assert math.isclose(markets[0][1], 1e-6 * 1e6) and markets[0][2] == 0.0
    assert math.isclose(markets[1][2], 0.05 * first["size"].sum(), rel_tol=1e-12)


def test_overdrafts_are_rejected_and_balances_conserved(registry):
    @tokensim.behaviour("py_greedy")
    def greedy(agents, market, rng):
        # Sells ten times its token balance: every sale must be rejected.
        return pl.DataFrame({"agent_id": agents["agent_id"], "contract": "curve", "action": "sell", "amount": agents["tkn"] * 10})

    res = tokensim.run(tokensim.Scenario.from_toml(curve("py_greedy", 30, 4)), quiet=True)
    assert (res.ticks["n_rejected"] == 30).all()
    assert res.violations is None
    assert (res.ticks["curve_supply"] == 1e6).all()


def test_deterministic_at_any_jobs(registry, tmp_path):
    tokensim.behaviour("py_noise", params={"p_trade": 0.3, "max_fraction": 0.2})(noise)
    sc = tokensim.Scenario.from_toml(curve("py_noise", 3000, 15, 'p_trade = { dist = "uniform", low = 0.1, high = 0.5 }'))
    outs = []
    for jobs in (1, 2, 2):
        out = tmp_path / f"j{jobs}-{len(outs)}"
        tokensim.run(sc, runs=4, jobs=jobs, out=out, quiet=True)
        outs.append({p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))})
    assert outs[0] == outs[1] == outs[2]
    res = tokensim.load(tmp_path / "j1-0")
    per_run = res.ticks.group_by("run_id").agg(pl.col("n_tx").sum()).sort("run_id")["n_tx"].to_list()
    assert len(set(per_run)) == 4, "replicates draw different numbers"
    assert res.ticks["n_tx"].sum() > 0


@pytest.mark.parametrize(
    "frame, message",
    [
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["buy"]}), "no `amount` column"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["buy"], "amount": [1.0], "x": [1]}), "unknown column `x`"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["buy"], "amount": ["1"]}), "column `amount` is"),
        (lambda a: pl.DataFrame({"agent_id": [0.5], "contract": ["curve"], "action": ["buy"], "amount": [1.0]}), "column `agent_id` is"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curv"], "action": ["buy"], "amount": [1.0]}), "unknown contract `curv`; contracts: pool, curve"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["stake"], "amount": [1.0]}), "`stake` is not accepted by contract `curve`; it accepts: buy, sell"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["bye"], "amount": [1.0]}), "unknown action `bye`"),
        (lambda a: pl.DataFrame({"agent_id": [99], "contract": ["curve"], "action": ["buy"], "amount": [1.0]}), "agent 99 is not in the population"),
        (lambda a: pl.DataFrame({"agent_id": [-1], "contract": ["curve"], "action": ["buy"], "amount": [1.0]}), "agent_id"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["buy"], "amount": [-1.0]}), "not a finite number >= 0"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": ["curve"], "action": ["buy"], "amount": [float("nan")]}), "not a finite number >= 0"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": pl.Series([None], dtype=pl.Utf8), "action": ["buy"], "amount": [1.0]}), "column `contract` has 1 null values"),
        (lambda a: pl.DataFrame({"agent_id": [0], "contract": [None], "action": ["buy"], "amount": [1.0]}), "unreadable frame"),
        (lambda a: {"agent_id": [0]}, "returned a dict, not a data frame"),
        (lambda a: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_bad_frames_are_behaviour_errors(registry, frame, message):
    @tokensim.behaviour("py_bad")
    def bad(agents, market, rng):
        if market.tick < 3:
            return agents.head(0).select(agent_id=pl.col("agent_id"))  # nothing to do yet
        return frame(agents)

    with pytest.raises(tokensim.BehaviourError) as info:
        tokensim.run(tokensim.Scenario.from_toml(curve("py_bad", 10, 5)), quiet=True)
    e = info.value
    assert (e.behaviour, e.population, e.tick) == ("py_bad", "x", 3)
    assert message in e.message, e.message
    assert str(e).startswith("behaviour `py_bad` of population `x` at tick 3: ")


def test_parameters_are_checked_where_the_scenario_sets_them(registry):
    tokensim.behaviour("py_noise", params={"p_trade": 0.3, "max_fraction": 0.2})(noise)
    with pytest.raises(tokensim.ScenarioError) as info:
        tokensim.run(tokensim.Scenario.from_toml(curve("py_noise", 10, 2, "p_trad = 0.1"), path="s.toml"), quiet=True)
    assert info.value.path == "populations.x.behaviours.py_noise.p_trad"
    assert info.value.line > 0 and "expected one of `p_trade`, `max_fraction`" in info.value.message
    with pytest.raises(tokensim.ScenarioError, match="unknown behaviour `py_nothing`"):
        tokensim.run(tokensim.Scenario.from_toml(curve("py_nothing", 10, 2)), quiet=True)


def test_names_and_defaults_are_checked(registry):
    with pytest.raises(ValueError, match="identifier"):
        tokensim.behaviour("no good")
    with pytest.raises(TypeError, match="number default"):
        tokensim.behaviour("py_x", params={"a": "b"})
    with pytest.raises(ValueError, match="finite"):
        tokensim.behaviour("py_x", params={"a": float("inf")})
    with pytest.raises(ValueError, match="other than agent_id"):
        tokensim.behaviour("py_x", params={"agent_id": 1.0})
    tokensim.behaviour("py_clash", params={"dai": 1.0})(noise)
    with pytest.raises(tokensim.ScenarioError, match="has the name of a wallet column"):
        tokensim.run(tokensim.Scenario.from_toml(curve("py_clash", 10, 2)), quiet=True)
    tokensim.behaviour("noise_trader")(noise)
    with pytest.raises(ValueError, match="name of a built-in behaviour"):
        tokensim.run(tokensim.Scenario.from_toml(curve("noise_trader", 10, 2)), quiet=True)


BEHAVIOURS_FILE = '''
import numpy as np
import polars as pl
import tokensim

@tokensim.behaviour("py_buyer", params={"amount": 2.0})
def buyer(agents, market, rng):
    """Buys `amount` every tick."""
    return pl.DataFrame({"agent_id": agents["agent_id"], "contract": "curve", "action": "buy", "amount": agents["amount"]})
'''


def test_cli_lists_and_runs_python_behaviours(registry, tmp_path, tokensim_cmd):
    (tmp_path / "mine.py").write_text(BEHAVIOURS_FILE)
    (tmp_path / "s.toml").write_text(curve("py_buyer", 25, 6))
    r = run_cli(tokensim_cmd, "--python", "mine.py", "list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "py_buyer — (Python) Buys `amount` every tick." in r.stdout and "noise_trader —" in r.stdout
    r = run_cli(tokensim_cmd, "run", "s.toml", "-o", "cli", "-q", "--python", "mine.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    exec(compile(BEHAVIOURS_FILE, "mine.py", "exec"), {})
    tokensim.run(tmp_path / "s.toml", out=tmp_path / "api", quiet=True)
    for p in sorted((tmp_path / "cli").glob("*.parquet")):
        assert p.read_bytes() == (tmp_path / "api" / p.name).read_bytes(), p.name
    r = run_cli(tokensim_cmd, "run", "s.toml", "-o", "x", "-q", cwd=tmp_path)
    assert r.returncode == 2 and "unknown behaviour `py_buyer`" in r.stderr


def test_speed_of_a_python_noise_trader(registry, tmp_path):
    """100,000 agents × 365 ticks; prints agent-ticks/s (not asserted)."""
    tokensim.behaviour("py_noise", params={"p_trade": 0.1, "max_fraction": 0.2})(noise)
    text = curve("py_noise", 100_000, 365, 'p_trade = { dist = "uniform", low = 0.05, high = 0.15 }')
    text = text.replace("output = { events = true }", "output = { events = false }")
    sc = tokensim.Scenario.from_toml(text)
    start = time.perf_counter()
    res = tokensim.run(sc, out=tmp_path / "speed", quiet=True)
    wall = time.perf_counter() - start
    assert res.ticks.height == 365 and res.ticks["n_tx"].sum() > 0
    rate = 100_000 * 365 / wall
    print(f"\nPython noise trader: 100,000 agents x 365 ticks in {wall:.2f} s = {rate / 1e6:.2f} M agent-ticks/s", file=sys.stderr)


def test_the_readme_behaviour_runs(registry):
    """The README's `dip_buyer` block, executed as written."""
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python")[1:]]
    block = next(b for b in blocks if '@tokensim.behaviour("dip_buyer"' in b)
    exec(compile(block, "README.md", "exec"), {})
    params = 'threshold = { dist = "uniform", low = 0.9, high = 1.1 }'
    res = tokensim.run(tokensim.Scenario.from_toml(curve("dip_buyer", 500, 10, params)), quiet=True)
    ev = res.events
    assert ev.height > 0 and (ev["action"].cast(pl.Utf8) == "buy").all()
    # Every buy spent fraction (0.1, the default) of the buyer's DAI at the time.
    first = ev.filter(pl.col("tick") == 1)
    assert (first["amount_in"] - 100.0).abs().max() < 1e-9
