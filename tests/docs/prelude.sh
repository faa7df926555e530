# The docs runner (tests/docs/main.rs) sources this before a page's blocks.
# It starts the real server in the page's own directory and defines the
# helpers that hidden `<!-- docs-test ... -->` blocks use in place of a
# browser. See docs/contributing.md, "Docs that are tested".
#
# Set by the runner: DOCS_URL (the server's address, what the docs call
# http://127.0.0.1:8080), DOCS_SERVER_LOG, and the OAUTHD_* settings the CLI
# and the server share.

DOCS_JAR="$PWD/.docs-cookies"
DOCS_SERVER_PID=""

# Starts `oauthd serve` with the given global options (e.g. --config
# oauthd.toml) and waits until /healthz answers.
docs_start_server() {
  oauthd "$@" serve >>"$DOCS_SERVER_LOG" 2>&1 &
  DOCS_SERVER_PID=$!
  echo "$DOCS_SERVER_PID" >"$PWD/.docs-server.pid"
  for _ in $(seq 1 200); do
    if command curl -fsS -o /dev/null "$DOCS_URL/healthz" 2>/dev/null; then
      return 0
    fi
    kill -0 "$DOCS_SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "docs: the server did not start; its log:" >&2
  cat "$DOCS_SERVER_LOG" >&2
  return 1
}

docs_stop_server() {
  if [ -n "$DOCS_SERVER_PID" ]; then
    kill "$DOCS_SERVER_PID" 2>/dev/null || true
    wait "$DOCS_SERVER_PID" 2>/dev/null || true
    DOCS_SERVER_PID=""
  fi
}

# Stops the server and starts it again with the given options, as a reader
# does after editing the config.
docs_restart_server() {
  docs_stop_server
  docs_start_server "$@"
}

trap docs_stop_server EXIT

# The value of the first hidden form field NAME in the HTML on stdin.
docs_field() {
  sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -n 1
}

# sign_in USER PASSWORD: what a person does at /login, in the cookie jar the
# other helpers use.
sign_in() {
  local csrf status
  rm -f "$DOCS_JAR"
  csrf=$(command curl -fsS -c "$DOCS_JAR" -b "$DOCS_JAR" "$DOCS_URL/login" | docs_field csrf)
  status=$(command curl -sS -o /dev/null -w '%{http_code}' -c "$DOCS_JAR" -b "$DOCS_JAR" \
    --data-urlencode "csrf=$csrf" -d next=/ --data-urlencode "username=$1" \
    --data-urlencode "password=$2" "$DOCS_URL/login")
  if [ "$status" != 303 ]; then
    echo "docs: signing in as $1 answered $status" >&2
    return 1
  fi
}

# approve URL: opens an authorization URL in the signed-in session, clicks
# Approve if the consent page shows, and prints where the browser is sent
# (the client's redirect URI with code, state and iss).
approve() {
  local page request_id csrf location
  location=$(command curl -sS -o /dev/null -w '%{redirect_url}' -c "$DOCS_JAR" -b "$DOCS_JAR" "$1")
  if [ -z "$location" ]; then
    page=$(command curl -fsS -c "$DOCS_JAR" -b "$DOCS_JAR" "$1")
    request_id=$(printf '%s\n' "$page" | docs_field request_id)
    csrf=$(printf '%s\n' "$page" | docs_field csrf)
    if [ -z "$request_id" ]; then
      echo "docs: no consent page at $1:" >&2
      printf '%s\n' "$page" >&2
      return 1
    fi
    location=$(command curl -sS -o /dev/null -w '%{redirect_url}' -c "$DOCS_JAR" -b "$DOCS_JAR" \
      -d "request_id=$request_id" -d "csrf=$csrf" -d decision=approve "$DOCS_URL/oauth/authorize")
  fi
  case "$location" in
    "$DOCS_URL/login"*) echo "docs: not signed in (sent to $location)" >&2; return 1 ;;
  esac
  printf '%s\n' "$location"
}

# visit URL: opens URL in the same browser session as sign_in and approve,
# clicks nothing, and prints where the browser is sent: the Location of a
# redirect, or an empty line when the answer is a page (for prompt=none and
# RP-initiated logout).
visit() {
  command curl -sS -o /dev/null -w '%{redirect_url}\n' -c "$DOCS_JAR" -b "$DOCS_JAR" "$1"
}

# approve_device USER_CODE: what a person does at /device, signed in.
approve_device() {
  local csrf page status
  csrf=$(command curl -fsS -c "$DOCS_JAR" -b "$DOCS_JAR" "$DOCS_URL/device" | docs_field csrf)
  page=$(command curl -fsS -c "$DOCS_JAR" -b "$DOCS_JAR" -d "csrf=$csrf" --data-urlencode "user_code=$1" "$DOCS_URL/device")
  csrf=$(printf '%s\n' "$page" | docs_field csrf)
  status=$(command curl -sS -o /dev/null -w '%{http_code}' -c "$DOCS_JAR" -b "$DOCS_JAR" \
    -d "csrf=$csrf" --data-urlencode "user_code=$1" -d decision=approve "$DOCS_URL/device/decision")
  case "$status" in
    2*|3*) ;;
    *) echo "docs: approving the device answered $status" >&2; return 1 ;;
  esac
}

# Every curl the page runs also leaves its output in $DOCS_LAST, so that a
# hidden block can check what the visible command printed without running
# it twice.
DOCS_LAST="$PWD/.docs-last"
curl() {
  command curl "$@" | tee "$DOCS_LAST"
}

# expect FILTER: the last curl printed JSON for which the jq FILTER is true.
expect() {
  if ! jq -e "$1" "$DOCS_LAST" >/dev/null 2>&1; then
    printf '\ndocs: expected %s in the last answer:\n' "$1" >&2
    cat "$DOCS_LAST" >&2
    return 1
  fi
}

# expect_grep REGEX: a line of the last curl's output matches REGEX (grep -E,
# case-insensitive, for status lines and headers of `curl -i`).
expect_grep() {
  if ! grep -Eqi -- "$1" "$DOCS_LAST"; then
    printf '\ndocs: expected a line matching %s in the last answer:\n' "$1" >&2
    cat "$DOCS_LAST" >&2
    return 1
  fi
}

# The query parameter NAME of the URL on stdin.
query_param() {
  sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p"
}

docs_start_server
# What a reader copies from the first-run message.
ADMIN_PASSWORD=$(sed -n 's/^    \([0-9a-f]\{32\}\)$/\1/p' "$DOCS_SERVER_LOG" | head -n 1)
test -n "$ADMIN_PASSWORD"
