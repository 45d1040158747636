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
# (how long to wait for the cluster). Snapshots: SNAPSHOT_REPOSITORY_NAME and SLM_POLICY_NAME,
# with SNAPSHOT_REPOSITORY (the body of PUT _snapshot) when a repository is configured and
# SLM_POLICY (the body of PUT _slm/policy) when the stack writes to it. A new stack that
# starts from a snapshot (snapshots.restoreFrom): RESTORE_SNAPSHOT (a name, or `latest`),
# RESTORE_REQUEST (the body of POST _restore), RESTORED_MARKER (the cluster setting that
# records the restore) and RESTORE_MAX_SECONDS (how long the restore may take).
set -euo pipefail

: "${ES_URL:?}" "${SNAPSHOT_REPOSITORY_NAME:?}"
if [[ -n "${SETUP_PASSWORD:-}" ]]; then
  : "${SETUP_USERNAME:?}"
fi
# SNAPSHOT_BEFORE_CHANGE selects the snapshot Job's mode (see snapshot_before_change).
if [[ -n "${SNAPSHOT_BEFORE_CHANGE:-}" ]]; then
  : "${TARGET_VERSION:?}" "${NODE_NAMES:?}"
else
  : "${ILM_POLICY_NAME:?}" "${ILM_POLICY:?}" "${INDEX_TEMPLATE_NAME:?}" "${INDEX_TEMPLATE:?}"
  : "${COMPONENT_TEMPLATE_NAME:?}" "${COMPONENT_TEMPLATE:?}" "${DATA_STREAMS:?}" "${INDEX_SETTINGS:?}"
  : "${SLM_POLICY_NAME:?}"
  if [[ -n "${RESTORE_SNAPSHOT:-}" ]]; then
    : "${SNAPSHOT_REPOSITORY:?}" "${RESTORE_REQUEST:?}" "${RESTORED_MARKER:?}" "${RESTORE_MAX_SECONDS:?}"
  fi
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

# snapshot_before_change: the snapshot Job's mode, before a version change or a node set
# removal. A snapshot is taken only while a node runs another version than TARGET_VERSION
# or has a name outside NODE_NAMES (a regex of the declared node sets' pod names): only
# then will the change restart or remove something. On a first deploy, or once the change
# is done, nothing is at risk and the Job succeeds at once. A re-run finds its snapshot
# and only waits for it. Any other end than SUCCESS fails the Job, and with it the deploy,
# before a StatefulSet is updated.
snapshot_before_change() {
  local pending="" nodes node version answer state
  nodes=$(es GET "/_cat/nodes?h=name,version")
  while read -r node version; do
    if [[ -n "$node" && ("$version" != "$TARGET_VERSION" || ! "$node" =~ $NODE_NAMES) ]]; then
      pending+=" $node ($version)"
    fi
  done <<<"$nodes"
  if [[ -z "$pending" ]]; then
    echo "every node runs $TARGET_VERSION in a declared node set: nothing to snapshot"
    return 0
  fi
  echo "about to change:$pending"
  if ! exists "/_snapshot/$SNAPSHOT_REPOSITORY_NAME"; then
    echo "no snapshot before the change: repository $SNAPSHOT_REPOSITORY_NAME is not registered. Were" \
      "snapshots enabled in this same deploy? Deploy them first, then the change; or set" \
      "elasticsearch.snapshots.beforeUpgrade false. No Elasticsearch pod has been touched." >&2
    exit 1
  fi
  local path="/_snapshot/$SNAPSHOT_REPOSITORY_NAME/$SNAPSHOT_BEFORE_CHANGE"
  if ! exists "$path"; then
    echo "taking snapshot $SNAPSHOT_BEFORE_CHANGE in repository $SNAPSHOT_REPOSITORY_NAME"
    es PUT "$path" '{"include_global_state":true,"metadata":{"taken_by":"elk-stack","reason":"before a change"}}' >/dev/null
  fi
  for ((attempt = 1; ; attempt++)); do
    answer=$(es GET "$path")
    state=""
    if [[ $answer =~ \"state\":\"([A-Z_]+)\" ]]; then
      state=${BASH_REMATCH[1]}
    fi
    case "$state" in
      SUCCESS)
        echo "snapshot $SNAPSHOT_BEFORE_CHANGE succeeded"
        return 0
        ;;
      IN_PROGRESS | STARTED) ;;
      *)
        echo "snapshot $SNAPSHOT_BEFORE_CHANGE ended ${state:-without a state}: $answer." \
          "The deploy stops here: no Elasticsearch pod has been touched." >&2
        exit 1
        ;;
    esac
    if ((attempt >= ${SNAPSHOT_POLL_ATTEMPTS:-720})); then
      echo "snapshot $SNAPSHOT_BEFORE_CHANGE still $state after $attempt checks; the deploy stops here:" \
        "no Elasticsearch pod has been touched." >&2
      exit 1
    fi
    sleep "${SNAPSHOT_POLL_SECONDS:-5}"
  done
}

