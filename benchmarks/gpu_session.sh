#!/usr/bin/env bash
# Every GPU number of benchmarks/README.md in one script (one lent H100 session): CUDA-only tests, the training step
# of the paper model (eager settings with component times and an operator profile, the whole step as a CUDA graph),
# batch 12, 1024x320, inference latency and offline throughput.
# Usage: OUT=results_dir bash benchmarks/gpu_session.sh   (PYTHONPATH must reach src/, or tcdepth be installed)
set -u
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
BENCH="python3 benchmarks/bench_train_step.py"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/inference/test_cuda_graph.py tests/models/test_attention.py \
    2>&1 | tail -4
timeout 120 $BENCH --settings plain bf16_channels_last --breakdown --profile "$OUT" --warmup 2 --iters 6 \
    | tee "$OUT/train_b6.jsonl"
timeout 60 $BENCH --settings bf16_channels_last_cuda_graph --warmup 2 --iters 10 | tee -a "$OUT/train_b6.jsonl"
timeout 90 $BENCH --no-train --inference --warmup 3 --iters 20 | tee "$OUT/inference.jsonl"
for size in "--batch 12" "--height 320 --width 1024"; do
    timeout 90 $BENCH $size --settings bf16_channels_last bf16_channels_last_cuda_graph --warmup 1 --iters 4 \
        | tee -a "$OUT/train_large.jsonl"
done
