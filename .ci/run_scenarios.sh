#!/usr/bin/env bash
# Runs every shipped scenario in scenarios/ in full with the given binary and
# checks each one finished cleanly: exit 0 (exit 3 means an invariant broke:
# conservation, non-negativity or a mechanism's own), a manifest, no
# violations file, and a ticks table. Prints `N passed, M failed` last.
#
#   bash .ci/run_scenarios.sh target/debug/tokensim
set -uo pipefail

bin=${1:?usage: run_scenarios.sh TOKENSIM_BINARY}
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tokensim-scenarios.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

passed=0
failed=0
for scenario in "$root"/scenarios/*.toml; do
    name=$(basename "$scenario" .toml)
    out=$work/$name
    start=$(date +%s)
    if "$bin" run "$scenario" -o "$out" --quiet >"$work/$name.log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    secs=$(($(date +%s) - start))
    problems=()
    ((rc == 0)) || problems+=("exit $rc")
    compgen -G "$out/manifest*.json" >/dev/null || problems+=("no manifest")
    compgen -G "$out/ticks*.parquet" >/dev/null || problems+=("no ticks table")
    ! compgen -G "$out/violations*.parquet" >/dev/null || problems+=("violations recorded")
    if ((${#problems[@]} == 0)); then
        printf 'ok    %-22s %4ss\n' "$name" "$secs"
        passed=$((passed + 1))
    else
        printf 'FAIL  %-22s %4ss  %s\n' "$name" "$secs" "${problems[*]}"
        sed 's/^/      /' "$work/$name.log" | tail -20
        failed=$((failed + 1))
    fi
done
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
