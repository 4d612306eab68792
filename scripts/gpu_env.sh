# Source on a GPU machine that has torch but not the notebook stack: `source scripts/gpu_env.sh` (repository root).
# Installs the Python 3.12 wheels in git-ignored .whl/ (papermill, jupytext, nbclient, ipykernel and their needs,
# myst-nb and docutils for the chapters' glue) into .cache/gpu-env/site, builds elasticdeform from its source
# archive there into .cache/gpu-env/src (both git-ignored), and puts both and the repository on the path.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target .cache/gpu-env/site .whl/*.whl &&
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target .cache/gpu-env/src \
    .whl/elasticdeform-*.tar.gz &&
export PYTHONPATH=$PWD/.cache/gpu-env/site:$PWD/.cache/gpu-env/src:$PWD PATH=$PWD/.cache/gpu-env/site/bin:$PATH \
    PYTHONUNBUFFERED=1
