#!/usr/bin/env bash
# Start an Elasticsearch node of a multi-node cluster, through the image's own entrypoint.
#
# cluster.initial_master_nodes bootstraps a brand-new cluster, and Elastic warns against
# leaving it set once the cluster has formed, or giving it to nodes that join one. So it
# is given to exactly one node, the first name in the list (ordinal 0 of the first master
# set), and only until that node has been part of a formed cluster: the readiness probe
# (scripts/elasticsearch-ready.sh) leaves a marker file on the data volume (FORMED_MARKER)
# the first time an elected master answers through this node. The bootstrap node forms
# the cluster once it has discovered a majority of the listed masters, and keeps the
# setting across restarts until then, so a crash before the cluster formed does not
# strand it; every other node, and every start after the marker exists, joins through
# discovery.seed_hosts. Other nodes never carry
# the setting, so nodes added to a formed cluster (scaling up, or leaving single-node
# mode) cannot bootstrap a second, empty cluster among themselves. A node that already
# holds cluster state ignores the setting anyway. It never appears in elasticsearch.yml.
#
# Environment: INITIAL_MASTER_NODES (comma-separated pod names, first = bootstrap node),
# FORMED_MARKER, HOSTNAME (the pod name), and ES_ENTRYPOINT (the image's entrypoint;
# overridable for tests).
set -euo pipefail

entrypoint="${ES_ENTRYPOINT:-/usr/local/bin/docker-entrypoint.sh}"
bootstrap_node="${INITIAL_MASTER_NODES:-}"
bootstrap_node="${bootstrap_node%%,*}"
if [[ -n "$bootstrap_node" && "${HOSTNAME:-}" == "$bootstrap_node" && ! -e "${FORMED_MARKER:?}" ]]; then
  echo "no cluster has formed yet ($FORMED_MARKER is absent): bootstrapping with master nodes $INITIAL_MASTER_NODES"
  # A dotted variable name is a setting for the image; only `env` can pass one.
  exec env "cluster.initial_master_nodes=$INITIAL_MASTER_NODES" "$entrypoint" eswrapper
fi
exec "$entrypoint" eswrapper
