#!/usr/bin/env bash
# Configure Elasticsearch after it starts; run by the elk-elasticsearch-setup Job.
#
# Installs log retention (an ILM policy and the index template of the logs data stream)
# and, with security on, the stack's users. Idempotent by construction: every call is an
# upsert (PUT a policy, template, role or user; set a password), so a re-run succeeds, a
# changed password or retention is applied, and nothing can fail with "already exists".
# Passwords reach curl through file descriptors (printf is a shell built-in), never
# through a command line.
#
# Environment: ES_URL, ILM_POLICY_NAME, ILM_POLICY, INDEX_TEMPLATE_NAME, INDEX_TEMPLATE
# (JSON bodies); with security: ELASTIC_PASSWORD, KIBANA_PASSWORD, LOGSTASH_USER,
# LOGSTASH_PASSWORD, LOGSTASH_INDICES (a JSON array of patterns), optional CA_CERT (a CA
# file for https); WAIT_ATTEMPTS and WAIT_SECONDS (how long to wait for the cluster).
set -euo pipefail

: "${ES_URL:?}" "${ILM_POLICY_NAME:?}" "${ILM_POLICY:?}" "${INDEX_TEMPLATE_NAME:?}" "${INDEX_TEMPLATE:?}"
if [[ -n "${ELASTIC_PASSWORD:-}" ]]; then
  : "${KIBANA_PASSWORD:?}" "${LOGSTASH_USER:?}" "${LOGSTASH_PASSWORD:?}" "${LOGSTASH_INDICES:?}"
fi
attempts="${WAIT_ATTEMPTS:-120}"
pause="${WAIT_SECONDS:-5}"

# es METHOD PATH [BODY]: one request, as `elastic` when security is on; fails on HTTP errors.
es() {
  local method=$1 path=$2 body=${3:-}
  local options=(--silent --show-error --fail --max-time 30 -X "$method" -H 'Content-Type: application/json')
  if [[ -n "${CA_CERT:-}" ]]; then
    options+=(--cacert "$CA_CERT")
  fi
  local status=0
  # Process substitutions stay open only for the command they appear in: keep them on
  # the curl line itself.
  if [[ -n "${ELASTIC_PASSWORD:-}" ]]; then
    curl "${options[@]}" -K <(printf 'user = "elastic:%s"\n' "$ELASTIC_PASSWORD") \
      --data-binary @<(printf '%s' "$body") "$ES_URL$path" || status=$?
  else
    curl "${options[@]}" --data-binary @<(printf '%s' "$body") "$ES_URL$path" || status=$?
  fi
  echo
  return "$status"
}

echo "waiting for Elasticsearch at $ES_URL"
for ((attempt = 1; ; attempt++)); do
  if output=$(es GET "/_cluster/health?wait_for_status=yellow&timeout=5s" 2>&1); then
    break
  fi
  if [[ "$output" == *"error: 401"* ]]; then
    # Waiting cannot fix a wrong password: say so at once instead of timing out.
    echo "Elasticsearch refused the elastic user's password (HTTP 401): $output" >&2
    exit 1
  fi
  if ((attempt >= attempts)); then
    echo "Elasticsearch did not become ready after $attempts attempts: $output" >&2
    exit 1
  fi
  sleep "$pause"
done

echo "writing ILM policy $ILM_POLICY_NAME and index template $INDEX_TEMPLATE_NAME"
es PUT "/_ilm/policy/$ILM_POLICY_NAME" "$ILM_POLICY"
es PUT "/_index_template/$INDEX_TEMPLATE_NAME" "$INDEX_TEMPLATE"

if [[ -n "${ELASTIC_PASSWORD:-}" ]]; then
  echo "setting the kibana_system password"
  es POST /_security/user/kibana_system/_password "$(printf '{"password":"%s"}' "$KIBANA_PASSWORD")"

  echo "writing role and user $LOGSTASH_USER"
  es PUT "/_security/role/$LOGSTASH_USER" "$(printf '{"cluster":["monitor"],"indices":[{"names":%s,"privileges":["create_doc","auto_configure"]}]}' "$LOGSTASH_INDICES")"
  es PUT "/_security/user/$LOGSTASH_USER" "$(printf '{"password":"%s","roles":["%s"],"full_name":"Logstash writer"}' "$LOGSTASH_PASSWORD" "$LOGSTASH_USER")"
fi

echo "done"
