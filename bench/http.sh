#!/usr/bin/env bash
# The egress proxy's cost, with wrk on loopback against one upstream (a tiny hyper server,
# crates/proxy/examples/bench_upstream.rs), in ROUNDS rounds (3 unless set) of one run each of:
#   direct          wrk → upstream
#   nginx           wrk → nginx (reverse proxy, keep-alive to the upstream) → upstream
#   nginx+log       the same nginx writing an access log line per request (64 KiB buffer), as
#                   Holdpoint writes an audit record per decision (the target row is nginx)
#   holdpoint       wrk → holdpoint serve (absolute-form requests) → upstream
#   holdpoint-distinct  the same with a new path on every request, so every decision runs the
#                   classifier (the policy's decisions are memoised per request shape; the
#                   built-in policies read no target ids, so Cedar runs once for all paths)
#   holdpoint+vault the same, with a vault placeholder in Authorization replaced by its secret
#   holdpoint-tls   wrk → socat (does the CONNECT) → holdpoint serve (TLS interception) → TLS upstream
#   direct-tls      wrk → TLS upstream (the baseline of the TLS row)
# Each is measured twice: throughput (-c 32) and latency (-c 1, one request at a time). The
# proxy's own CPU time per request (nginx: master and workers; Holdpoint: the whole `serve`
# process, its audit writer included) is read from /proc around the -c 32 run: on a loaded
# machine it is steadier than requests/s, which every other process on the cores moves.
# The TLS row includes socat's relay, since wrk cannot speak to a proxy by CONNECT itself.
# Columns: requests/s at -c 32 and its ratios; CPU µs/req, the proxy process's CPU time per
# request at -c 32, and "proxying", the part of it spent in the threads that serve requests
# (Holdpoint's holdpoint-proxy-N threads; the rest is mostly its audit writer); the c=1 latencies.
# Then the same CPU time split into user and system time, and the TCP segments sent per
# request (the kernel's work for the exchange, the same for any proxy that makes it).
# Each round starts one path later than the one before; the table holds the medians of the
# rounds, and a line per round gives direct, nginx and Holdpoint side by side, with the median and
# range of the rounds' Holdpoint/nginx ratios.
# Needs wrk, nginx and socat (Debian packages); builds release binaries once, unless
# HOLDPOINT_BIN (and UPSTREAM_BIN) name binaries already built (to compare two builds).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in wrk nginx socat; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null ||
    { echo "bench/http.sh needs $tool: apt-get install wrk nginx socat" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-32}"
ROUNDS="${ROUNDS:-3}"

[[ -n "${HOLDPOINT_BIN:-}" ]] || cargo build --release --locked --bin holdpoint >&2
[[ -n "${UPSTREAM_BIN:-}" ]] || cargo build --release --locked -p holdpoint-proxy --example bench_upstream >&2
bin="${HOLDPOINT_BIN:-$PWD/target/release/holdpoint}"
upstream_bin="${UPSTREAM_BIN:-$PWD/target/release/examples/bench_upstream}"

dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

up=$(free_port); up_tls=$(free_port); ngx=$(free_port); ngx_log=$(free_port); hp=$(free_port); relay=$(free_port)
# Every server runs in a session of its own, as a service would: with the kernel's autogroup
# scheduling a session shares the CPU with other sessions as one, and wrk's is this script's.
setsid "$upstream_bin" "127.0.0.1:$up" 2>/dev/null & pids+=($!)
setsid "$upstream_bin" "127.0.0.1:$up_tls" --tls "$dir" 2>/dev/null & pids+=($!)
wait_port "$up"; wait_port "$up_tls"

