#!/usr/bin/env bash
# Configure Elasticsearch after it starts; run by the elk-elasticsearch-setup Job.
#
# Installs log retention (an ILM policy, the component template of our index settings and
# the index template of the logs data streams) and, with security on, removes the native
# users and roles earlier versions of this stack created: the stack's own users now live in
# the file realm (components/file_realm.py), where no API call can change them.
# Idempotent by construction: every call is an upsert (PUT a policy or template; DELETE only
# what it marked), so a re-run succeeds, a changed retention is applied, and nothing can
# fail with "already exists". It logs in as the file-realm user SETUP_USERNAME, never as
# `elastic`. The password reaches curl through a file descriptor (printf is a shell
# built-in), never through a command line.
#
# Environment: ES_URL, ILM_POLICY_NAME, ILM_POLICY, COMPONENT_TEMPLATE_NAME,
# COMPONENT_TEMPLATE, INDEX_TEMPLATE_NAME, INDEX_TEMPLATE (JSON bodies), DATA_STREAMS (comma-separated patterns) and INDEX_SETTINGS (JSON: the
# dynamic settings for their existing backing indices); with security: SETUP_USERNAME and
# SETUP_PASSWORD, optional CA_CERT (a CA file for https); WAIT_ATTEMPTS and WAIT_SECONDS
# (how long to wait for the cluster).
set -euo pipefail

: "${ES_URL:?}" "${ILM_POLICY_NAME:?}" "${ILM_POLICY:?}" "${INDEX_TEMPLATE_NAME:?}" "${INDEX_TEMPLATE:?}"
: "${COMPONENT_TEMPLATE_NAME:?}" "${COMPONENT_TEMPLATE:?}" "${DATA_STREAMS:?}" "${INDEX_SETTINGS:?}"
if [[ -n "${SETUP_PASSWORD:-}" ]]; then
  : "${SETUP_USERNAME:?}"
fi
attempts="${WAIT_ATTEMPTS:-120}"
pause="${WAIT_SECONDS:-5}"
# es METHOD PATH [BODY]: one request, as SETUP_USERNAME when security is on. Prints the answer.
# On an HTTP error it prints "METHOD PATH refused: HTTP <status>: <Elasticsearch's answer>"
# to stderr and fails: the reason is in the Job's log, not only the status (curl --fail
# would discard the body). `max_time` (seconds, default 30) bounds the whole request and
# --connect-timeout an unanswered connection, so no call can hang the Job.
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
  local code=${response##*$'\n'} answer=${response%$'\n'*}
  if ((code >= 400)); then
    echo "$method $path refused: HTTP $code: $answer" >&2
    return 22
  fi
  printf '%s\n' "$answer"
}

# managed_names JSON: the names in an answer to `GET /_security/{user,role}` filtered to
# `*.metadata.managed_by`, whose marker is this stack's (`{"managed_by":"elk-stack"}`).
# Only names this stack could have created (security.logstashUser is a DNS label) are
# printed.
managed_names() {
  local rest=$1 pattern='"([a-z0-9-]+)":\{"metadata":\{"managed_by":"elk-stack"\}\}'
  while [[ $rest =~ $pattern ]]; do
    printf '%s\n' "${BASH_REMATCH[1]}"
    rest=${rest#*"${BASH_REMATCH[0]}"}
  done
}

echo "waiting for Elasticsearch at $ES_URL"
for ((attempt = 1; ; attempt++)); do
  # The server waits at most 5 s; curl gives up 2 s later, so one attempt never takes longer.
  if output=$(max_time=7 es GET "/_cluster/health?wait_for_status=yellow&timeout=5s" 2>&1); then
    break
  fi
  if [[ "$output" == *"HTTP 401:"* ]]; then
    # Waiting cannot fix a wrong password: say so at once instead of timing out.
    echo "Elasticsearch refused the $SETUP_USERNAME user's password (HTTP 401): $output" >&2
    exit 1
  fi
  if ((attempt >= attempts)); then
    echo "Elasticsearch did not become ready after $attempts attempts: $output" >&2
    exit 1
  fi
  sleep "$pause"
done

echo "writing ILM policy $ILM_POLICY_NAME, component template $COMPONENT_TEMPLATE_NAME and index template $INDEX_TEMPLATE_NAME"
es PUT "/_ilm/policy/$ILM_POLICY_NAME" "$ILM_POLICY"
# Before the index template that composes it: Elasticsearch refuses a missing component.
es PUT "/_component_template/$COMPONENT_TEMPLATE_NAME" "$COMPONENT_TEMPLATE"
es PUT "/_index_template/$INDEX_TEMPLATE_NAME" "$INDEX_TEMPLATE"

# A template shapes only backing indices created after it. The dynamic settings (replicas,
# policy, refresh) also go to the data streams that exist, so a scale-out or retention
# change does not wait for the next rollover. On a data stream this applies to all its
# backing indices; no match is not an error.
echo "applying index settings to existing data streams $DATA_STREAMS"
es PUT "/$DATA_STREAMS/_settings?allow_no_indices=true&ignore_unavailable=true" "$INDEX_SETTINGS"

if [[ -n "${SETUP_PASSWORD:-}" ]]; then
  # Earlier versions of this stack wrote Logstash's user and role through the API, marked as
  # its own. The stack declares no native user or role any more, so every marked one goes;
  # nothing without the marker (users people made, built-in users) is touched.
  echo "removing native users and roles this stack created"
  for kind in user role; do
    answer=$(es GET "/_security/$kind?filter_path=*.metadata.managed_by")
    while read -r name; do
      if [[ -n "$name" ]]; then
        echo "deleting $kind $name"
        es DELETE "/_security/$kind/$name"
      fi
    done <<<"$(managed_names "$answer")"
  done
fi

echo "done"
