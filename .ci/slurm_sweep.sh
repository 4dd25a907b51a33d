#!/usr/bin/env bash
# Integration test of deploy/slurm/sweep.sbatch on a one-node Slurm cluster
# started on this machine (see shared/notes/slurm-single-node.md):
#
#   CI=true bash .ci/slurm_sweep.sh [TOKENSIM_BIN]
#
# TOKENSIM_BIN defaults to target/debug/tokensim; a relative path is taken
# from the repository root. Target time: well under 2 minutes once the binary
# is built (measured: ~11 s with the packages installed, ~21 s from nothing).
#
# Needs root (apt-get, daemons). Steps, each timed:
#   1. install slurmctld slurmd slurm-client munge (skipped if present), and a
#      Python with polars if $PYTHON (default python3) has none
#   2. write slurm.conf and start slurmctld + slurmd (+ munged if auth/none is
#      not available) under $SLURM_CI_DIR (default /tmp/slurm-ci); wait for idle
#   3. A: the whole sweep, unsharded, run directly
#   4. B: `sbatch --array=0-2 deploy/slurm/sweep.sbatch` into ONE shared directory;
#      every task's exit code and every shard's manifest checked, then
#      .ci/compare_datasets.py A B (row for row)
#   5. C: the same 3 shards run directly into separate directories C0 C1 C2,
#      copied together, compared with A
#   6. resume: shard 1 of B deleted and re-submitted alone with
#      TOKENSIM_SHARDS=3 --array=1 ... --resume; compared with A again
#   7. guard: an array that is not 0-based (--array=1-3) must fail in every task
#
# Closes with `slurm_sweep: N passed, M failed`; exit 1 on any failure (results
# and logs then stay in $SLURM_CI_DIR for inspection). A trap
# stops the daemons this script started (by PID from its own pid files,
# checking their command line) on success, failure or interrupt.
#
# Environment:
#   PYTHON            interpreter with polars >= 1.43 (default python3; if it has no
#                     such polars, the polars line of .ci/requirements.txt is
#                     installed into $SLURM_CI_DIR/venv, which later runs reuse)
#   SLURM_CI_DIR      config, state, logs and results (default /tmp/slurm-ci; its
#                     state, spool, log and work are wiped at each start; one run
#                     at a time per directory, by a lock on $SLURM_CI_DIR/.lock)
#   SLURM_CI_AUTH     none | munge (default: none if the plugin exists, else munge)
#   SLURM_CI_KEEP     1: keep $SLURM_CI_DIR/work (results) after success
#   SLURM_SWEEP_SHARD_ARGS  extra tokensim args, whitespace-separated, given to the
#                     Slurm shards only (to test the failure path, e.g. a bad --set)
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"
exec </dev/null

