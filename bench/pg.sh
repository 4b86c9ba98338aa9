#!/usr/bin/env bash
# The PostgreSQL proxy's cost, with pgbench on loopback against one throwaway PostgreSQL 15
# server (initdb in a temp dir), in ROUNDS rounds (3 unless set) of one run each:
#   direct      pgbench → postgres
#   holdpoint   pgbench → holdpoint serve ([[postgres]] block, vault credential) → postgres;
#               every statement classified and decided (decisions cached by statement shape)
#   pgbouncer   pgbench → pgbouncer (transaction pooling) → postgres
# for two workloads: `-S` (select only) and the default TPC-B-like script, each
# `-c 8 -j 2 -T 15` (CLIENTS, THREADS, DURATION override), simple query protocol (MODE=extended
# or prepared to change it). The three take turns going first from round to round. Prints each
# round's TPS and ratios, their medians, the median and range of the rounds' Holdpoint/pgbouncer
# ratios, then the CPU time per transaction over all rounds of Holdpoint (whole process, and its
# PostgreSQL proxy thread) and of pgbouncer, and the TCP segments each path sends per transaction.
# Needs PostgreSQL 15 server binaries and pgbench; installs pgbouncer when missing. Builds a
# release holdpoint (PROFILE=debug to use the debug build, BUILD=0 to use the one built, HOLDPOINT_BIN=PATH
# to use that binary).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS="${CLIENTS:-8}"
THREADS="${THREADS:-2}"
SECONDS_EACH="${DURATION:-15}"
MODE="${MODE:-simple}"
SCALE="${SCALE:-10}"
PROFILE="${PROFILE:-release}"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "bench/pg.sh needs PostgreSQL server binaries (apt-get install postgresql-15)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "bench/pg.sh needs pgbench (apt-get install postgresql-client-15)" >&2; exit 1; }
if ! command -v pgbouncer >/dev/null && ! [ -x /usr/sbin/pgbouncer ]; then
  apt-get install -y pgbouncer >&2 || { echo "bench/pg.sh needs pgbouncer: apt-get install pgbouncer" >&2; exit 1; }
fi
pgbouncer_bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

# BUILD=0 uses the binary already built; HOLDPOINT_BIN=PATH a given one (a copy, to compare two builds).
if [ -n "${HOLDPOINT_BIN:-}" ]; then
  bin="$HOLDPOINT_BIN"
elif [ "$PROFILE" = release ]; then
  [ "${BUILD:-1}" = 0 ] || cargo build --release --locked --bin holdpoint >&2
  bin="$PWD/target/release/holdpoint"
else
  [ "${BUILD:-1}" = 0 ] || cargo build --locked --bin holdpoint >&2
  bin="$PWD/target/debug/holdpoint"
fi

dir="$(mktemp -d)"
chmod 755 "$dir"
pids=()
# The server and pgbouncer refuse to run as root: as `postgres` when root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$dir/bouncer/pgbouncer.pid" ] && kill "$(cat "$dir/bouncer/pgbouncer.pid")" 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 never opened" >&2; tail -5 "$dir"/serve.log "$dir"/bouncer/*.log >&2 2>/dev/null; exit 1; }

pg=$(free_port); hp=$(free_port); hp_http=$(free_port); hp_api=$(free_port); bouncer=$(free_port)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg mkdir -p "$dir/data" "$dir/bouncer"
as_pg "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/bouncer/postgres.log" -w \
  -o "-p $pg -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off -c synchronous_commit=off" \
  start >/dev/null
psql_pg() { psql -X -q -h 127.0.0.1 -p "$pg" -U postgres "$@"; }
psql_pg -d postgres -c "CREATE ROLE bench LOGIN PASSWORD 'bench-upstream-pw'" -c "CREATE DATABASE bench OWNER bench"
pgbench -h 127.0.0.1 -p "$pg" -U bench -i -q -s "$SCALE" bench >/dev/null 2>&1

# pgbouncer, transaction pooling, to the same server.
cat > "$dir/bouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$pg dbname=bench user=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer
unix_socket_dir =
auth_type = trust
auth_file = $dir/bouncer/userlist.txt
pool_mode = transaction
default_pool_size = $CLIENTS
max_client_conn = 200
logfile = $dir/bouncer/pgbouncer.log
pidfile = $dir/bouncer/pgbouncer.pid
EOF
echo '"bench" ""' > "$dir/bouncer/userlist.txt"
[ "$(id -u)" = 0 ] && chown -R postgres "$dir/bouncer"
as_pg "$pgbouncer_bin" -q -d "$dir/bouncer/pgbouncer.ini"

