#!/usr/bin/env bash
# Configure Elasticsearch after it starts; run by the elk-elasticsearch-setup Job.
#
# Installs log retention (an ILM policy, the component template of our index settings and
# the index template of the logs data streams) and, with security on, removes the native
# users and roles earlier versions of this stack created: the stack's own users now live in
# the file realm (components/specs/file_realm.py), where no API call can change them. Then
# the snapshot repository, a restore of a new stack (elasticsearch-restore.sh) and the SLM
# policy. Idempotent by construction: every call is an upsert (PUT a policy or template;
# DELETE only what it marked), so a re-run succeeds, a changed retention is applied, and
# nothing can fail with "already exists". How it talks to Elasticsearch is in
# lib/elasticsearch-client.sh.
#
# Environment: as scripts/lib/elasticsearch-client.sh, and ILM_POLICY_NAME, ILM_POLICY,
# COMPONENT_TEMPLATE_NAME, COMPONENT_TEMPLATE, INDEX_TEMPLATE_NAME, INDEX_TEMPLATE (JSON
# bodies), DATA_STREAMS (comma-separated patterns) and INDEX_SETTINGS (JSON: the dynamic
# settings for their existing backing indices). Snapshots: SNAPSHOT_REPOSITORY_NAME and
# SLM_POLICY_NAME, with SNAPSHOT_REPOSITORY (the body of PUT _snapshot) when a repository
# is configured and SLM_POLICY (the body of PUT _slm/policy) when the stack writes to it.
# A new stack that starts from a snapshot (snapshots.restoreFrom): RESTORE_SNAPSHOT and
# what elasticsearch-restore.sh reads.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
lib="$here/elasticsearch-client.sh"
[[ -f $lib ]] || lib="$here/lib/elasticsearch-client.sh"
# shellcheck source=lib/elasticsearch-client.sh
source "$lib"

: "${ES_URL:?}" "${SNAPSHOT_REPOSITORY_NAME:?}"
if [[ -n "${SETUP_PASSWORD:-}" ]]; then
  : "${SETUP_USERNAME:?}"
fi
: "${ILM_POLICY_NAME:?}" "${ILM_POLICY:?}" "${INDEX_TEMPLATE_NAME:?}" "${INDEX_TEMPLATE:?}"
: "${COMPONENT_TEMPLATE_NAME:?}" "${COMPONENT_TEMPLATE:?}" "${DATA_STREAMS:?}" "${INDEX_SETTINGS:?}"
: "${SLM_POLICY_NAME:?}"
if [[ -n "${RESTORE_SNAPSHOT:-}" ]]; then
  : "${SNAPSHOT_REPOSITORY:?}" "${RESTORE_REQUEST:?}" "${RESTORED_MARKER:?}" "${RESTORE_MAX_SECONDS:?}"
fi

wait_for_cluster

echo "writing ILM policy $ILM_POLICY_NAME, component template $COMPONENT_TEMPLATE_NAME and index template $INDEX_TEMPLATE_NAME"
es PUT "/_ilm/policy/$ILM_POLICY_NAME" "$ILM_POLICY"
# Before the index template that composes it: Elasticsearch refuses a missing component.
es PUT "/_component_template/$COMPONENT_TEMPLATE_NAME" "$COMPONENT_TEMPLATE"
es PUT "/_index_template/$INDEX_TEMPLATE_NAME" "$INDEX_TEMPLATE"

# A template shapes only backing indices created after it: the dynamic settings also go to
# the data streams that exist.
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
    done <<<"$(json_managed_names "$answer")"
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
  if [[ -n "${RESTORE_SNAPSHOT:-}" ]]; then
    bash "$here/elasticsearch-restore.sh"
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
