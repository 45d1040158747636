#!/usr/bin/env bash
# Start an Elasticsearch node of a multi-node cluster, through the image's own entrypoint.
#
# cluster.initial_master_nodes bootstraps a brand-new cluster, and Elastic warns against
# leaving it set once the cluster has formed: a node that restarts with it could, if it
# lost its data, bootstrap a second, empty cluster. So it is given only to a node that has
# never started: one whose data path holds no cluster state (`_state`) yet. Every later
# start joins through discovery.seed_hosts alone, and the setting never appears in
# elasticsearch.yml. A node added to a formed cluster gets it on its first start too; it
# cannot bootstrap a second cluster, since the other listed nodes have already joined
# one, and it finds the elected master through discovery.
#
# Environment: INITIAL_MASTER_NODES (comma-separated pod names), DATA_PATH, and
# ES_ENTRYPOINT (the image's entrypoint; overridable for tests).
set -euo pipefail

entrypoint="${ES_ENTRYPOINT:-/usr/local/bin/docker-entrypoint.sh}"
if [[ -n "${INITIAL_MASTER_NODES:-}" && ! -d "${DATA_PATH:?}/_state" ]]; then
  echo "no cluster state in $DATA_PATH: bootstrapping with initial master nodes $INITIAL_MASTER_NODES"
  # A dotted variable name is a setting for the image; only `env` can pass one.
  exec env "cluster.initial_master_nodes=$INITIAL_MASTER_NODES" "$entrypoint" eswrapper
fi
exec "$entrypoint" eswrapper
