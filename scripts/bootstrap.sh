#!/usr/bin/env bash
# Create or reuse the virtual environment and install nas-service with its dev tools.
# torch is pinned to 2.13.0 (constraints.txt) so a CPU machine never pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
stamp="$VENV/.nas-installed"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "==> installing nas-service into $VENV (torch pinned to 2.13.0)"
  # pip warns once per package about local index folders this machine's pip config names but lacks: noise.
  quiet() { "$@" 2>&1 | { grep -v "it is neither a file nor a directory" || true; }; }
  quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
  quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
# `nas` lives in the venv: say how to reach it unless this shell already finds that one.
if [ "$(command -v nas 2>/dev/null)" != "$(cd "$VENV/bin" && pwd)/nas" ]; then
  echo "==> the nas command is $VENV/bin/nas; to type just 'nas': source $VENV/bin/activate" >&2
fi
