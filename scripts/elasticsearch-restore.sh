#!/usr/bin/env bash
# snapshots.restoreFrom: start a new stack from a snapshot, once. Run by the setup Job's
# script (elasticsearch-setup.sh) after the index template and the repository are in place.
#
# A new stack starts from RESTORE_SNAPSHOT (a name, or `latest`: the newest that
# succeeded), restored with RESTORE_REQUEST (the body of POST _restore), and only once: the
# restore is recorded in the cluster setting RESTORED_MARKER, and a cluster that has that
# record, or already holds a regular index or data stream, is never restored
# (Elasticsearch would merge the snapshot into what is there, or refuse). Logstash and
# Kibana wait for the setup Job on a new stack, so nothing else writes first. After a
# restore the restored data streams get this cluster's index settings.
#
# Environment: as scripts/lib/elasticsearch-client.sh, and SNAPSHOT_REPOSITORY_NAME,
# RESTORE_SNAPSHOT, RESTORE_REQUEST, RESTORED_MARKER, RESTORE_MAX_SECONDS, DATA_STREAMS and
# INDEX_SETTINGS.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
lib="$here/elasticsearch-client.sh"
[[ -f $lib ]] || lib="$here/lib/elasticsearch-client.sh"
# shellcheck source=lib/elasticsearch-client.sh
source "$lib"

: "${ES_URL:?}" "${SNAPSHOT_REPOSITORY_NAME:?}" "${RESTORE_SNAPSHOT:?}" "${RESTORE_REQUEST:?}"
: "${RESTORED_MARKER:?}" "${RESTORE_MAX_SECONDS:?}" "${DATA_STREAMS:?}" "${INDEX_SETTINGS:?}"

# restored_before: whether the cluster has the record of an earlier restore (and says so).
# Settings come back nested ({"persistent":{"cluster":{"metadata":{...}}}}), and the filter
# leaves only the record: its last key is enough to find it.
restored_before() {
  local answer snapshot
  answer=$(es GET "/_cluster/settings?filter_path=persistent.$RESTORED_MARKER") || exit 1
  snapshot=$(json_strings "${RESTORED_MARKER##*.}" "$answer")
  if [[ -n $snapshot ]]; then
    echo "this cluster was restored from snapshot $snapshot already: restoreFrom restores once, never again"
    return 0
  fi
  return 1
}

# refuse_unless_new: fail, naming what it holds, when the cluster is not new.
refuse_unless_new() {
  local answer names
  answer=$(es GET "/_resolve/index/*?expand_wildcards=open,closed") || exit 1
  if [[ $answer == *'"indices":[]'* && $answer == *'"data_streams":[]'* ]]; then
    return 0
  fi
  names=$(json_strings name "$answer" | tr '\n' ' ')
  echo "restoreFrom restores only a new stack, and this cluster already holds: ${names% }. Nothing" \
    "was restored. Remove elasticsearch.snapshots.restoreFrom, or restore by hand (docs/operations.md," \
    "Restoring by hand). If an earlier attempt of this Job restored part of the snapshot, its log is" \
    "in kubectl logs --previous." >&2
  exit 1
}

# chosen_snapshot: RESTORE_SNAPSHOT, or for `latest` the newest one whose state is SUCCESS
# (PARTIAL and FAILED ones are passed over).
chosen_snapshot() {
  if [[ $RESTORE_SNAPSHOT != latest ]]; then
    echo "$RESTORE_SNAPSHOT"
    return 0
  fi
  local answer name state
  answer=$(es GET "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/_all?sort=start_time&order=desc&filter_path=snapshots.snapshot,snapshots.state") || exit 1
  while read -r name state; do
    if [[ $state == SUCCESS ]]; then
      echo "$name"
      return 0
    fi
  done <<<"$(json_snapshots "$answer")"
  echo "restoreFrom asks for the latest snapshot, and repository $SNAPSHOT_REPOSITORY_NAME holds" \
    "none that succeeded: nothing was restored. Name a snapshot, or remove restoreFrom." >&2
  exit 1
}

# request_for SNAPSHOT: sets `request` to RESTORE_REQUEST with only the feature states SNAPSHOT holds.
# Elasticsearch refuses a restore that names one the snapshot lacks (HTTP 500
# snapshot_restore_exception "requested feature states [...] are not present in
# snapshot"), and a snapshot of a cluster without Kibana has no `kibana` feature state.
request_for() {
  local asked held kept="" skipped="" name
  request=$RESTORE_REQUEST
  asked=$(json_array feature_states "$RESTORE_REQUEST")
  if [[ -z $asked || $asked == none ]]; then
    return 0
  fi
  held=$(es GET "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/$1?filter_path=snapshots.feature_states.feature_name") || exit 1
  held=$(json_strings feature_name "$held")
  for name in $asked; do
    if grep -qxF "$name" <<<"$held"; then
      kept+=" $name"
    else
      skipped+=" $name"
    fi
  done
  if [[ -n $skipped ]]; then
    echo "snapshot $1 holds no feature state$skipped: restoring without it"
  fi
  request=$(json_with_array feature_states "${kept:-none}" "$RESTORE_REQUEST")
}

if restored_before; then
  exit 0
fi
refuse_unless_new
snapshot=$(chosen_snapshot)
request_for "$snapshot"
echo "restoring snapshot $snapshot from repository $SNAPSHOT_REPOSITORY_NAME into this new cluster"
# wait_for_completion: Elasticsearch answers once every primary shard has been recovered,
# or has failed to be.
answer=$(max_time=$RESTORE_MAX_SECONDS es POST \
  "/_snapshot/$SNAPSHOT_REPOSITORY_NAME/$snapshot/_restore?wait_for_completion=true" "$request")
failed=$(json_number failed "$answer" || true)
if [[ $failed != 0 ]]; then
  echo "restoring snapshot $snapshot did not recover every shard: $answer. What was restored" \
    "stays, and the cluster is no longer new: delete it and run the Job again, or finish by" \
    "hand." >&2
  exit 1
fi
es PUT /_cluster/settings "{\"persistent\":{\"$RESTORED_MARKER\":\"$snapshot\"}}" >/dev/null
echo "restored snapshot $snapshot: $answer"
# The snapshot's indices keep the settings of the cluster that took it.
apply_index_settings
