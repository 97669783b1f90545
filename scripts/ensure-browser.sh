#!/usr/bin/env bash
# The report and explorer tests render pages in a real headless browser; install Debian's Chromium when it is
# missing.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
command -v chromium-browser >/dev/null 2>&1 && exit 0
exec bash "$(dirname "$0")/apt-ensure.sh" chromium "the headless report tests"
