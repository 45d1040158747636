#!/usr/bin/env bash
# Start an Elasticsearch node of a multi-node cluster, through the image's own entrypoint.
#
# cluster.initial_master_nodes bootstraps a brand-new cluster, and Elastic warns against
# leaving it set once the cluster has formed, or giving it to nodes that join one. So it
# is given to exactly one node, the first name in the list (ordinal 0 of the first master
# set), and only on that node's very first start: when its data path holds no cluster
# state (`_state`) yet. That node bootstraps once it has discovered a majority of the
# listed masters; every other node, and every later start, joins through
# discovery.seed_hosts. Other nodes never carry the setting, so new nodes added to a
# formed cluster (scaling up, or leaving single-node mode) cannot bootstrap a second,
# empty cluster among themselves. The setting never appears in elasticsearch.yml.
#
# Environment: INITIAL_MASTER_NODES (comma-separated pod names, first = bootstrap node),
# DATA_PATH, HOSTNAME (the pod name), and ES_ENTRYPOINT (the image's entrypoint;
# overridable for tests).
set -euo pipefail

entrypoint="${ES_ENTRYPOINT:-/usr/local/bin/docker-entrypoint.sh}"
bootstrap_node="${INITIAL_MASTER_NODES%%,*}"
if [[ -n "$bootstrap_node" && "${HOSTNAME:-}" == "$bootstrap_node" && ! -d "${DATA_PATH:?}/_state" ]]; then
  echo "no cluster state in $DATA_PATH: bootstrapping a new cluster with master nodes $INITIAL_MASTER_NODES"
  # A dotted variable name is a setting for the image; only `env` can pass one.
  exec env "cluster.initial_master_nodes=$INITIAL_MASTER_NODES" "$entrypoint" eswrapper
fi
exec "$entrypoint" eswrapper
