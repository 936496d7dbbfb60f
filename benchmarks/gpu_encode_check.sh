#!/usr/bin/env bash
# The GPU figures of the encode stage, as one prepared run for the device machine (see the
# device tool's README): a Dasheng-base-sized random transformer (benchmarks/transformer_encoder.py)
# on the synthetic ESC-50/ASV2015/DESED-shaped set, fp32 and bf16 autocast, with every CPU core
# decoding. Prints (a) forward only, (b) decode + resample only, (c) the encode stage, per precision.
#
#   bash benchmarks/gpu_encode_check.sh [SCALE]      # SCALE x 1,180 clips (default 8: ~12 h of audio)
#
# Python packages missing on that machine travel as wheels in .whl/ (device README, Notes).
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-8}"
out="${OUT:-/tmp}"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
workers="$(nproc)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for precision in off bf16; do
    python3 benchmarks/encode_throughput.py --encoder benchmarks/transformer_encoder.py \
        --workers "$workers" --batch-size 128 --scale "$scale" --autocast "$precision" \
        --workdir /tmp/xares-bench-encode 2>&1 | tee "$out/encode-$precision.txt"
done
