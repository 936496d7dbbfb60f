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
cpu=$(cd "$root/tests" && python -c "from test_offline_suite import cpu_kind; print(cpu_kind())")
task_files=$(cd "$root/tests" && python -c "from test_offline_suite import ALL_TASKS; print(*ALL_TASKS)")
out="$root/tests/golden/$cpu"
mkdir -p "$out"
cd "$work"
for encoder in mel random; do
  PYTHONPATH="$work/before/src" python -m xares.run "$work/before/example/$encoder/${encoder}_encoder.py" \
    $(for name in $task_files; do echo "$work/before/src/tasks/offline/$name"; done) \
    --results "$out/offline_${encoder}_encoder.json"
done
grep -m1 "model name" /proc/cpuinfo > "$out/cpu.txt"
echo "golden runs of this CPU written to $out"