bin=${1:-target/debug/tokensim}
[[ $bin == /* ]] || bin=$root/$bin
py=${PYTHON:-python3}
dir=${SLURM_CI_DIR:-/tmp/slurm-ci}
conf=$dir/slurm.conf
work=$dir/work
shards=3
all_shards=()
for ((k = 0; k < shards; k++)); do all_shards+=("$k"); done
read -ra shard_args <<<"${SLURM_SWEEP_SHARD_ARGS:-}"

# The sweep: market.toml with a 4-point sweep × 2 variants × 2 replicates = 16
# runs (3 shards of 6, 5, 5 runs), small populations, per-agent snapshots.
sweep_values='[0.0, 0.01, 0.05, 0.1]'
expect_plan='4 points × 2 variants × 1 replicates'
expect_runs=16
args=(--set populations.traders.count=300 --ticks 30 --runs 2 --set snapshot_every=10)

# --- bookkeeping -------------------------------------------------------------

run_start=$(date +%s%N)
current=""
step_start=0
timings=()
passed=0
failed=0
started=0

since() {
    local ms=$((($(date +%s%N) - $1) / 1000000))
    printf '%d.%d' "$((ms / 1000))" "$((ms % 1000 / 100))"
}

begin() {
    current=$1
    printf '\n==> %s\n' "$current"
    step_start=$(date +%s%N)
}

end() {
    local secs
    secs=$(since "$step_start")
    timings+=("$(printf '%8ss  %s' "$secs" "$current")")
    printf '<== %s: ok in %ss\n' "$current" "$secs"
    current=""
}

ok() {
    passed=$((passed + 1))
    printf 'ok    %s\n' "$*"
}

# A failed check: counted, and the script stops (the trap reports and cleans up).
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$*" >&2
    exit 1
}

die() {
    printf 'slurm_sweep: error: %s\n' "$*" >&2
    exit 2
}

# --- daemons -------------------------------------------------------------------

# Our own pid files (the daemons run in the foreground as children of this
# script), separate from the pid files the daemons write themselves.
pidfile() { printf '%s/run/%s.ci.pid' "$dir" "$1"; }

# The PID in NAME's pid file if that process is still ours: alive and started
# with a command line naming $dir.
our_pid() {
    local f pid cmd
    f=$(pidfile "$1")
    [[ -s $f ]] || return 1
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # (No `| grep -q` here or below: with pipefail, the writer's SIGPIPE would
    # make a match look like a miss.)
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$dir"* ]] || return 1
    printf '%s' "$pid"
}

start_daemon() {
    local name=$1
    shift
    "$@" >>"$dir/log/$name.out" 2>&1 9>&- &
    printf '%s\n' "$!" >"$(pidfile "$name")"
    started=1
    # Until the forked shell has exec'd the daemon, its command line is this
    # script's, and our_pid would not recognise it.
    for _ in $(seq 100); do
        our_pid "$name" >/dev/null && return 0
        kill -0 "$!" 2>/dev/null || die "$name exited at once: $(tail -n 5 "$dir/log/$name.out")"
        sleep 0.05
    done
    die "$name (pid $!) did not start within 5 s"
}

# SIGTERM to each named daemon that is ours, then SIGKILL after 10 s.
stop_daemons() {
    local name pid pids=() names=() i
    for name in "$@"; do
        if pid=$(our_pid "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
        fi
        rm -f -- "$(pidfile "$name")"
    done
    for i in "${!pids[@]}"; do
        for _ in $(seq 100); do
            kill -0 "${pids[$i]}" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "slurm_sweep: ${names[$i]} (pid ${pids[$i]}) ignored SIGTERM for 10 s; SIGKILL" >&2
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
        # Reap it if it is our child (it is not, if a previous run started it).
        wait "${pids[$i]}" 2>/dev/null || true
    done
}

# Live processes of this cluster that outlived the daemons: Slurm and munge
# processes, and tokensim, whose environment names our slurm.conf (a task's
# slurmstepd and its children inherit it from slurmd).
leftovers() {
    local p comm env
    for p in /proc/[0-9]*; do
        [[ ${p#/proc/} == "$$" || ${p#/proc/} == "$BASHPID" ]] && continue
        read -r comm 2>/dev/null <"$p/comm" || continue
        case $comm in slurm* | munged | tokensim) ;; *) continue ;; esac
        [[ $(awk '{print $3}' "$p/stat" 2>/dev/null) == Z ]] && continue
        env=$(tr '\0' '\n' <"$p/environ" 2>/dev/null) || continue
        [[ $'\n'$env$'\n' == *$'\n'"SLURM_CONF=$conf"$'\n'* ]] && printf '%s ' "${p#/proc/}"
    done
    return 0
}

stop_all() {
    if [[ -f $conf ]] && our_pid slurmctld >/dev/null; then
        SLURM_CONF=$conf timeout 10 scancel --quiet --user=root 2>/dev/null || true
        # Let slurmd reap the cancelled steps before it goes.
        for _ in $(seq 50); do
            [[ -z $(SLURM_CONF=$conf timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.1
        done
    fi
    stop_daemons slurmd slurmctld
    stop_daemons munged
    local left=""
    for _ in $(seq 50); do
        left=$(leftovers)
        [[ -z $left ]] && return 0
        sleep 0.1
    done
    echo "slurm_sweep: processes left after the daemons stopped, terminating them:" >&2
    # shellcheck disable=SC2086 # a list of PIDs
    ps -o pid,ppid,stat,etime,args -p "${left// /,}" >&2 || true
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
}

show_logs() {
    local f
    for f in "$dir"/log/*.log "$dir"/log/*.out "$work"/slurm-*.out; do
        [[ -s $f ]] || continue
        # A daemon's .out repeats its .log (-D logs to both).
        [[ $f == *.out && -s ${f%.out}.log ]] && continue
        printf '\n--- tail of %s\n' "$f" >&2
        tail -n 15 -- "$f" >&2
    done
}

print_timings() {
    printf '\n==> step timings\n'
    if ((${#timings[@]})); then
        printf '%s\n' "${timings[@]}"
    fi
    printf '%8ss  total\n' "$(since "$run_start")"
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if ((rc != 0)); then
        [[ -n $current ]] && printf '\n!! FAILED: %s (exit %d after %ss)\n' "$current" "$rc" "$(since "$step_start")" >&2
        show_logs
    fi
    if ((started)); then
        local t
        t=$(date +%s%N)
        stop_all
        timings+=("$(printf '%8ss  %s' "$(since "$t")" "stop daemons")")
        printf '\n==> daemons stopped\n'
    fi
    if ((rc == 0)) && [[ ${SLURM_CI_KEEP:-0} != 1 ]]; then
        rm -rf -- "$work"
    fi
    print_timings
    ((rc == 0 && failed == 0)) || { ((failed)) || failed=1; }
    printf 'slurm_sweep: %d passed, %d failed\n' "$passed" "$failed"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 0. preconditions ------------------------------------------------------------

begin "preconditions"
[[ -x $bin ]] || die "$bin is not an executable (build it first: cargo build)"
[[ $(id -u) == 0 ]] || die "must run as root (apt-get install, Slurm daemons as SlurmUser=root)"
"$bin" --version
[[ -f scenarios/market.toml && -f deploy/slurm/sweep.sbatch && -f .ci/compare_datasets.py ]] ||
    die "run from a tokensim checkout (scenarios/, deploy/, .ci/ missing)"
mkdir -p -- "$dir/run" "$dir/log"
# One run at a time per $dir: a second one would stop the first one's daemons.
# (fd 9 is closed for the daemons, so the lock dies with this script.)
exec 9>"$dir/.lock"
flock -w 120 9 || die "another .ci/slurm_sweep.sh has held $dir/.lock for 120 s"
# A previous run that died without its trap (SIGKILL) may have left daemons.
stop_all
end

# --- 1. packages ----------------------------------------------------------------

begin "install slurm packages"
packages=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
    [[ $(dpkg-query -W -f '${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >"$dir/log/apt.out" 2>&1 ||
        { tail -n 30 "$dir/log/apt.out" >&2; die "apt-get install failed"; }
else
    echo "already installed: ${packages[*]}"
fi
for c in slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    command -v "$c" >/dev/null || die "$c not found after install"
done
# Never call a Slurm client before the config exists (a missing SLURM_CONF
# costs 60 s of retries): read the version from dpkg.
echo "slurm $(dpkg-query -W -f '${Version}' slurmctld)"
end

begin "python with polars"
polars_req=$(grep -E '^polars' .ci/requirements.txt | head -n 1 || true)
polars_req=${polars_req:-polars>=1.43}
has_polars() {
    "$1" - "$polars_req" <<'EOF' 2>/dev/null
import sys
import polars
need = sys.argv[1].split(">=")[1].strip() if ">=" in sys.argv[1] else "0"
have = tuple(int(x) for x in polars.__version__.split(".")[:2])
sys.exit(0 if have >= tuple(int(x) for x in need.split(".")[:2]) else 1)
EOF
}
if ! has_polars "$py"; then
    echo "$py has no $polars_req: using a venv in $dir/venv"
    if ! has_polars "$dir/venv/bin/python"; then
        rm -rf -- "$dir/venv"
        python3 -m venv "$dir/venv"
        "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$polars_req"
    fi
    py=$dir/venv/bin/python
fi
"$py" -c 'import polars, sys; print(sys.executable, "polars", polars.__version__)'
end

# --- 2. cluster ------------------------------------------------------------------

begin "start slurm (slurmctld + slurmd)"
rm -rf -- "$dir/state" "$dir/spool" "$dir/log" "$work" "$dir/munge"
mkdir -p -- "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$work"

auth=${SLURM_CI_AUTH:-}
if [[ -z $auth ]]; then
    if [[ $(dpkg -L slurm-wlm-basic-plugins 2>/dev/null) == *"/auth_none.so"* ]]; then
        auth=none
    else
        auth=munge
    fi
fi
case $auth in
none) auth_conf=$'AuthType=auth/none\nCredType=cred/none' ;;
munge)
    command -v munged >/dev/null || die "munged not found"
    mkdir -p -- "$dir/munge"
    chmod 711 -- "$dir/munge" # the socket's directory must be traversable by all
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 -- "$dir/munge/munge.key"
    start_daemon munged munged --foreground --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
    for _ in $(seq 100); do
        [[ -S $dir/munge/munge.socket ]] && break
        our_pid munged >/dev/null || die "munged exited: $(tail -n 5 "$dir/log/munged.log" "$dir/log/munged.out" 2>/dev/null)"
        sleep 0.1
    done
    [[ -S $dir/munge/munge.socket ]] || die "munged did not create its socket in 10 s"
    auth_conf="AuthType=auth/munge"$'\n'"CredType=cred/munge"$'\n'"AuthInfo=socket=$dir/munge/munge.socket"
    ;;
*) die "SLURM_CI_AUTH must be none or munge, not '$auth'" ;;
esac
echo "auth: $auth"

cpus=$(nproc)
# RealMemory: 90% of what slurmd -C reports (it defaults to 1 MB otherwise).
# slurmd -C reads no config; keep SLURM_CONF away from it anyway.
mem=$(env -u SLURM_CONF timeout 20 slurmd -C 2>/dev/null | grep -o 'RealMemory=[0-9]*' | cut -d= -f2 || true)
if [[ -z $mem ]]; then
    mem=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
fi
mem=$((mem * 9 / 10))

cat >"$conf" <<EOF
# Written by .ci/slurm_sweep.sh: a one-node cluster, everything under $dir.
ClusterName=ci
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
$auth_conf
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
# CPUs only: with memory as a consumable resource, each task would claim the
# whole node by default and the array would run one task at a time.
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf

start_daemon slurmctld slurmctld -D -i -f "$conf"
start_daemon slurmd slurmd -D -N localhost -f "$conf"

state=""
for _ in $(seq 300); do
    our_pid slurmctld >/dev/null || die "slurmctld exited"
    our_pid slurmd >/dev/null || die "slurmd exited"
    state=$(timeout 5 sinfo -h -N -n localhost -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.1
done
[[ $state == idle ]] || die "node localhost not idle after 30 s (state '$state')"
sinfo -N -o '%N %t %c %m'
end

# --- 3. A: unsharded -------------------------------------------------------------

begin "A: whole sweep, unsharded"
scn=$work/sweep.toml
{
    cat scenarios/market.toml
    printf '\n# Added by .ci/slurm_sweep.sh\n[sweep]\n"contracts.curve.entry_tribute" = %s\n' "$sweep_values"
    printf '\n[variants.base]\n\n[variants.no_exit_fee]\n"contracts.curve.exit_tribute" = 0.0\n'
} >"$scn"
plan=$("$bin" validate "$scn")
echo "$plan"
[[ $plan == *"$expect_plan"* ]] || fail "validate: expected ($expect_plan), got: $plan"
"$bin" run "$scn" -o "$work/A" --quiet "${args[@]}"
total=$("$py" -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m["status"], m["total_runs"])' "$work/A/manifest.json")
[[ $total == "complete $expect_runs" ]] || fail "A: manifest says '$total', expected 'complete $expect_runs'"
ok "A: $expect_runs runs, manifest complete"
end

# --- 4. B: Slurm array into one shared directory ---------------------------------

# Submits an array and waits for it by polling squeue (sbatch --wait polls at
# 2, 10, 42 s...). Prints the job id.
submit() {
    local out
    out=$(sbatch --parsable --cpus-per-task=1 --output="$work/slurm-%A_%a.out" "$@") ||
        fail "sbatch $* refused"
    printf '%s' "${out%%;*}"
}

wait_job() {
    local id=$1 limit=$2 q t0=$SECONDS
    while :; do
        q=$(timeout 10 squeue -h -j "$id" -o %i 2>&1) || fail "squeue -j $id failed: $q"
        [[ -z $q ]] && return 0
        ((SECONDS - t0 < limit)) || fail "job $id not finished after ${limit}s: $(squeue -j "$id" 2>&1)"
        sleep 0.25
    done
}

# Every task's record: "task state exit" lines, sorted by task.
job_tasks() {
    scontrol show job -o "$1" |
        sed -nE 's/.*ArrayTaskId=([0-9]+) .*JobState=([A-Z_]+) .*ExitCode=([0-9]+:[0-9]+).*/\1 \2 \3/p' |
        sort -n
}

# check_manifests DIR K...: shard K's manifest in DIR exists and is complete.
check_manifests() {
    local d=$1 k m
    shift
    for k in "$@"; do
        m=$d/manifest-s${k}of${shards}.json
        [[ -f $m ]] || fail "$m missing: shard $k did not finish"
        "$py" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])).get("status") != "complete")' "$m" ||
            fail "$m: status is not complete"
    done
    ok "$d: manifest(s) of shard(s) $* present and complete"
}

