#!/usr/bin/env bash
# The CUDA round trip, on a machine with a GPU and torch, numpy, scipy, pytest
# and hypothesis already installed (npext itself is used from the checkout).
# Prints the versions, then runs the tests that are skipped without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="src:.${PYTHONPATH:+:$PYTHONPATH}"
python3 - <<'PY'
import numpy, scipy, torch
print("torch", torch.__version__, "numpy", numpy.__version__, "scipy", scipy.__version__)
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
PY
python3 -m pytest -p no:cacheprovider -q -rA tests/test_cuda.py "$@"
