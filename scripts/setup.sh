#!/usr/bin/env bash
# Set up a fresh machine for tamrin: a virtual environment in .venv with the CPU build of torch,
# tamrin itself, and the real data completed beside the checkout.
#   bash scripts/setup.sh         # to run recipes
#   bash scripts/setup.sh test    # also test tools and headless Chromium (for the report test)
# Idempotent: a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
py=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$py" -m venv .venv
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build on a CPU-only machine.
# On a CUDA machine, install the matching torch wheel first; pip then keeps it.
extras=""
[ "$mode" = test ] && extras="[test]"
.venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0" -e ".${extras}" 2>&1 |
  grep -v -e "^WARNING: Location" -e "is ignored" || true
.venv/bin/python -c "import torch, tamrin; print('tamrin', tamrin.__version__, 'torch', torch.__version__)"

# The shared data root of this workplace (users elsewhere download with `tamrin data fetch NAME`).
if [ -f ../shared/datasets/setup.sh ]; then
  .venv/bin/pip install -q --disable-pip-version-check pillow 2>&1 | grep -v "^WARNING" || true
  bash ../shared/datasets/setup.sh .venv/bin/python
fi

# A Debian package some tests need; without root or apt-get those tests are skipped, with a line.
apt_install() { # PACKAGE WHAT-IS-SKIPPED
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq "$1" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$1" >/dev/null 2>&1; }) ||
      echo "$1: could not be installed; $2 will be skipped" >&2
  else
    echo "$1: not installed (needs root and apt-get); $2 will be skipped" >&2
  fi
}

if [ "$mode" = test ] && [ ! -x /usr/bin/chromium ]; then
  # Headless Chromium renders report.html in one test.
  apt_install chromium "the browser test"
fi

if [ "$mode" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 &&
  ! command -v initdb >/dev/null; then
  # The multi-worker tuning tests start a private PostgreSQL server (initdb + pg_ctl on a free
  # port of 127.0.0.1).
  apt_install postgresql "the PostgreSQL tests"
fi