compare() {
    "$py" .ci/compare_datasets.py "$1" "$2" || fail "compare_datasets $1 $2"
    ok "compare_datasets $1 $2"
}

begin "B: sbatch --array=0-$((shards - 1)) into one directory"
id=$(TOKENSIM=$bin submit --array=0-$((shards - 1)) deploy/slurm/sweep.sbatch \
    "$scn" "$work/B" "${args[@]}" "${shard_args[@]}")
echo "job $id submitted"
wait_job "$id" 300
tasks=$(job_tasks "$id")
printf '%s\n' "$tasks"
expected=$(for k in "${all_shards[@]}"; do echo "$k COMPLETED 0:0"; done)
[[ $tasks == "$expected" ]] || fail "job $id: tasks did not all complete with exit 0"
ok "job $id: $shards tasks COMPLETED, exit 0"
check_manifests "$work/B" "${all_shards[@]}"
compare "$work/A" "$work/B"
end

# --- 5. C: shards run directly into separate directories --------------------------

begin "C: $shards shards run directly into separate directories"
mkdir -p -- "$work/C"
for k in "${all_shards[@]}"; do
    "$bin" run "$scn" -o "$work/C$k" --shard "$k/$shards" --quiet "${args[@]}"
    check_manifests "$work/C$k" "$k"
    for f in "$work/C$k"/*; do
        [[ -e $work/C/${f##*/} ]] && fail "C$k: ${f##*/} also written by another shard"
        cp -- "$f" "$work/C/"
    done
