#!/usr/bin/env bash
# Added latency per MCP tool call: the same JSON-RPC client calls the rmcp fixture server
# (crates/cli/examples/mcp_fixture.rs) directly and through Holdpoint, in one run, over both
# transports: stdio (direct, then `holdpoint mcp wrap`) and streamable HTTP (direct, then the
# `[[mcp]]` gateway of `holdpoint serve`, one keep-alive connection each). Prints the median
# and p90 round trip of each and the median the gateway adds. The call is `lookup`
# (readOnlyHint: decided, allowed, forwarded, its result scanned for secrets and audited).
# Needs python3; builds release binaries.
# Usage: bench/mcp.sh [CALLS]   (default 2000, after 200 warm-up calls)
set -euo pipefail
cd "$(dirname "$0")/.."

calls="${1:-2000}"
cargo build --release --locked -p holdpoint-cli --bin holdpoint --example mcp_fixture >&2
bin="$PWD/target/release/holdpoint"
fixture="$PWD/target/release/examples/mcp_fixture"

dir="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
export HOLDPOINT_HOME="$dir/home"
mkdir -p "$dir/work/.git"
"$bin" init >/dev/null
cd "$dir/work"

python3 - "$calls" "$bin" "$fixture" <<'PY'
import json, statistics, subprocess, sys, time

calls, holdpoint, fixture = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def run(cmd):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    out = p.stdout
    def send(msg):
        p.stdin.write((json.dumps(msg) + "\n").encode())
    def answer(id):
        while True:
            msg = json.loads(out.readline())
            if msg.get("id") == id:
                return msg
    send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
          "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    answer(0)
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    times = []
    for i in range(1, 200 + calls + 1):
        t = time.perf_counter_ns()
        send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "lookup", "arguments": {"key": "k"}}})
        msg = answer(i)
        if "result" not in msg:
            sys.exit(f"call {i} failed: {msg}")
        if i > 200:
            times.append(time.perf_counter_ns() - t)
    p.stdin.close()
    p.wait()
    return times

def stats(name, times):
    times = sorted(times)
    med = statistics.median(times) / 1000
    p90 = times[int(len(times) * 0.9)] / 1000
    print(f"{name:10} median {med:8.1f} µs   p90 {p90:8.1f} µs   ({len(times)} calls)")
    return med

direct = stats("direct", run([fixture]))
gateway = stats("gateway", run([holdpoint, "mcp", "wrap", "fixture", "--", fixture]))
print(f"added by the gateway (stdio): median {gateway - direct:.1f} µs per call ({gateway / direct:.2f}x)")
PY

# Streamable HTTP: the fixture on a loopback port, the gateway in front of it.
"$fixture" --http 127.0.0.1:0 >"$dir/fixture.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$dir/fixture.out" 2>/dev/null && break; sleep 0.1; done
upstream="$(sed -n 's/^listening on //p' "$dir/fixture.out")"
cat >"$HOLDPOINT_HOME/config/config.toml" <<TOML
[api]
listen = "127.0.0.1:0"
[proxy]
listen = "127.0.0.1:0"
[[mcp]]
name = "fixture"
listen = "127.0.0.1:0"
upstream = "$upstream"
TOML
"$bin" serve 2>"$dir/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "MCP gateway" "$dir/serve.err" 2>/dev/null && break; sleep 0.1; done
gateway="$(grep -o 'MCP gateway fixture listening on http://[0-9.:]*/mcp' "$dir/serve.err" | sed 's/.* on //')"

python3 - "$calls" "$upstream" "$gateway" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse

calls, direct_url, gateway_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def run(url):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-06-18"}
    def post(msg):
        conn.request("POST", u.path, json.dumps(msg), headers)
        res = conn.getresponse()
        body = res.read().decode()
        if res.getheader("content-type", "").startswith("text/event-stream"):
            out = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip()]
        else:
            out = [json.loads(body)] if body.strip() else []
        return res, out
    res, _ = post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
                   "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    headers["mcp-session-id"] = res.getheader("mcp-session-id")
    post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    times = []
    for i in range(1, 200 + calls + 1):
        t = time.perf_counter_ns()
        _, msgs = post({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                        "params": {"name": "lookup", "arguments": {"key": "k"}}})
        if not any(m.get("id") == i and "result" in m for m in msgs):
            sys.exit(f"call {i} failed: {msgs}")
        if i > 200:
            times.append(time.perf_counter_ns() - t)
    conn.close()
    return times

def stats(name, times):
    times = sorted(times)
    med = statistics.median(times) / 1000
    p90 = times[int(len(times) * 0.9)] / 1000
    print(f"{name:10} median {med:8.1f} µs   p90 {p90:8.1f} µs   ({len(times)} calls)")
    return med

direct = stats("http", run(direct_url))
gateway = stats("http+gw", run(gateway_url))
print(f"added by the gateway (HTTP): median {gateway - direct:.1f} µs per call ({gateway / direct:.2f}x)")
PY
