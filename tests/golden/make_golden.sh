#!/usr/bin/env bash
# A golden offline-suite run of this kind of CPU, made by the code before the core rebuild (commit
# 41fa500, issue 13), into tests/golden/<cpu>/: tests/test_offline_suite.py then holds this CPU's
# runs to it bit for bit. Run from the repository root with the project's venv active (~4 min on 2 cores).
set -euo pipefail
BEFORE=41fa500
root=$(pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --quiet "$work/before" "$BEFORE"
cpu=$(python - <<'PY'
import re
text = open("/proc/cpuinfo").read()
flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split())
vendor = re.search(r"^vendor_id\s*:\s*(\S+)", text, re.M).group(1)
isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile") if f in flags]
print("-".join([vendor.lower(), *[f.replace("_", "") for f in isa]]))
PY
)
out="$root/tests/golden/$cpu"
mkdir -p "$out"
tasks=$work/before/src/tasks/offline
cd "$work"
for encoder in mel random; do
  PYTHONPATH="$work/before/src" python -m xares.run "$work/before/example/$encoder/${encoder}_encoder.py" \
    "$tasks"/{keywords,sound_classes,mixtures,speaker_count,languages,notes,asr,captions,scenes}_task.py \
    --results "$out/offline_${encoder}_encoder.json"
done
grep -m1 "model name" /proc/cpuinfo > "$out/cpu.txt"
echo "golden runs of this CPU written to $out"
