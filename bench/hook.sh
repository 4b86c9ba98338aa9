#!/usr/bin/env bash
# Whole-process latency of `holdpoint hook claude` for a short, a typical and a 60-command
# pipeline, beside /bin/true in the same run (every command runs under `sh -c` with the
# payload on stdin, so the shell's cost is the same on every line).
# Needs hyperfine (Debian package) and python3; builds a release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || { echo "bench/hook.sh needs hyperfine: apt-get install hyperfine" >&2; exit 1; }
cargo build --release --locked --bin holdpoint >&2
bin="$PWD/target/release/holdpoint"

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
export HOLDPOINT_HOME="$dir/home"
mkdir -p "$dir/work/.git"
"$bin" init >/dev/null

payload() { # name command
  python3 - "$dir/work" "$2" > "$dir/$1.json" <<'PY'
import json, sys
print(json.dumps({"session_id": "bench", "transcript_path": "/tmp/t.jsonl", "cwd": sys.argv[1],
                  "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                  "tool_input": {"command": sys.argv[2], "description": "bench"}}))
PY
}
payload short "git status"
payload typical "cargo test --workspace 2>&1 | tail -20 && git diff --stat"
payload pipeline "$(python3 -c 'print(" | ".join(f"grep -v p{i} f{i}.txt" for i in range(60)))')"

for name in short typical pipeline; do
  out="$("$bin" hook claude < "$dir/$name.json")"
  echo "$name: $out" >&2
done

# A home without a state directory keeps no decision cache: every call parses the policy.
mkdir -p "$dir/nocache"
hyperfine -N --warmup 30 --runs 400 --export-json "$dir/hook.json" \
  -n true "sh -c '/bin/true < $dir/short.json'" \
  -n short-uncached "sh -c 'HOLDPOINT_HOME=$dir/nocache $bin hook claude < $dir/short.json'" \
  -n short "sh -c '$bin hook claude < $dir/short.json'" \
  -n typical "sh -c '$bin hook claude < $dir/typical.json'" \
  -n pipeline "sh -c '$bin hook claude < $dir/pipeline.json'" >&2

python3 - "$dir/hook.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
base = statistics.median(results[0]["times"])
print(f"{'case':15} {'median ms':>10} {'p99 ms':>8} {'median - true':>14}")
for r in results:
    t = sorted(r["times"])
    p99 = t[min(len(t) - 1, int(len(t) * 0.99))]
    med = statistics.median(t)
    print(f"{r['command']:15} {med*1e3:10.2f} {p99*1e3:8.2f} {(med-base)*1e3:14.2f}")
PY
