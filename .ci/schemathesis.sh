#!/usr/bin/env bash
# Runs schemathesis against a real oauthd with openapi.json: every answer
# must be described by the document (status, content type, body schema,
# headers) and none may be a 5xx. Exits non-zero on any failure.
#
# Two runs, each on a fresh database and a free loopback port:
# - SQLite, abuse limits off (so fuzzing reaches the handlers instead of
#   bouncing off 429s), JSON token answers, authenticating as a client made
#   with `oauthd client add` (authorization_code and refresh_token), and
#   registration under the `token` policy (an initial access token);
# - Postgres, the default limits on (so the 429s operators will see are
#   checked too), form-encoded token answers (`tokens.response_format =
#   "form"`), authenticating as a client registered over HTTP (RFC 7591 JSON)
#   for the client_credentials grant, so the token endpoint also issues;
#   registration `open`.
# Both runs use a personal access token made with `oauthd token create` for
# the bearer scheme.
#
# Needs python3 (schemathesis goes into a venv under target/, pinned by
# .ci/requirements-schemathesis.txt), curl, psql, and TEST_DATABASE_URL naming
# a Postgres server where it may create databases.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/schemathesis-venv
requirements=.ci/requirements-schemathesis.txt
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "schemathesis: installing $(grep '^schemathesis==' "$requirements") into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

cargo build --locked --quiet --bin oauthd
bin="$PWD/target/debug/oauthd"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
checks="${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,missing_required_header,unsupported_method,allow_header_conformance,ignored_auth,use_after_free,ensure_resource_availability}"

work="$(mktemp -d)"
server=""
pg_db=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then
    psql -q "$TEST_DATABASE_URL" -c "drop database if exists \"$pg_db\" with (force)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

json_field() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# fuzz NAME DATABASE_URL LIMITS_ENABLED TOKEN_RESPONSE_FORMAT CLIENT_FROM(cli|http) REGISTRATION_POLICY
fuzz() {
  local name="$1" url="$2" limits="$3" format="$4" client_from="$5" policy="$6" port
  port="$(free_port)"
  export DATABASE_URL="$url"
  export OAUTHD_LISTEN="127.0.0.1:$port"
  export OAUTHD_PUBLIC_URL="http://127.0.0.1:$port"
  export OAUTHD_LIMITS__ENABLED="$limits"
  export OAUTHD_TOKENS__RESPONSE_FORMAT="$format"
  export OAUTHD_REGISTRATION__POLICY="$policy"
  # Under the `token` policy, registration needs this initial access token;
  # schemathesis sends it for the initialAccessToken scheme (and checks
  # that leaving it out gets the documented 401).
  FUZZ_INITIAL_TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
  export FUZZ_INITIAL_TOKEN
  export OAUTHD_REGISTRATION__INITIAL_ACCESS_TOKEN="\"$FUZZ_INITIAL_TOKEN\""
  export OAUTHD_ACCOUNTS__CREATE_ADMIN_ON_FIRST_RUN=false
  # /metrics on the main listener (the one config line that keeps the
  # pre-default behaviour), so the fuzzer reaches the documented 200 too.
  export OAUTHD_METRICS__LISTEN=""
  export OAUTHD_LOG__LEVEL="${FUZZ_LOG_LEVEL:-warn}"

  "$bin" migrate
  local client
  client="$("$bin" client add --name schemathesis --redirect-uri https://app.example/cb --json)"
  FUZZ_CLIENT_ID="$(json_field client_id <<<"$client")"
  FUZZ_CLIENT_SECRET="$(json_field client_secret <<<"$client")"
  printf 'schemathesis fuzzing\n' | "$bin" user add fuzzer --password-stdin
  FUZZ_TOKEN="$("$bin" token create --user fuzzer --scope account:read --json | json_field token)"

  "$bin" serve >"$work/$name.log" 2>&1 &
  server=$!
  local ready=""
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "schemathesis: oauthd did not become ready on 127.0.0.1:$port:" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi

  if [ "$client_from" = http ]; then
    client="$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $FUZZ_INITIAL_TOKEN" \
      -d '{"client_name":"schemathesis","grant_types":["client_credentials"]}' \
      "http://127.0.0.1:$port/api/client")"
  fi
  FUZZ_CLIENT_ID="$(json_field client_id <<<"$client")"
  FUZZ_CLIENT_SECRET="$(json_field client_secret <<<"$client")"
  export FUZZ_CLIENT_ID FUZZ_CLIENT_SECRET FUZZ_TOKEN

  echo "schemathesis: $name (limits enabled: $limits, token answers: $format, client from: $client_from, registration: $policy) on 127.0.0.1:$port"
  local status=0
  SCHEMATHESIS_HOOKS=.ci/schemathesis_hooks.py timeout 600 "$venv/bin/schemathesis" --no-color --config-file .ci/schemathesis.toml run openapi.json \
    --url "http://127.0.0.1:$port" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --workers 2 \
    --request-timeout 20 \
    --suppress-health-check all \
    --seed "${SCHEMATHESIS_SEED:-8}" \
    --report har --report-dir "$work/report" || status=$?
  if [ -n "${SCHEMATHESIS_KEEP_REPORT:-}" ]; then cp -r "$work/report" "$SCHEMATHESIS_KEEP_REPORT-$name"; fi

  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
  if grep -qE 'ERROR|panicked' "$work/$name.log"; then
    echo "schemathesis: the server logged errors during the $name run:" >&2
    grep -E 'ERROR|panicked' "$work/$name.log" | head -20 >&2
    status=1
  fi
  if [ "$status" -ne 0 ]; then
    echo "schemathesis: $name run failed" >&2
    exit "$status"
  fi
}

fuzz sqlite "sqlite://$work/oauthd.db" false json cli token

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  echo "schemathesis: TEST_DATABASE_URL is not set; the Postgres run needs it" >&2
  exit 1
fi
pg_db="oauthd_fuzz_$(date +%s)_$$"
psql -q "$TEST_DATABASE_URL" -c "create database \"$pg_db\"" >/dev/null
pg_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$TEST_DATABASE_URL" "$pg_db")"
fuzz postgres "$pg_url" true form http open
echo "schemathesis: ok"