# nginx as a reverse proxy to the same upstream, keep-alive both ways, one worker per core.
mkdir -p "$dir/nginx"
cat > "$dir/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx; proxy_temp_path $dir/nginx; fastcgi_temp_path $dir/nginx;
  uwsgi_temp_path $dir/nginx; scgi_temp_path $dir/nginx;
  upstream app { server 127.0.0.1:$up; keepalive 64; }
  server {
    listen 127.0.0.1:$ngx;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$ngx_log;
    access_log $dir/nginx/access.log combined buffer=64k;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
setsid nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" & pids+=($!); nginx_pid=$!
wait_port "$ngx"; wait_port "$ngx_log"

# Holdpoint: a fresh home, the upstream's CA trusted, a vault secret bound to the upstream.
export HOLDPOINT_HOME="$dir/home"
"$bin" init >/dev/null
printf '[proxy]\nlisten = "127.0.0.1:%s"\n' "$hp" > "$HOLDPOINT_HOME/config/config.toml"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/vault.key"; echo >> "$dir/vault.key"
chmod 600 "$dir/vault.key"
export HOLDPOINT_VAULT_KEY_FILE="$dir/vault.key"
placeholder=$(printf 'sk-bench-secret' | "$bin" vault add bench --host 127.0.0.1 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["placeholders"]["value"])')
SSL_CERT_FILE="$dir/upstream-ca.pem" setsid "$bin" serve 2>"$dir/serve.log" & pids+=($!); holdpoint_pid=$!
wait_port "$hp"
# wrk speaks TLS to socat, which opens the tunnel through Holdpoint with CONNECT.
setsid socat -lf /dev/null "TCP-LISTEN:$relay,bind=127.0.0.1,reuseaddr,fork" "PROXY:127.0.0.1:localhost:$up_tls,proxyport=$hp" & pids+=($!)
wait_port "$relay"

# Absolute-form requests for a forward proxy: wrk connects to the proxy and sends the full URL.
cat > "$dir/forward.lua" <<EOF
wrk.path = "http://127.0.0.1:$up/"
wrk.headers["Host"] = "127.0.0.1:$up"
EOF
# A new path on every request: no decision is ever made twice (the memo never hits).
cat > "$dir/distinct.lua" <<EOF
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) counter = 0 end
function request()
  counter = counter + 1
  return wrk.format("GET", "http://127.0.0.1:$up/item/" .. id .. "/" .. counter, {["Host"] = "127.0.0.1:$up"})
end
EOF
cat > "$dir/vault.lua" <<EOF
wrk.path = "http://127.0.0.1:$up/"
wrk.headers["Host"] = "127.0.0.1:$up"
wrk.headers["Authorization"] = "Bearer $placeholder"
EOF
cat > "$dir/tls.lua" <<EOF
wrk.headers["Host"] = "localhost:$up_tls"
EOF

check() { # name url curl-args...
  local name=$1 url=$2; shift 2
  local body; body=$(curl -sS --max-time 5 "$@" "$url") || { echo "$name does not answer" >&2; exit 1; }
  [[ "$body" == "hello from upstream" ]] || { echo "$name answered: $body" >&2; exit 1; }
}
check direct "http://127.0.0.1:$up/"
check nginx "http://127.0.0.1:$ngx/"
check nginx+log "http://127.0.0.1:$ngx_log/"
check holdpoint "http://127.0.0.1:$up/" --proxy "http://127.0.0.1:$hp"
check holdpoint-tls "https://localhost:$up_tls/" --proxy "http://127.0.0.1:$hp" --cacert "$HOLDPOINT_HOME/state/proxy-ca.pem"

