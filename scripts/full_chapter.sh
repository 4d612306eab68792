#!/usr/bin/env bash
# Run one chapter's full preset on a lent GPU machine within a deadline, and bring back what it wrote.
#
#   SCPAPER_COMMIT=<sha> bash scripts/full_chapter.sh CHAPTER [SECONDS [RUN ARGS ...]]   # repository root
#
# One prepared command per device call (carry .whl; see README, "Full scale on a GPU"):
# - installs the notebook stack from .whl/ unless papermill is already importable (scripts/gpu_env.sh);
# - uses full CIFAR-10 under $HOME/scdata when its chunks were copied there (joined once, then reused);
# - keeps the cache in $HOME/sccache, outside the copied tree, so a second call on the same warm machine loads
#   every step the first one stored and finishes a chapter that the deadline stopped;
# - runs `python -m scpaper run CHAPTER --scale full --device cuda --no-stage` until it ends or SECONDS (default
#   470) have passed, with any RUN ARGS after it (e.g. --device cpu --dry-run to rehearse on a CPU);
# - copies every file the run wrote under results/ (the executed notebook, its claims and provenance.json, or
#   the partial notebook of a stopped run) and the cell times into $OUT, because the next call's copy of the
#   working tree replaces results/full/.
set -u
chapter=${1:?usage: bash scripts/full_chapter.sh CHAPTER [SECONDS [RUN ARGS ...]]}
budget=${2:-470}
shift $(( $# > 1 ? 2 : 1 ))
out=${OUT:?set OUT to the folder whose files come back}
stamp() { echo "[$SECONDS s] $*"; }

python3 -c "import papermill" 2>/dev/null || source scripts/gpu_env.sh || exit 1
data=$HOME/scdata
if [ -d "$data" ]; then
    stamp "joining the staged data in $data"
    python3 scripts/stage_full_data.py --join "$data" || exit 1
    export SCPAPER_DATA=$data
fi
export SCPAPER_CACHE=${SCPAPER_CACHE:-$HOME/sccache} SCPAPER_THREADS=${SCPAPER_THREADS:-$(nproc)}
marker=$(mktemp)
stamp "chapter $chapter at full, at most $((budget - SECONDS)) s (cache $SCPAPER_CACHE, data ${SCPAPER_DATA:-committed})"
timeout -s TERM $((budget - SECONDS)) python3 -m scpaper run "$chapter" --scale full --device cuda --no-stage "$@"
status=$?
stamp "exit status $status (124: stopped at the deadline)"
find results -type f -newer "$marker" -exec cp {} "$out"/ \;
python3 scripts/cell_times.py $(find results -name "*.ipynb" -newer "$marker") > "$out/cell_times.txt" 2>&1
ls -la "$out"
exit $status
