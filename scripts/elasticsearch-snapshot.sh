#!/usr/bin/env bash
# Take a snapshot before a risky change; run by the elk-elasticsearch-snapshot-<change> Job.
#
# Before a version change or a node set removal. A snapshot is taken only while a node
# runs another version than TARGET_VERSION or has a name outside NODE_NAMES (a regex of
# the declared node sets' pod names): only then will the change restart or remove
# something. On a first deploy, or once the change is done, nothing is at risk and the Job
# succeeds at once. A re-run finds its snapshot and only waits for it. Any other end than
# SUCCESS fails the Job, and with it the deploy, before a StatefulSet is updated.
#
# Environment: as scripts/lib/elasticsearch-client.sh, and SNAPSHOT_BEFORE_CHANGE (the
# snapshot's name), SNAPSHOT_REPOSITORY_NAME, TARGET_VERSION, NODE_NAMES;
# SNAPSHOT_POLL_ATTEMPTS and SNAPSHOT_POLL_SECONDS (how long to wait for the snapshot).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
lib="$here/elasticsearch-client.sh"
[[ -f $lib ]] || lib="$here/lib/elasticsearch-client.sh"
# shellcheck source=lib/elasticsearch-client.sh
source "$lib"

: "${ES_URL:?}" "${SNAPSHOT_REPOSITORY_NAME:?}" "${SNAPSHOT_BEFORE_CHANGE:?}" "${TARGET_VERSION:?}" "${NODE_NAMES:?}"
if [[ -n "${SETUP_PASSWORD:-}" ]]; then
  : "${SETUP_USERNAME:?}"
fi

# pending_nodes: the nodes the change will restart or remove, as " name (version)".
pending_nodes() {
  local pending="" nodes node version
  nodes=$(es GET "/_cat/nodes?h=name,version") || exit 1
  while read -r node version; do
    if [[ -n "$node" && ("$version" != "$TARGET_VERSION" || ! "$node" =~ $NODE_NAMES) ]]; then
      pending+=" $node ($version)"
    fi
  done <<<"$nodes"
  printf '%s' "$pending"
}

# wait_for_snapshot PATH: until the snapshot succeeds; any other end fails the Job.
wait_for_snapshot() {
  local answer state attempt
  for ((attempt = 1; ; attempt++)); do
    answer=$(es GET "$1") || exit 1
    state=$(json_strings state "$answer" | head -n 1)
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

wait_for_cluster
pending=$(pending_nodes)
if [[ -z "$pending" ]]; then
  echo "every node runs $TARGET_VERSION in a declared node set: nothing to snapshot"
  exit 0
fi
echo "about to change:$pending"
if ! exists "/_snapshot/$SNAPSHOT_REPOSITORY_NAME"; then
  echo "no snapshot before the change: repository $SNAPSHOT_REPOSITORY_NAME is not registered. Were" \
    "snapshots enabled in this same deploy? Deploy them first, then the change; or set" \
    "elasticsearch.snapshots.beforeUpgrade false. No Elasticsearch pod has been touched." >&2
  exit 1
fi
path="/_snapshot/$SNAPSHOT_REPOSITORY_NAME/$SNAPSHOT_BEFORE_CHANGE"
if ! exists "$path"; then
  echo "taking snapshot $SNAPSHOT_BEFORE_CHANGE in repository $SNAPSHOT_REPOSITORY_NAME"
  es PUT "$path" '{"include_global_state":true,"metadata":{"taken_by":"elk-stack","reason":"before a change"}}' >/dev/null
fi
wait_for_snapshot "$path"
