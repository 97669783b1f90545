#!/usr/bin/env bash
# apt-ensure.sh PACKAGE WHY: install Debian's PACKAGE (quietly, once) for the tests that need it. Sourced by
# ensure-browser.sh and ensure-postgres.sh after they found the package missing. Without root or apt (a user's
# laptop) it only says so: the tests that need the package then fail with a message naming it.
set -u
package=$1 why=$2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing $package for $why (once)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null) \
    || echo "warning: could not install $package" >&2
else
  echo "warning: no $package found; $why need it" >&2
fi
exit 0
