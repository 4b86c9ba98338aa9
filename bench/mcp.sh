#!/usr/bin/env bash
# Added latency per MCP tool call: the same JSON-RPC client calls the rmcp fixture server
# (crates/cli/examples/mcp_fixture.rs) directly over its stdio, then through
# `holdpoint mcp wrap`, in one run; prints the median and p90 round trip of each and the
# median the gateway adds. The call is `lookup` (readOnlyHint: decided, allowed, forwarded,
# its result scanned for secrets and audited). Needs python3; builds release binaries.
# Usage: bench/mcp.sh [CALLS]   (default 2000, after 200 warm-up calls)
set -euo pipefail
cd "$(dirname "$0")/.."

calls="${1:-2000}"
cargo build --release --locked -p holdpoint-cli --bin holdpoint --example mcp_fixture >&2
bin="$PWD/target/release/holdpoint"
fixture="$PWD/target/release/examples/mcp_fixture"

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
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
print(f"added by the gateway: median {gateway - direct:.1f} µs per call ({gateway / direct:.2f}x)")
PY
