#!/usr/bin/env bash
# The JavaScript client (node's test runner) and the dashboard in headless
# Chromium, both against the real queuecastd. Installs playwright-core from
# the lock file when missing; the browser is Debian's /usr/bin/chromium.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
{ [ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ]; } || npm ci --no-audit --no-fund --loglevel=error
# --test-force-exit: a test file whose test failed ends then, rather than at
# --test-timeout while something it started (a daemon, a browser) still runs;
# daemon.mjs and raw_chromium.mjs kill what they started when a file exits.
node --experimental-websocket --no-warnings --test --test-concurrency=1 --test-force-exit --test-timeout=120000 client_token.test.mjs client.test.mjs dashboard.test.mjs dashboard_safety.test.mjs deflate.test.mjs operator.test.mjs filter.test.mjs sse.test.mjs charts.test.mjs a11y.test.mjs visibility.test.mjs
echo "web: screenshots in tests/web/artifacts/"