# Holdpoint: a fresh home, the upstream credential in the vault.
export HOLDPOINT_HOME="$dir/home"
"$bin" init >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/vault.key"; echo >> "$dir/vault.key"
chmod 600 "$dir/vault.key"
export HOLDPOINT_VAULT_KEY_FILE="$dir/vault.key"
placeholder=$(printf 'bench:bench-upstream-pw' | "$bin" vault add bench-db --host 127.0.0.1 --kind postgres --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["placeholders"]["value"])')
cat > "$HOLDPOINT_HOME/config/config.toml" <<EOF
hold_wait = "0s"

[api]
listen = "127.0.0.1:$hp_api"

[proxy]
listen = "127.0.0.1:$hp_http"

[[postgres]]
name = "bench"
listen = "127.0.0.1:$hp"
upstream = "127.0.0.1:$pg"
database = "bench"
credential = "bench-db"
EOF
# A session of its own, as PostgreSQL's and pgbouncer's (and a service's): with the kernel's
# autogroup scheduling, a session shares the CPU with other sessions as one, so serve started in
# this script's session would share pgbench's portion while pgbouncer had one to itself.
setsid "$bin" serve 2>"$dir/serve.log" & pids+=($!)
serve_pid=$!
wait_port "$hp"; wait_port "$bouncer"