done
compare "$work/A" "$work/C"
end

# --- 6. resume: one shard re-submitted alone ------------------------------------------

begin "resume: shard 1 deleted from B, re-submitted with --array=1 --resume"
rm -f -- "$work/B"/*-s1of${shards}[.-]*
[[ ! -e $work/B/manifest-s1of${shards}.json ]] || fail "shard 1 not deleted"
id=$(TOKENSIM=$bin TOKENSIM_SHARDS=$shards submit --array=1 deploy/slurm/sweep.sbatch \
    "$scn" "$work/B" "${args[@]}" "${shard_args[@]}" --resume)
echo "job $id submitted"
wait_job "$id" 300
tasks=$(job_tasks "$id")
printf '%s\n' "$tasks"
[[ $tasks == "1 COMPLETED 0:0" ]] || fail "job $id: task 1 did not complete with exit 0"
ok "job $id: task 1 COMPLETED, exit 0"
check_manifests "$work/B" "${all_shards[@]}"
compare "$work/A" "$work/B"
end

# --- 7. guard: arrays that are not 0..N-1 ---------------------------------------------

begin "guard: --array=1-$shards is refused by every task"
id=$(TOKENSIM=$bin submit --array=1-$shards deploy/slurm/sweep.sbatch "$scn" "$work/G" "${args[@]}")
wait_job "$id" 120
tasks=$(job_tasks "$id")
printf '%s\n' "$tasks"
expected=$(for ((k = 1; k <= shards; k++)); do echo "$k FAILED 2:0"; done)
[[ $tasks == "$expected" ]] || fail "job $id: expected every task to fail with exit 2"
[[ ! -e $work/G ]] || fail "job $id: a refused task wrote into $work/G"
grep -q 'must be 0-based and contiguous' "$work"/slurm-"$id"_1.out || fail "job $id: no explanation in the task's output"
ok "job $id: non-0-based array refused (exit 2, nothing written)"
end
