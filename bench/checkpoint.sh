#!/usr/bin/env bash
# Workspace checkpoints on a generated workspace (default ~1 GB: source-like text, binaries and
# duplicated files, plus an ignored build directory): the first checkpoint, a re-snapshot with
# nothing changed, one after a few edits, and a restore after a deletion; `cp -a` of the same
# tree in the same run for scale. Usage: bench/checkpoint.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb="${1:-1024}"

cargo build --release --locked -q -p holdpoint-cli
bin="$PWD/target/release/holdpoint"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
work="$tmp/work"
export HOLDPOINT_HOME="$tmp/hp"
mkdir -p "$work/.git" "$work/target"
"$bin" init >/dev/null

echo "== generating a ${size_mb} MB workspace"
# 3/4 of the bytes in 1 MiB binaries, 1/8 in small text files, 1/8 duplicated, plus an ignored
# target/ the same size as the text.
binaries=$(( size_mb * 3 / 4 ))
for i in $(seq 1 "$binaries"); do
  d="$work/assets/$(( i % 16 ))"
  mkdir -p "$d"
  head -c 1048576 /dev/urandom > "$d/blob-$i.bin"
done
text_files=$(( size_mb * 8 ))  # 16 KiB each: 1/8 of the bytes
for i in $(seq 1 "$text_files"); do
  d="$work/src/m$(( i % 64 ))"
  mkdir -p "$d"
  base64 -w 100 < <(head -c 12288 /dev/urandom) > "$d/file-$i.rs"
done
mkdir -p "$work/vendor"
cp -r "$work/src" "$work/vendor/copy"
cp -r "$work/src" "$work/target/build"
echo "target/" > "$work/.gitignore"
du -sh --exclude=target "$work" | sed 's/^/workspace without target\/: /'
sync

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }

first=$(t "$bin" checkpoint create --workspace "$work")
again=$(t "$bin" checkpoint create --workspace "$work")
for i in 1 2 3 4 5; do echo "edit $i" >> "$work/src/m$i/file-$i.rs"; done
edits=$(t "$bin" checkpoint create --workspace "$work")
rm -rf "$work/src/m7"
restore=$(t "$bin" checkpoint restore 3)
copy=$(t cp -a "$work" "$tmp/copy")
store_mb=$(du -sm "$HOLDPOINT_HOME/state/checkpoints" | cut -f1)

printf '%-40s %8.2f s\n' "first checkpoint" "$first" "no-change re-snapshot" "$again" \
  "after 5 edited files" "$edits" "restore after deleting a directory" "$restore" "cp -a of the workspace (for scale)" "$copy"
echo "checkpoint store: ${store_mb} MB for 4 checkpoints (content stored once)"
