#!/bin/sh
# Regenerates src/rust/core/tests/fixtures/rdp-*.csv (see tools/accountant-fixture.py)
# in a virtual environment with pinned versions, made at $1 (default: a new
# temporary directory). opacus is installed without its dependencies: only its RDP
# analysis file is used, so torch is not needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$(mktemp -d)/venv}
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet numpy==2.4.6 scipy==1.17.1 mpmath==1.4.1 absl-py==2.5.1 attrs==23.2.0 \
    dm-tree==0.1.10 dp-accounting==0.6.0
"$venv/bin/pip" install --quiet --no-deps opacus==1.6.0
"$venv/bin/python" "$here/accountant-fixture.py"