# One pgbench run: its TPS and the TCP segments sent per transaction meanwhile (OutSegs, all on
# loopback: the kernel's work for each path, whoever asks it).
out_segs() { awk '/^Tcp:/ { if (!seen++) { for (i = 1; i <= NF; i++) if ($i == "OutSegs") col = i } else print $col }' /proc/net/snmp; }
run() {
  local port=$1 user=$2 password=$3 segs out tps n; shift 3
  psql_pg -d bench -c "VACUUM ANALYZE" -c "TRUNCATE pgbench_history" >/dev/null
  segs=$(out_segs)
  out=$(PGPASSWORD="$password" pgbench -n -h 127.0.0.1 -p "$port" -U "$user" -M "$MODE" \
    -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_EACH" "$@" bench 2>"$dir/pgbench.err") || true
  segs=$(( $(out_segs) - segs ))
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -1)
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  if [ -n "$tps" ] && [ "${n:-0}" != 0 ]; then echo "$tps $(ratio "$segs" "$n")"; fi
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
sum() { python3 -c "print(sum(float(x) for x in '$*'.split()))"; }
# Holdpoint's CPU time so far (user and system, clock ticks): the whole process, and the
# PostgreSQL proxy's own thread (the sessions; the rest is mostly the audit writer).
cpu() { awk '{print $14, $15}' "/proc/${1:-$serve_pid}/stat"; }
pg_cpu() {
  local t
  for t in /proc/"$serve_pid"/task/*; do
    case "$(cat "$t/comm")" in holdpoint-pg*) awk '{print $14, $15}' "$t/stat"; return;; esac
  done
  echo 0 0
}
# CPU ticks kept per target, summed over its runs: "user system".
declare -A ticks
add_ticks() { # NAME BEFORE AFTER
  local u0 s0 u1 s1 u s; read -r u0 s0 <<<"$2"; read -r u1 s1 <<<"$3"; read -r u s <<<"${ticks[$1]:-0 0}"
  ticks[$1]="$((u + u1 - u0)) $((s + s1 - s0))"
}
# µs of CPU per transaction, from summed ticks and summed TPS (each run lasts SECONDS_EACH).
per_xact() { python3 -c "
t=$(getconf CLK_TCK); u,s=map(int,'$1'.split()); n=$2*$SECONDS_EACH
print(f'user {u/t/n*1e6:.1f} us, system {s/t/n*1e6:.1f} us')"; }

# One target's run: its TPS in `got` and segments per transaction in `segs_per` (not printed: a
# subshell would lose the CPU kept in `ticks`).
measure() { # TARGET ARGS...
  local target=$1 tps before after pg_before pg_after bouncer_pid; shift
  case "$target" in
    direct) tps=$(run "$pg" bench "" "$@")
      [ -n "$tps" ] || { echo "direct run failed:" >&2; cat "$dir/pgbench.err" >&2; exit 1; } ;;
    holdpoint)
      before=$(cpu); pg_before=$(pg_cpu)
      tps=$(run "$hp" agent "$placeholder" "$@")
      after=$(cpu); pg_after=$(pg_cpu)
      [ -n "$tps" ] || { echo "holdpoint run failed:" >&2; cat "$dir/pgbench.err" >&2; tail "$dir/serve.log" >&2; exit 1; }
      add_ticks "hp-$workload" "$before" "$after"; add_ticks "hp-pg-$workload" "$pg_before" "$pg_after" ;;
    pgbouncer)
      bouncer_pid=$(cat "$dir/bouncer/pgbouncer.pid")
      before=$(cpu "$bouncer_pid")
      tps=$(run "$bouncer" bench "" "$@")
      after=$(cpu "$bouncer_pid")
      [ -n "$tps" ] || { echo "pgbouncer run failed:" >&2; cat "$dir/pgbench.err" >&2; exit 1; }
      add_ticks "pgb-$workload" "$before" "$after" ;;
  esac
  read -r got segs_per <<<"$tps"
}

rounds="${ROUNDS:-3}"
echo "pgbench -c $CLIENTS -j $THREADS -T $SECONDS_EACH -M $MODE, scale $SCALE, $(nproc) cores, holdpoint $PROFILE build, $rounds round(s)"
printf '%-12s %-7s %12s %12s %12s %10s %10s %9s\n' workload round direct holdpoint pgbouncer hp/direct pgb/direct hp/pgb
cpu_lines=() segs_lines=()
for workload in select-only tpcb; do
  args=(); [ "$workload" = select-only ] && args=(-S)
  declare -A tps=() segs=()
  # The order turns each round, so no target always runs first or right after another.
  order=(direct holdpoint pgbouncer)
  for ((r = 1; r <= rounds; r++)); do
    # PERF=FILE: a perf profile of holdpoint during the first select-only run.
    perf_pid=
    if [ -n "${PERF:-}" ] && [ "$workload" = select-only ] && [ "$r" = 1 ]; then
      perf record -q -F 2999 -o "$PERF" -p "$serve_pid" -- sleep "$((SECONDS_EACH * 3))" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    declare -A now=()
    for target in "${order[@]}"; do
      measure "$target" "${args[@]}"
      now[$target]=$got
      tps[$target]="${tps[$target]:-} ${now[$target]}"
      segs[$target]="${segs[$target]:-} $segs_per"
    done
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    paired="${paired:-} $(ratio "${now[holdpoint]}" "${now[pgbouncer]}")"
    printf '%-12s %-7s %12s %12s %12s %10s %10s %9s\n' "$workload" "$r" "${now[direct]}" "${now[holdpoint]}" \
      "${now[pgbouncer]}" "$(ratio "${now[holdpoint]}" "${now[direct]}")" \
      "$(ratio "${now[pgbouncer]}" "${now[direct]}")" "$(ratio "${now[holdpoint]}" "${now[pgbouncer]}")"
    order=("${order[@]:1}" "${order[0]}")
  done
  # shellcheck disable=SC2086 # the lists are space-separated numbers
  direct=$(median ${tps[direct]}); holdpoint=$(median ${tps[holdpoint]}); pgbouncer=$(median ${tps[pgbouncer]})
  printf '%-12s %-7s %12s %12s %12s %10s %10s %9s\n' "$workload" median "$direct" "$holdpoint" "$pgbouncer" \
    "$(ratio "$holdpoint" "$direct")" "$(ratio "$pgbouncer" "$direct")" "$(ratio "$holdpoint" "$pgbouncer")"
  # The median row divides medians that may come from different rounds, minutes apart on a
  # machine whose speed drifts; a round's three runs are back to back, so its own ratio compares
  # more like with like: those ratios' median and range follow.
  # shellcheck disable=SC2086 # a space-separated list of numbers
  echo "$workload: holdpoint/pgbouncer round by round: median $(median $paired), from $(printf '%s\n' $paired | sort -g | head -1) to $(printf '%s\n' $paired | sort -g | tail -1)"
  paired=
  # shellcheck disable=SC2086 # space-separated lists of numbers
  segs_lines+=("$workload: TCP segments sent per transaction (medians): direct $(median ${segs[direct]}), \
holdpoint $(median ${segs[holdpoint]}), pgbouncer $(median ${segs[pgbouncer]})")
  cpu_lines+=("$workload: holdpoint's CPU per transaction: $(per_xact "${ticks[hp-$workload]}" "$(sum ${tps[holdpoint]})"); \
the proxy thread's: $(per_xact "${ticks[hp-pg-$workload]}" "$(sum ${tps[holdpoint]})"); \
pgbouncer's: $(per_xact "${ticks[pgb-$workload]}" "$(sum ${tps[pgbouncer]})")")
done
printf '%s\n' "${cpu_lines[@]}" "${segs_lines[@]}"
# Decisions the proxy could not queue for the audit writer go to the audit spool, outside the
# hash chain until the next start folds them in: any here means the run left audit work undone.
spooled=$( (cat "$HOLDPOINT_HOME/state/audit-spool.jsonl" 2>/dev/null || true) | wc -l)
echo "audit: $spooled decision(s) spilled to the audit spool (0: the writer kept up with the run)"
