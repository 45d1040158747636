# Sourced by the Job scripts (setup, restore, snapshot before a change): how they talk to
# Elasticsearch, and how they read its JSON answers.
#
# Requests go one at a time through `es`, as the Job's file-realm user (SETUP_USERNAME,
# never `elastic`) when SETUP_PASSWORD is set. The password reaches curl through a file
# descriptor (printf is a shell built-in), never through a command line. An answer of
# HTTP 400 or more is printed with Elasticsearch's reason (and the user, for 401 and 403)
# and fails the call.
#
# The Elasticsearch image has bash and curl but no JSON parser (no jq, no Python), so the
# answers are read with the regular expressions of the `json_*` functions below, and
# nowhere else; Elasticsearch answers compact JSON, which is what they expect.
#
# Environment: ES_URL; with security SETUP_USERNAME and SETUP_PASSWORD; optional CA_CERT (a
# CA file for https); WAIT_ATTEMPTS and WAIT_SECONDS (how long `wait_for_cluster` waits).

# es METHOD PATH [BODY]: one request. Prints the answer. On an HTTP error it prints
# "METHOD PATH refused: HTTP <status>: <Elasticsearch's answer>" to stderr and fails: the
# reason is in the Job's log, not only the status (curl --fail would discard the body).
# `max_time` (seconds, default 30) bounds the whole request and --connect-timeout an
# unanswered connection, so no call can hang the Job.
es() {
  local method=$1 path=$2 body=${3:-}
  local options=(--silent --show-error --globoff --connect-timeout 5 --max-time "${max_time:-30}"
    --write-out '\n%{http_code}' -X "$method" -H 'Content-Type: application/json')
  if [[ -n "${CA_CERT:-}" ]]; then
    options+=(--cacert "$CA_CERT")
  fi
  local response status=0
  # Process substitutions stay open only for the command they appear in: keep them on
  # the curl line itself.
  if [[ -n "${SETUP_PASSWORD:-}" ]]; then
    response=$(curl "${options[@]}" -K <(printf 'user = "%s:%s"\n' "$SETUP_USERNAME" "$SETUP_PASSWORD") \
      --data-binary @<(printf '%s' "$body") "$ES_URL$path") || status=$?
  else
    response=$(curl "${options[@]}" --data-binary @<(printf '%s' "$body") "$ES_URL$path") || status=$?
  fi
  if ((status != 0)); then
    return "$status"
  fi
  local code=${response##*$'\n'} answer=${response%$'\n'*} who=""
  if ((code == 401 || code == 403)) && [[ -n "${SETUP_USERNAME:-}" ]]; then
    who=" (user $SETUP_USERNAME)"
  fi
  if ((code >= 400)); then
    echo "$method $path refused: HTTP $code: $answer$who" >&2
    return 22
  fi
  printf '%s\n' "$answer"
}

# exists PATH: whether GET PATH finds it (HTTP 200) or not (HTTP 404); any other answer is
# logged with its reason and fails the script.
exists() {
  local output
  if output=$(es GET "$1" 2>&1 >/dev/null); then
    return 0
  elif [[ "$output" == *"refused: HTTP 404:"* ]]; then
    return 1
  fi
  echo "$output" >&2
  exit 1
}

# wait_for_cluster: until the cluster answers with at least a yellow status. Waiting fixes
# neither a wrong password (401) nor a missing privilege (403): those stop the Job at once.
wait_for_cluster() {
  local attempts="${WAIT_ATTEMPTS:-120}" pause="${WAIT_SECONDS:-5}" attempt output
  echo "waiting for Elasticsearch at $ES_URL"
  for ((attempt = 1; ; attempt++)); do
    # The server waits at most 5 s; curl gives up 2 s later, so one attempt never takes longer.
    if output=$(max_time=7 es GET "/_cluster/health?wait_for_status=yellow&timeout=5s" 2>&1); then
      return 0
    fi
    if [[ "$output" == *"HTTP 401:"* ]]; then
      echo "Elasticsearch refused the $SETUP_USERNAME user's password (HTTP 401): $output" >&2
      exit 1
    fi
    if [[ "$output" == *"HTTP 403:"* ]]; then
      echo "Elasticsearch knows the $SETUP_USERNAME user but refuses it this request (HTTP 403): its" \
        "role lacks a privilege, which waiting cannot give it: $output" >&2
      exit 1
    fi
    if ((attempt >= attempts)); then
      echo "Elasticsearch did not become ready after $attempts attempts: $output" >&2
      exit 1
    fi
    sleep "$pause"
  done
}

# apply_index_settings: the dynamic settings (replicas, policy, refresh) to the data
# streams that exist, so a scale-out or retention change does not wait for the next
# rollover. On a data stream this applies to all its backing indices; no match is not an
# error. Environment: DATA_STREAMS (comma-separated patterns), INDEX_SETTINGS (JSON).
apply_index_settings() {
  echo "applying index settings to existing data streams $DATA_STREAMS"
  es PUT "/$DATA_STREAMS/_settings?allow_no_indices=true&ignore_unavailable=true" "$INDEX_SETTINGS"
}

# json_matches PATTERN JSON: each match of PATTERN in JSON, in order, its groups on one
# line separated by spaces. The one loop every reader below goes through.
json_matches() {
  local rest=$2 group line
  while [[ $rest =~ $1 ]]; do
    line=""
    for ((group = 1; group < ${#BASH_REMATCH[@]}; group++)); do
      line+="${line:+ }${BASH_REMATCH[group]}"
    done
    printf '%s\n' "$line"
    rest=${rest#*"${BASH_REMATCH[0]}"}
  done
}

# json_strings KEY JSON: every string value of KEY in JSON, one per line, in order.
json_strings() {
  json_matches "\"$1\":\"([^\"]*)\"" "$2"
}

# json_number KEY JSON: the first number value of KEY in JSON; fails when there is none.
json_number() {
  local pattern="\"$1\":(-?[0-9]+)"
  [[ $2 =~ $pattern ]] && printf '%s\n' "${BASH_REMATCH[1]}"
}

# json_snapshots JSON: "<name> <state>" per snapshot of a `_snapshot/<repository>/_all`
# answer filtered to `snapshots.snapshot,snapshots.state`, in the answer's order.
json_snapshots() {
  json_matches '\{"snapshot":"([^"]+)","state":"([A-Z_]+)"\}' "$1"
}

# json_managed_names JSON: the names in an answer to `GET /_security/{user,role}` filtered
# to `*.metadata.managed_by`, whose marker is this stack's (`{"managed_by":"elk-stack"}`).
# Only names this stack could have created (security.logstashUser is a DNS label).
json_managed_names() {
  json_matches '"([a-z0-9-]+)":\{"metadata":\{"managed_by":"elk-stack"\}\}' "$1"
}

# json_array KEY JSON: the string items of KEY's array in JSON, one per line.
json_array() {
  local pattern="\"$1\":[[:space:]]*\\[([^]]*)\\]" item items
  [[ $2 =~ $pattern ]] || return 0
  items=${BASH_REMATCH[1]//[\" ]/}
  for item in ${items//,/ }; do
    printf '%s\n' "$item"
  done
}

# json_with_array KEY ITEMS JSON: JSON with KEY's array replaced by ITEMS (strings, one
# argument of space-separated words); JSON unchanged when it has no such array.
json_with_array() {
  local pattern="\"$1\":[[:space:]]*\\[[^]]*\\]" quoted="" item
  for item in $2; do
    quoted+="${quoted:+,}\"$item\""
  done
  if [[ $3 =~ $pattern ]]; then
    printf '%s\n' "${3/"${BASH_REMATCH[0]}"/"\"$1\":[$quoted]"}"
  else
    printf '%s\n' "$3"
  fi
}
