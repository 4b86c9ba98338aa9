#!/usr/bin/env bash
# Time from `holdpoint approve` returning to the waiting hook's answer, over N rounds.
# (The hook polls the store for a decision; this measures what an approver waits for.)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
cargo build --release --locked --bin holdpoint >&2
bin="$PWD/target/release/holdpoint"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
export HOLDPOINT_HOME="$dir/home"
mkdir -p "$dir/work/.git"
"$bin" init >/dev/null
echo 'hold_wait = "30s"' > "$HOLDPOINT_HOME/config/config.toml"
"$bin" approver add bench > "$dir/token" 2>/dev/null

python3 - "$bin" "$dir" "$rounds" <<'PY'
import json, os, statistics, subprocess, sys, time
bin_, d, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = dict(os.environ)
deltas = []
for i in range(rounds):
    payload = json.dumps({"session_id": "b", "transcript_path": "/t", "cwd": f"{d}/work",
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": f"rm -rf /var/lib/bench/{i}"}})
    hook = subprocess.Popen([bin_, "hook", "claude"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    hook.stdin.write(payload); hook.stdin.close()
    hold = None
    while hold is None:
        time.sleep(0.02)
        holds = json.loads(subprocess.run([bin_, "pending", "--json"], capture_output=True, text=True, env=env).stdout)["holds"]
        hold = holds[0]["id"] if holds else None
    subprocess.run([bin_, "approve", str(hold), "--token-file", f"{d}/token"], check=True, capture_output=True, env=env)
    approved = time.monotonic()
    out = hook.stdout.read(); hook.wait()
    deltas.append((time.monotonic() - approved) * 1e3)
    assert out.strip() == "{}", out
deltas.sort()
print(f"approve -> hook answer over {rounds} rounds: median {statistics.median(deltas):.1f} ms, "
      f"max {deltas[-1]:.1f} ms (target < 100 ms)")
PY
