#!/usr/bin/env bash
# Start-up cost of the sandbox: `holdpoint run -- true` beside `true` and beside bubblewrap
# with a comparable profile (user, pid, network, ipc and uts namespaces; /usr, /etc, /opt
# read-only; fresh /proc, /dev and /tmp; a tmpfs home with ~/.gitconfig; the workspace
# read-write), in one hyperfine run. bwrap gets no seccomp filter and no Landlock, which
# holdpoint installs; holdpoint also scans the environment for secrets and protects paths
# inside the workspace. A last line runs holdpoint with the real home, so its toolchain
# overlays (~/.cargo, ~/.rustup, ~/.npm, ...) are counted too.
# Needs hyperfine and bwrap (Debian packages hyperfine, bubblewrap; installed when missing
# and running as root); builds a release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v bwrap >/dev/null || missing+=(bubblewrap)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "bench/sandbox.sh needs: apt-get install ${missing[*]}" >&2; exit 1; }
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
cargo build --release --locked --bin holdpoint >&2
echo "load average (1, 5, 15 min) before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
bin="$PWD/target/release/holdpoint"

dir="$(mktemp -d /var/tmp/hp-bench-XXXXXX)"
trap 'rm -rf "$dir"' EXIT
export HOLDPOINT_HOME="$dir/hp"
"$bin" init >/dev/null
# Ports of its own, so a gateway already running on this machine does not matter.
printf '[proxy]\nlisten = "127.0.0.1:0"\n\n[api]\nlisten = "127.0.0.1:0"\n' > "$HOLDPOINT_HOME/config/config.toml"
home="$dir/home"
ws="$dir/ws"
mkdir -p "$home" "$ws"
printf '[user]\n\tname = Bench\n\temail = bench@example.invalid\n' > "$home/.gitconfig"
real_home="$HOME"

# The same small environment for every command.
export HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
cd "$ws"

sys_binds=()
for d in /usr /etc /opt; do [ -d "$d" ] && sys_binds+=(--ro-bind "$d" "$d"); done
for d in /bin /sbin /lib /lib32 /lib64 /libx32; do
  if [ -L "$d" ]; then sys_binds+=(--symlink "$(readlink "$d")" "$d"); elif [ -d "$d" ]; then sys_binds+=(--ro-bind "$d" "$d"); fi
done
bwrap_cmd="bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --die-with-parent \
${sys_binds[*]} --proc /proc --dev /dev --tmpfs /tmp --tmpfs $home --ro-bind $home/.gitconfig $home/.gitconfig \
--bind $ws $ws --chdir $ws true"

# Each works before it is timed. The first runs start a gateway of their own each (the cost
# of `run` when no gateway runs); then one gateway runs, as it does for a user of `serve`.
"$bin" run -- true 2>/dev/null
$bwrap_cmd
hyperfine -N --warmup 2 --runs 20 --export-json "$dir/cold.json" -n "holdpoint run, starting its gateway" "$bin run -- true" >&2
"$bin" serve 2>"$dir/serve.log" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; wait $serve_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 200); do [ -S "$HOLDPOINT_HOME/state/proxy.sock" ] && break; sleep 0.05; done

hyperfine -N --warmup 20 --runs 300 --export-json "$dir/sandbox.json" \
  -n true "true" \
  -n bwrap "$bwrap_cmd" \
  -n "holdpoint run" "$bin run -- true" \
  -n "holdpoint run, real home" "env HOME=$real_home $bin run -- true" >&2

# Other work on the machine shows in every figure: say how busy it was.
echo "load average (1, 5, 15 min) after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$dir/sandbox.json" "$dir/cold.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"] + json.load(open(sys.argv[2]))["results"]
med = {r["command"]: statistics.median(r["times"]) * 1e3 for r in results}
p99 = {r["command"]: sorted(r["times"])[int(len(r["times"]) * 0.99) - 1] * 1e3 for r in results}
base = med["true"]
print(f"{'command':26} {'median ms':>10} {'p99 ms':>8} {'added ms':>9}")
for name in med:
    print(f"{name:26} {med[name]:10.2f} {p99[name]:8.2f} {med[name] - base:9.2f}")
added = med["holdpoint run"] - base
print(f"holdpoint run adds {added:.2f} ms to a process start ({med['holdpoint run'] - med['bwrap']:+.2f} ms beside bwrap); "
      f"target < 10 ms: {'met' if added < 10 else 'MISSED'}")
PY