# find_latest: sets `latest` to the newest snapshot in the repository that succeeded
# (PARTIAL and FAILED ones are passed over), or to nothing. A variable, not output: a
# command substitution would not stop at a failed request (`set -e` is off inside one).
find_latest() {
  local rest pattern='\{"snapshot":"([^"]+)","state":"([A-Z_]+)"\}'
  latest=""
  rest=$(es GET "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/_all?sort=start_time&order=desc&filter_path=snapshots.snapshot,snapshots.state")
  while [[ $rest =~ $pattern ]]; do
    if [[ ${BASH_REMATCH[2]} == SUCCESS ]]; then
      latest=${BASH_REMATCH[1]}
      return 0
    fi
    rest=${rest#*"${BASH_REMATCH[0]}"}
  done
}

# held_feature_states SNAPSHOT: sets `request` to RESTORE_REQUEST with only the feature
# states SNAPSHOT holds. Elasticsearch refuses a restore that names one the snapshot lacks
# (HTTP 500 snapshot_restore_exception "requested feature states [...] are not present in
# snapshot"), and a snapshot of a cluster without Kibana has no `kibana` feature state.
held_feature_states() {
  local pattern='"feature_states":[[:space:]]*\[([^]]*)\]' held kept="" skipped="" name
  request=$RESTORE_REQUEST
  if [[ ! $request =~ $pattern || ${BASH_REMATCH[1]} == '"none"' ]]; then
    return 0
  fi
  local asked=${BASH_REMATCH[0]} names=${BASH_REMATCH[1]//[\" ]/}
  held=$(es GET "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/$1?filter_path=snapshots.feature_states.feature_name")
  for name in ${names//,/ }; do
    if [[ $held == *"\"feature_name\":\"$name\""* ]]; then
      kept+="${kept:+,}\"$name\""
    else
      skipped+=" $name"
    fi
  done
  if [[ -n $skipped ]]; then
    echo "snapshot $1 holds no feature state$skipped: restoring without it"
  fi
  request=${request/"$asked"/"\"feature_states\":[${kept:-\"none\"}]"}
}

# restore_once: snapshots.restoreFrom. A new stack starts from RESTORE_SNAPSHOT, restored
# with RESTORE_REQUEST, and only once: the restore is recorded in the cluster setting
# RESTORED_MARKER, and a cluster that has that record, or already holds a regular index or
# data stream, is never restored (Elasticsearch would merge the snapshot into what is
# there, or refuse). Logstash and Kibana wait for this Job on a new stack, so nothing else
# writes first. Sets `restored` when it restored. (Not called as a condition: that would
# turn off `set -e` inside it.)
restore_once() {
  # Settings come back nested ({"persistent":{"cluster":{"metadata":{...}}}}), and the
  # filter leaves only the record: its last key is enough to find it.
  local answer snapshot key="\"${RESTORED_MARKER##*.}\":\""
  answer=$(es GET "/_cluster/settings?filter_path=persistent.$RESTORED_MARKER")
  if [[ $answer == *"$key"* ]]; then
    snapshot=${answer#*"$key"}
    echo "this cluster was restored from snapshot ${snapshot%%\"*} already: restoreFrom restores once, never again"
    return 0
  fi
  answer=$(es GET "/_resolve/index/*?expand_wildcards=open,closed")
  if [[ $answer != *'"indices":[]'* || $answer != *'"data_streams":[]'* ]]; then
    local names="" rest=$answer pattern='"name":"([^"]+)"'
    while [[ $rest =~ $pattern ]]; do
      names+=" ${BASH_REMATCH[1]}"
      rest=${rest#*"${BASH_REMATCH[0]}"}
    done
    echo "restoreFrom restores only a new stack, and this cluster already holds:$names. Nothing was" \
      "restored. Remove elasticsearch.snapshots.restoreFrom, or restore by hand (docs/operations.md," \
      "Restoring, by hand). If an earlier attempt of this Job restored part of the snapshot, its log is in" \
      "kubectl logs --previous." >&2
    exit 1
  fi
  snapshot=$RESTORE_SNAPSHOT
  if [[ $snapshot == latest ]]; then
    find_latest
    snapshot=$latest
    if [[ -z $snapshot ]]; then
      echo "restoreFrom asks for the latest snapshot, and repository $SNAPSHOT_REPOSITORY_NAME holds" \
        "none that succeeded: nothing was restored. Name a snapshot, or remove restoreFrom." >&2
      exit 1
    fi
  fi
  held_feature_states "$snapshot"
  echo "restoring snapshot $snapshot from repository $SNAPSHOT_REPOSITORY_NAME into this new cluster"
  # wait_for_completion: Elasticsearch answers once every primary shard has been recovered,
  # or has failed to be.
  answer=$(max_time=$RESTORE_MAX_SECONDS es POST \
    "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/$snapshot/_restore?wait_for_completion=true" "$request")
  if [[ ! $answer =~ \"failed\":([0-9]+) ]] || ((BASH_REMATCH[1] != 0)); then
    echo "restoring snapshot $snapshot did not recover every shard: $answer. What was restored" \
      "stays, and the cluster is no longer new: delete it and run the Job again, or finish by" \
      "hand." >&2
    exit 1
  fi
  es PUT /_cluster/settings "{\"persistent\":{\"$RESTORED_MARKER\":\"$snapshot\"}}" >/dev/null
  echo "restored snapshot $snapshot: $answer"
  restored=yes
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
  # Waiting fixes neither a wrong password nor a missing privilege: say so at once.
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

if [[ -n "${SNAPSHOT_BEFORE_CHANGE:-}" ]]; then
  snapshot_before_change
  exit 0
fi

echo "writing ILM policy $ILM_POLICY_NAME, component template $COMPONENT_TEMPLATE_NAME and index template $INDEX_TEMPLATE_NAME"
es PUT "/_ilm/policy/$ILM_POLICY_NAME" "$ILM_POLICY"
# Before the index template that composes it: Elasticsearch refuses a missing component.
es PUT "/_component_template/$COMPONENT_TEMPLATE_NAME" "$COMPONENT_TEMPLATE"
es PUT "/_index_template/$INDEX_TEMPLATE_NAME" "$INDEX_TEMPLATE"

# A template shapes only backing indices created after it. The dynamic settings (replicas,
# policy, refresh) also go to the data streams that exist, so a scale-out or retention
# change does not wait for the next rollover. On a data stream this applies to all its
# backing indices; no match is not an error.
apply_index_settings() {
  echo "applying index settings to existing data streams $DATA_STREAMS"
  es PUT "/$DATA_STREAMS/_settings?allow_no_indices=true&ignore_unavailable=true" "$INDEX_SETTINGS"
}
apply_index_settings

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

# Snapshots last: a repository that cannot be reached fails the Job, and should not keep
# the retention above from being installed. Every step is an upsert, so a re-run changes nothing.
if [[ -n "${SNAPSHOT_REPOSITORY:-}" ]]; then
  echo "registering snapshot repository $SNAPSHOT_REPOSITORY_NAME"
  es PUT "/_snapshot/$SNAPSHOT_REPOSITORY_NAME" "$SNAPSHOT_REPOSITORY"
  # Registration already checks the master can use it; _verify checks every node can.
  echo "verifying snapshot repository $SNAPSHOT_REPOSITORY_NAME on every node"
  max_time=120 es POST "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/_verify?timeout=90s"
  # The index template is installed above: a restored data stream needs it to roll over.
  restored=""
  if [[ -n "${RESTORE_SNAPSHOT:-}" ]]; then
    restore_once
  fi
  if [[ -n "$restored" ]]; then
    # The snapshot's indices keep the settings of the cluster that took it.
    apply_index_settings
  fi
fi
if [[ -n "${SLM_POLICY:-}" ]]; then
  echo "writing snapshot lifecycle policy $SLM_POLICY_NAME"
  es PUT "/_slm/policy/$SLM_POLICY_NAME" "$SLM_POLICY"
elif exists "/_slm/policy/$SLM_POLICY_NAME"; then
  # No longer declared (snapshots removed, or the repository made read-only): it would
  # fail at every run. The snapshots it took stay in the repository.
  echo "deleting snapshot lifecycle policy $SLM_POLICY_NAME, no longer configured"
  es DELETE "/_slm/policy/$SLM_POLICY_NAME"
fi
if [[ -z "${SNAPSHOT_REPOSITORY:-}" ]] && exists "/_snapshot/$SNAPSHOT_REPOSITORY_NAME"; then
  # Unregistering leaves the snapshots in the bucket; registering it again finds them.
  echo "unregistering snapshot repository $SNAPSHOT_REPOSITORY_NAME, no longer configured"
  es DELETE "/_snapshot/$SNAPSHOT_REPOSITORY_NAME"
fi

echo "done"
