#!/usr/bin/env bash
# The project's test command (README and .ci/run both call it): the Python suite against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pytest -q "$@"
