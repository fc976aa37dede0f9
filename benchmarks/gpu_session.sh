#!/usr/bin/env bash
# Every GPU number of benchmarks/README.md in one script (one lent H100 session, about 7 minutes): CUDA-only tests,
# the training step of the paper model (fp32, bf16 channels-last, and the whole bf16 step as one CUDA graph; with
# component times and operator profiles), the memory/launch knobs (loss.scales_per_pass, loss.recompute,
# model.decoder_recompute_stages), batch 12 and 1024x320, inference latency and offline throughput.
# Usage: OUT=results_dir bash benchmarks/gpu_session.sh   (PYTHONPATH must reach src/, or tcdepth be installed)
set -u
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
BENCH="python3 benchmarks/bench_train_step.py"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/inference/test_cuda_graph.py tests/models/test_attention.py \
    2>&1 | tail -4
timeout 90 $BENCH --settings plain bf16_channels_last bf16_channels_last_cuda_graph --breakdown --profile "$OUT" \
    --warmup 2 --iters 8 | tee "$OUT/train_b6.jsonl"
# A/B of the memory and launch knobs against the default above (loss.scales_per_pass=4): every decoder stage
# recomputed, then with two scales per pass, then each pass recomputed too (5.11, 4.90 and 4.56 GiB on the CPU
# measure, benchmarks/README.md "Memory and launches").
for knobs in "model.decoder_recompute_stages=4" "loss.scales_per_pass=2 model.decoder_recompute_stages=4" \
        "loss.scales_per_pass=2 loss.recompute=true model.decoder_recompute_stages=4"; do
    timeout 75 $BENCH --settings bf16_channels_last --memory --warmup 2 --iters 8 --set $knobs \
        | tee -a "$OUT/train_knobs.jsonl"
done
timeout 60 $BENCH --no-train --inference --warmup 3 --iters 20 | tee "$OUT/inference.jsonl"
timeout 40 python3 benchmarks/bench_attention_memory.py --device cuda --repeats 3 | tee "$OUT/attention.jsonl"
for size in "--batch 12" "--height 320 --width 1024"; do
    timeout 45 $BENCH $size --settings bf16_channels_last bf16_channels_last_cuda_graph --warmup 1 --iters 4 \
        | tee -a "$OUT/train_large.jsonl"
done
