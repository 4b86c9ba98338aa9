#!/usr/bin/env bash
# `holdpoint scan` throughput beside ripgrep, in the same run, over the same generated tree:
# deterministic source-like text (Rust, JS, Python, YAML, JSON, prose) in nested directories,
# a few planted secrets, some binaries. ripgrep gets the scanner's own detector regexes
# (`holdpoint scan --list-rules --json`) with -f, and the same walk: --no-ignore --hidden, no
# symlinks followed, the same size limit, Unicode off like the scanner. A warm-up and three
# timed runs of each; prints each tool's median throughput and the ratio.
#
#   bench/scan.sh            # ~1 GB tree
#   bench/scan.sh 200        # ~200 MB (or SCAN_BENCH_MB=200)
#   SCAN_BENCH_BIN=target/release/holdpoint bench/scan.sh   # an already built binary
#
# Needs python3; installs ripgrep with apt when it is missing; builds a release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb="${1:-${SCAN_BENCH_MB:-1024}}"
runs=3

if ! command -v rg >/dev/null; then
  echo "installing ripgrep" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y ripgrep >&2
fi
if [ -n "${SCAN_BENCH_BIN:-}" ]; then
  bin="$(realpath "$SCAN_BENCH_BIN")"
else
  cargo build --release --locked -p holdpoint-cli >&2
  bin="$PWD/target/release/holdpoint"
fi

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
tree="$dir/tree"

echo "generating a ${size_mb} MB tree in $tree" >&2
python3 - "$tree" "$size_mb" <<'PY'
import os, random, sys

root, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(6)
syll = ["ka", "lo", "mi", "nu", "re", "sa", "ti", "vo", "ze", "qu", "an", "el", "or", "is", "ut", "ba", "de", "fi", "go", "hu"]
words = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(4000)})
def w(): return rng.choice(words)
def W(): return w().capitalize()
# Lines that name a key, token, secret or password are about 1% of real source code (0.7% of
# the Rust in ~/.cargo/registry); here 1.5%, so the scanner's confirmation step is exercised.
templates = [
    lambda: f"    let {w()}_{w()} = {w()}.{w()}(&{w()}, {rng.randint(0, 9999)})?;",
    lambda: f"pub fn {w()}_{w()}(&self, {w()}: &{W()}{W()}) -> Result<{W()}, Error> {{",
    lambda: f"        if {w()}.{w()}() > {rng.randint(0, 512)} {{ return Err(Error::{W()}{W()}); }}",
    lambda: f"const {w()}{W()} = await {w()}.{w()}('/{w()}/{w()}', {{ {w()}: {rng.randint(0, 99)} }});",
    lambda: f"export function {w()}{W()}({w()}: {W()}, {w()}?: number): {W()}[] {{",
    lambda: f"def {w()}_{w()}(self, {w()}={rng.randint(0, 100)}, {w()}=None):",
    lambda: f"        return self.{w()}.{w()}({w()}, {w()}={w()!r})",
    lambda: f"  {w()}_{w()}: {w()}-{rng.randint(1, 64)}",
    lambda: f'  "{w()}{W()}": "{w()}-{w()}",',
    lambda: f"// {W()} {w()} {w()} the {w()} {w()} when {w()} is {w()}.",
    lambda: f"# {W()} {w()} {w()} {w()}, see docs/{w()}.md",
    lambda: f"The {w()} {w()} keeps the {w()} of each {w()} until the {w()} {w()} returns.",
    lambda: "",
    lambda: "    }",
]
keyword_templates = [
    lambda: f"    let key = {w()}_key(&{w()}.{w()});",
    lambda: f"    {w()}_token: Option<{W()}Token>,",
    lambda: f"  password_min_length: {rng.randint(8, 16)}",
    lambda: f'    assert_eq!({w()}.key, "{w()}");',
    lambda: f"    {w()}Secret: process.env.{w().upper()}_SECRET,",
    lambda: f'  api_key: "{w()}-{w()}"',
]
pool = [rng.choice(keyword_templates if rng.random() < 0.015 else templates)() + "\n" for _ in range(60000)]
planted = [
    "GITHUB_TOKEN=ghp_Zq8rT2mK9vX4nB7cL1pW6yH3jD5sF0gA2eUi\n",
    "aws_access_key_id = AKIAZ7Q3RT2MK6VX4NB7\n",
    "DATABASE_URL=postgres://app:Vt9kQ2xLm7pR4w@db.internal:5432/app\n",
    'stripe: { secret: "sk_live_51Hq8rT2mK9vX4nB7cL1pW6yH3jD5sF" }\n',
    'SESSION_SECRET="Zr8Kq2Lm9Vx4Tb7Nc1Pw6Yh3Jd5Sf0Ga"\n',
    "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "".join(
        "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(70)) + "\n"
        for _ in range(5)) + "-----END OPENSSH PRIVATE KEY-----\n",
]
exts = ["rs", "ts", "js", "py", "yaml", "json", "md", "go", "toml", "txt"]
target = size_mb << 20
total = files = binaries = secrets = 0
while total < target:
    path = os.path.join(root, f"p{files // 2000:03}", f"m{(files // 40) % 50:02}", f"{w()}_{files}.{rng.choice(exts)}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if files % 211 == 5:
        data = rng.randbytes(rng.randint(4 << 10, 256 << 10))
        binaries += 1
    else:
        size = int(2 ** rng.uniform(10, 17.5))
        lines, n = [], 0
        while n < size:
            line = rng.choice(pool)
            lines.append(line)
            n += len(line)
        if files % 97 == 13:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(planted))
            secrets += 1
        data = "".join(lines).encode()
    with open(path, "wb") as f:
        f.write(data)
    total += len(data)
    files += 1
