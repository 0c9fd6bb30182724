#!/usr/bin/env bash
# The browser tests drive Debian's chromium (no browser download works offline). Install it when missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian chromium for the browser tests"
  (apt-get install -y -q chromium >/dev/null 2>&1) || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)
else
  echo "!! /usr/bin/chromium is missing and cannot be installed here: browser tests will be SKIPPED" >&2
fi