# CPU clock ticks used so far by the processes given and their children (nginx's workers):
# user and system, then those of Holdpoint's proxy threads alone (the rest of `serve` is mostly
# the audit log's writer).
cpu_ticks() {
  local user=0 sys=0 proxy_user=0 proxy_sys=0 pid task stat
  for pid in "$@" $(pgrep -P "$(IFS=,; echo "$*")" 2>/dev/null); do
    # Fields after the command name: utime and stime are the 12th and 13th.
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a f <<< "${stat##*) }"
    user=$(( user + f[11] )); sys=$(( sys + f[12] ))
    for task in /proc/"$pid"/task/*; do
      stat=$(cat "$task/stat" 2>/dev/null) || continue
      [[ "$stat" == *"(holdpoint-proxy"* ]] || continue  # thread names end at 15 bytes
      read -r -a f <<< "${stat##*) }"
      proxy_user=$(( proxy_user + f[11] )); proxy_sys=$(( proxy_sys + f[12] ))
    done
  done
  echo "$user $sys $proxy_user $proxy_sys"
}
# TCP segments this host has sent so far (OutSegs): all on loopback during a run, so their count
# per request shows how much work the kernel does for each path, whoever asks it.
out_segs() { awk '/^Tcp:/ { if (!seen++) { for (i = 1; i <= NF; i++) if ($i == "OutSegs") col = i } else print $col }' /proc/net/snmp; }
run() { # name conns round url script cpu-pids...
  local name=$1 conns=$2 round=$3 url=$4 script=$5; shift 5
  local threads=$(( conns < 2 ? 1 : 2 )) before after segs
  read -r -a before <<< "$(cpu_ticks "$@")"; segs=$(out_segs)
  wrk -t"$threads" -c"$conns" -d"$DURATION" --latency ${script:+-s "$script"} "$url" > "$dir/$name.$conns.$round.txt"
  segs=$(( $(out_segs) - segs )); read -r -a after <<< "$(cpu_ticks "$@")"
  echo "$(( after[0] - before[0] )) $(( after[1] - before[1] )) $(( after[2] - before[2] )) $(( after[3] - before[3] )) $segs" \
    > "$dir/$name.$conns.$round.cpu"
}
names=(direct nginx nginx+log holdpoint holdpoint-distinct holdpoint+vault direct-tls holdpoint-tls)
urls=("http://127.0.0.1:$up/" "http://127.0.0.1:$ngx/" "http://127.0.0.1:$ngx_log/" "http://127.0.0.1:$hp/"
      "http://127.0.0.1:$hp/" "http://127.0.0.1:$hp/" "https://localhost:$up_tls/" "https://127.0.0.1:$relay/")
scripts=("" "" "" "$dir/forward.lua" "$dir/distinct.lua" "$dir/vault.lua" "" "$dir/tls.lua")
measured=("" "$nginx_pid" "$nginx_pid" "$holdpoint_pid" "$holdpoint_pid" "$holdpoint_pid" "" "$holdpoint_pid")
order=("${!names[@]}")
for ((round = 1; round <= ROUNDS; round++)); do
  for i in "${order[@]}"; do
    for conns in "$CONNS" 1; do
      echo "round $round/$ROUNDS: wrk ${names[$i]} -c $conns ..." >&2
      # shellcheck disable=SC2086 # no pid is no argument
      run "${names[$i]}" "$conns" "$round" "${urls[$i]}" "${scripts[$i]}" ${measured[$i]}
    done
  done
  # The next round starts one path later, so none always runs first or right after another.
  order=("${order[@]:1}" "${order[0]}")
done

python3 - "$dir" "$CONNS" "$(getconf CLK_TCK)" "$ROUNDS" "${names[@]}" <<'PY'
import re, statistics, sys
d, conns, tick, rounds, names = sys.argv[1], sys.argv[2], 1e6 / float(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
def unit(v):
    n, u = float(re.match(r"[\d.]+", v).group()), re.sub(r"[\d.]+", "", v)
    return n * {"us": 1, "ms": 1e3, "s": 1e6}[u]
def parse(name, c, r):
    text = open(f"{d}/{name}.{c}.{r}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p = {k: unit(v) for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", text)
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    user, system, proxy_user, proxy_system, segs = (int(t) for t in open(f"{d}/{name}.{c}.{r}.cpu").read().split())
    per = lambda ticks: ticks * tick / requests if requests else None
    cpu = per(user + system) if user + system > 0 else None
    # nginx: all of it is proxying; Holdpoint: its proxy threads (the rest is the audit writer).
    # (A build without named proxy threads shows none.)
    if not name.startswith("holdpoint"):
        proxy_user, proxy_system = user, system
    proxying = per(proxy_user + proxy_system) if cpu and proxy_user + proxy_system > 0 else None
    return {"rps": rps, "p50": p.get("50"), "p99": p.get("99"), "err": errors.group(0) if errors else "",
            "cpu": cpu, "proxying": proxying, "user": per(user), "system": per(system),
            "proxy_user": per(proxy_user), "proxy_system": per(proxy_system),
            "segs": segs / requests if requests else None}
runs = {n: [(parse(n, conns, r), parse(n, 1, r)) for r in range(1, rounds + 1)] for n in names}
def base_of(n):
    return "direct-tls" if n.endswith("tls") else "direct"
if rounds > 1:
    print(f"each round, at c={conns} and c=1:")
    print(f"{'round':>5} {'direct req/s':>12} {'nginx':>8} {'nginx+log':>9} {'holdpoint':>9} {'hp/nginx':>8} "
          f"{'hp/nginx+log':>12} {'added p50 µs':>13}")
    for r in range(rounds):
        direct, nginx, logged, hp = (runs[n][r] for n in ("direct", "nginx", "nginx+log", "holdpoint"))
        print(f"{r + 1:5} {direct[0]['rps']:12.0f} {nginx[0]['rps']:8.0f} {logged[0]['rps']:9.0f} {hp[0]['rps']:9.0f} "
              f"{hp[0]['rps'] / nginx[0]['rps']:8.2f} {hp[0]['rps'] / logged[0]['rps']:12.2f} "
              f"{hp[1]['p50'] - direct[1]['p50']:13.0f}")
    # The table below divides medians that may come from different rounds, minutes apart on a
    # machine whose speed drifts; a round's own runs are closer in time, so its ratio compares
    # more like with like.
    paired = sorted(runs["holdpoint"][r][0]["rps"] / runs["nginx"][r][0]["rps"] for r in range(rounds))
    print(f"holdpoint/nginx round by round: median {statistics.median(paired):.2f}, "
          f"from {paired[0]:.2f} to {paired[-1]:.2f}")
    print(f"medians of {rounds} rounds:")
def med(n, i, key):
    values = [run[i][key] for run in runs[n] if run[i][key] is not None]
    return statistics.median(values) if values else None
print(f"{'path':19} {'req/s c='+conns:>12} {'vs direct':>9} {'vs nginx':>9} {'CPU µs/req':>10} {'proxying':>8} "
      f"{'p50 µs c=1':>11} {'p99 µs c=1':>11} {'added p50 µs':>13}")
for n in names:
    rps, p50, p99 = med(n, 0, "rps"), med(n, 1, "p50"), med(n, 1, "p99")
    errs = sorted({e for run in runs[n] for e in (run[0]["err"], run[1]["err"]) if e})
    base = base_of(n)
    added = p50 - med(base, 1, "p50")
    note = f"  ({'; '.join(errs)})" if errs else ""
    cpu = "".join(f" {v:{w}.1f}" if v is not None else f" {'-':>{w}}"
                  for v, w in ((med(n, 0, "cpu"), 10), (med(n, 0, "proxying"), 8)))
    print(f"{n:19} {rps:12.0f} {rps / med(base, 0, 'rps'):9.2f} {rps / med('nginx', 0, 'rps'):9.2f}{cpu} "
          f"{p50:11.0f} {p99:11.0f} {added:13.0f}{note}")
# Where the CPU goes, split: the kernel's share (system time, and the TCP segments sent per
# request on loopback) is the same for any proxy making the same exchanges; the user share is
# what the proxy itself adds.
def split(n, user, system):
    return f"{med(n, 0, user):.1f} + {med(n, 0, system):.1f}"
print(f"CPU µs per request at c={conns}, user + system (medians): nginx {split('nginx', 'user', 'system')}; "
      f"holdpoint {split('holdpoint', 'user', 'system')}, "
      f"its proxy threads {split('holdpoint', 'proxy_user', 'proxy_system')}")
print(f"TCP segments sent per request at c={conns}: " +
      ", ".join(f"{n} {med(n, 0, 'segs'):.2f}" for n in ("direct", "nginx", "holdpoint")))
PY
# Decisions the proxy could not queue for the audit writer go to the audit spool, outside the
# hash chain until the next start folds them in: any here means the run left audit work undone.
spooled=$( (cat "$HOLDPOINT_HOME/state/audit-spool.jsonl" 2>/dev/null || true) | wc -l)
echo "audit: $spooled decision(s) spilled to the audit spool (0: the writer kept up with the run)"