print(f"{files} files ({binaries} binaries), {total / 2**20:.0f} MiB, {secrets} planted secrets", file=sys.stderr)
PY
bytes="$(du -sb "$tree" | cut -f1)"

# The scanner's own patterns for ripgrep, which joins them into one regex: the named
# `secret` groups several rules share become plain groups.
"$bin" scan --list-rules --json | python3 -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["regex"].replace("(?P<secret>", "(?:"))
' > "$dir/patterns.txt"
echo "$(wc -l < "$dir/patterns.txt") patterns" >&2

run_holdpoint() { "$bin" scan --max-size 8MiB "$tree" > "$dir/holdpoint.out" 2> "$dir/holdpoint.err" || [ $? -eq 3 ]; }
run_rg() { rg --no-ignore --hidden --no-unicode --max-filesize 8M -f "$dir/patterns.txt" "$tree" > "$dir/rg.out" || [ $? -eq 1 ]; }

time_of() { # command -> seconds
  local start end
  start="$(date +%s%N)"
  "$@"
  end="$(date +%s%N)"
  python3 -c "print(($end - $start) / 1e9)"
}

declare -A times
for tool in holdpoint rg; do
  "run_$tool" # warm-up (and page cache)
  for i in $(seq "$runs"); do
    times[$tool]+="$(time_of "run_$tool") "
  done
done

python3 - "$bytes" "${times[holdpoint]}" "${times[rg]}" "$dir" <<'PY'
import statistics, sys
size = int(sys.argv[1])
hp = [float(t) for t in sys.argv[2].split()]
rg = [float(t) for t in sys.argv[3].split()]
d = sys.argv[4]
findings = sum(1 for _ in open(f"{d}/holdpoint.out"))
lines = sum(1 for _ in open(f"{d}/rg.out"))
summary = open(f"{d}/holdpoint.err").read().strip().splitlines()[-1]
mb = size / 2**20
print(f"tree: {mb:.0f} MiB")
print(f"holdpoint scan: {findings} findings; {summary}")
print(f"rg:             {lines} matching lines")
for name, ts in (("holdpoint scan", hp), ("rg", rg)):
    med = statistics.median(ts)
    print(f"{name:15} median {med:6.2f} s  {mb / med:7.0f} MiB/s   runs: {' '.join(f'{t:.2f}' for t in ts)}")
ratio = statistics.median(rg) / statistics.median(hp)
print(f"holdpoint / rg throughput: {ratio:.2f}x (target >= 0.5x)")
PY
