#!/usr/bin/env bash
# Whole-process peak memory of the benchmark model, per agent: the
# measurement behind the README's memory table (issue #13).
#
#   benches/memory.sh                      # 1,000,000 and 10,000,000 agents, 20 ticks
#   benches/memory.sh 100000000            # any agent counts
#   TICKS=60 EVENTS=1 benches/memory.sh    # more ticks; every transaction recorded
#
# Peak RSS is the child's ru_maxrss (KiB on Linux), from a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
ticks="${TICKS:-20}"
events=()
[ "${EVENTS:-0}" = 1 ] && events=(--events)
[ "$#" -gt 0 ] || set -- 1000000 10000000
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf '%12s %6s %7s %12s %10s %8s\n' agents ticks events "peak KiB" "B/agent" "wall s"
for agents in "$@"; do
    python3 - "$agents" "$ticks" "${EVENTS:-0}" target/release/tokensim run scenarios/market.toml \
        --set "populations.traders.count=$agents" --ticks "$ticks" "${events[@]}" -o "$out/run" --force <<'PY'
import resource, subprocess, sys, time
agents, ticks, events, *command = sys.argv[1:]
start = time.monotonic()
run = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
if run.returncode != 0:
    sys.exit(f"{' '.join(command)}: exit {run.returncode}\n{run.stderr}")
wall = time.monotonic() - start
kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{int(agents):12,} {ticks:>6} {'on' if events == '1' else 'off':>7} {kib:12,} {kib * 1024 / int(agents):10.1f} {wall:8.2f}")
PY
done
