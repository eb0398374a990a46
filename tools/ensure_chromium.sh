#!/usr/bin/env sh
# `make test` calls this before the suite: the report test renders the quality report in headless
# Chromium (Debian's package). Install it when the machine lacks it and we may (root with apt-get,
# as on CI); otherwise stop with one line saying what to install.
set -eu
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"  # the path the report test runs
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "installing chromium (headless browser for the report test) with apt-get..."
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
            >/dev/null); then
        exit 0
    fi
fi
echo "make test needs chromium for the report test: run 'sudo apt-get install -y chromium' (Debian/Ubuntu) and retry" >&2
exit 2
