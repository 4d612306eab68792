#!/usr/bin/env bash
# Time the GPU benchmarks and the chapters' full presets in one bounded command.
#
#   SCPAPER_COMMIT=<sha> bash scripts/full_scale_probe.sh [SECONDS [CHAPTER ...]]   # on a GPU machine, repository root
#
# For a lent GPU machine that has torch but not the notebook stack: scripts/gpu_env.sh installs it first from .whl/.
# The LASSO and SDNet benchmarks run alone on the GPU (SCPAPER_PROBE_BENCHMARKS=0 skips them); then
# the chapters (default 1 2 3 4) run side by side, sharing the cores, each until it ends or SECONDS (default 500)
# have passed since the start. A chapter stopped at the deadline leaves its notebook as far as it got
# (results/full/.<chapter>.partial.ipynb, saved by papermill at least every 30 s, with each finished cell's
# duration; scripts/cell_times.py prints them). Logs and results are packed into $OUT/full_scale_probe.tgz.
set -u
budget=${1:-500}
shift $(( $# > 0 ? 1 : 0 ))
chapters=${*:-1 2 3 4}
out=${OUT:-.cache/full_scale_probe}  # $OUT on a lent GPU machine
mkdir -p "$out/logs"
stamp() { echo "[$SECONDS s] $*"; }

stamp "installing the notebook stack"
source scripts/gpu_env.sh || exit 1
export SCPAPER_CACHE=$PWD/.cache/full_scale_probe/cache  # emptied first: every step is timed from a cold cache
rm -rf "$SCPAPER_CACHE"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, papermill; print('torch', torch.__version__, torch.cuda.get_device_name(0), '| papermill', papermill.__version__)" || exit 1

chapter() {  # chapter NUMBER THREADS: run it at full scale on the GPU until it ends or the deadline passes
    local left=$((budget - SECONDS))
    stamp "chapter $1 starts ($2 threads, at most $left s)"
    SCPAPER_THREADS=$2 timeout -s TERM "$left" python3 -m scpaper run "$1" --scale full --device cuda --no-stage \
        > "$out/logs/chapter$1.log" 2>&1
    stamp "chapter $1 ended with exit status $? (124: stopped at the deadline)"
}

if [ "${SCPAPER_PROBE_BENCHMARKS:-1}" = 1 ]; then
    stamp "benchmarks/lasso.py --full"
    timeout 150 python3 benchmarks/lasso.py --device cuda --full --threads 2 2>&1 | tee "$out/logs/bench_lasso.log"
    stamp "benchmarks/sdnet.py at width 64"
    timeout 90 python3 benchmarks/sdnet.py --width 64 --device cuda --rounds 5 2>&1 | tee "$out/logs/bench_sdnet.log"
    stamp "CUDA test"
    timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_lasso.py::test_cuda_matches_cpu 2>&1 | tail -3
fi
set -- $chapters
threads=$(( $(nproc) / $# > 0 ? $(nproc) / $# : 1 ))
for c in $chapters; do chapter "$c" "$threads" & done
wait
pkill -f ipykernel_launcher  # kernels of chapters stopped at the deadline
stamp "packing"
tail -n 3 "$out"/logs/chapter*.log
python3 scripts/cell_times.py $(ls results/full/*.ipynb results/full/.*.partial.ipynb 2>/dev/null) | tee "$out/logs/cell_times.txt"
tar czf "$out/full_scale_probe.tgz" -C . results/full "$out/logs" 2>/dev/null
ls -la "$out"
