#!/usr/bin/env bash
# The report test renders report.html in a real headless browser; install Debian's Chromium when it is missing.
# Without root or apt (a user's laptop) we only say so: that one test then fails with a message naming chromium.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
command -v chromium-browser >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report test (once)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium" >&2
else
  echo "warning: no chromium found; the headless report test needs it" >&2
fi
exit 0
