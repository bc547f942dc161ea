#!/usr/bin/env bash
# An OpenAPI-driven fuzzer (Schemathesis, from PyPI) against a live `tally start`: every
# operation of /openapi.json, positive and negative examples, and methods the document does
# not list. Fails on any disagreement between the document and the server.
#
#   bash scripts/schemathesis.sh [max-examples]     (after `npx tsc -p tsconfig.json`)
#
# Schemathesis goes into a virtualenv under .cache/ (gitignored), installed once with pip from
# PyPI and reused. Needs python3 ≥ 3.9 with venv. The checks are all of Schemathesis' response
# checks but `positive_data_acceptance`: OpenAPI 3.0 cannot say what the server checks across
# parameters or beyond a pattern (from ≤ to, a date that exists, a configured filter name), so
# some values the document allows are a documented 400.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${1:-60}"  # ST_MAX_TIME (seconds, default 150) bounds the run
VENV=.cache/schemathesis-venv
VERSION=4.32.5
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi
DATA=$(mktemp -d /tmp/tally-st-XXXXXX)
LOG="$DATA/server.log"
node bin/tally.js --data-dir "$DATA/data" start --port 0 2>"$LOG" &
PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
BASE=""
for _ in $(seq 1 100); do
  BASE=$(grep -o 'serving on http://[0-9.:]*' "$LOG" | head -1 | sed 's/serving on //') || true
  [ -n "$BASE" ] && break
  sleep 0.1
done
[ -n "$BASE" ] || { cat "$LOG"; echo "tally start did not come up" >&2; exit 1; }
# Schemathesis keeps its example database in the working directory: under .cache/, not the repo
cd .cache
"schemathesis-venv/bin/st" run "$BASE/openapi.json" \
  --url "$BASE" \
  --checks all \
  --exclude-checks positive_data_acceptance,ignored_auth,use_after_free,ensure_resource_availability,object_level_authorization \
  --mode all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$EXAMPLES" \
  --seed 1 \
  --no-color \
  --max-time "${ST_MAX_TIME:-150}"
