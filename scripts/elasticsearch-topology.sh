#!/usr/bin/env bash
# Make nodes leave the cluster safely; run by the elk-elasticsearch-topology-{leave,settle}-<change> Jobs.
#
# TOPOLOGY_STEP=leave runs before any StatefulSet of the change. The nodes that are in
# the cluster but not in DECLARED_NODES (a regex of the pod names the config declares)
# are leaving:
#   - leaving master-eligible nodes are excluded from the voting configuration, so the
#     masters that stay keep a quorum when they stop;
#   - leaving data nodes get their shards moved off (allocation exclusion by name), and
#     the step waits until they hold none. It refuses first, with the numbers, when the
#     data nodes that stay cannot hold a copy of every shard or the bytes that move.
# The exclusions are set to exactly what this change needs, so a rerun, or the run of a
# change that takes an interrupted one back, leaves no stale exclusion behind.
#
# TOPOLOGY_STEP=settle runs after every StatefulSet of the change: it waits until the
# nodes of a scaled-down set (DECLARED_SETS matches them, DECLARED_NODES does not) have
# left, then clears both exclusions. Nodes of a removed set leave later (Pulumi deletes a
# StatefulSet after every create and update): their exclusions stay, and the next
# change's leave step drops them.
#
# Environment: as scripts/lib/elasticsearch-client.sh, and TOPOLOGY_STEP, DECLARED_NODES,
# DECLARED_SETS; POLL_ATTEMPTS and POLL_SECONDS (how long a drain or a departure may take).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
lib="$here/elasticsearch-client.sh"
[[ -f $lib ]] || lib="$here/lib/elasticsearch-client.sh"
# shellcheck source=lib/elasticsearch-client.sh
source "$lib"

: "${ES_URL:?}" "${TOPOLOGY_STEP:?}" "${DECLARED_NODES:?}" "${DECLARED_SETS:?}"
if [[ -n "${SETUP_PASSWORD:-}" ]]; then
  : "${SETUP_USERNAME:?}"
fi
EXCLUDE_SETTING=cluster.routing.allocation.exclude._name
# Elasticsearch's low disk watermark: a node fuller than this receives no shard.
LOW_WATERMARK_PERCENT=85
# At most this many voting exclusions at once (cluster.max_voting_config_exclusions).
MAX_VOTING_EXCLUSIONS=10
leaving=() leaving_masters=() leaving_data=() staying_data=() staying=0

# read_nodes: sort the cluster's nodes into leaving masters, leaving and staying data nodes,
# each by name (so messages name them in a stable order).
read_nodes() {
  local nodes name roles
  nodes=$(es GET "/_cat/nodes?h=name,node.role&s=name") || exit 1
  while read -r name roles; do
    [[ -n "$name" ]] || continue
    if [[ "$name" =~ $DECLARED_NODES ]]; then
      staying=$((staying + 1))
      [[ "$roles" =~ [dhwcfs] ]] && staying_data+=("$name")
    else
      leaving+=("$name")
      [[ "$roles" == *m* ]] && leaving_masters+=("$name")
      [[ "$roles" =~ [dhwcfs] ]] && leaving_data+=("$name")
    fi
  done <<<"$nodes"
  return 0
}

# joined ITEMS...: the items separated by commas.
joined() {
  local IFS=,
  printf '%s' "$*"
}

# refuse MESSAGE...: stop the change before anything moved.
refuse() {
  echo "refused: $* Nothing was excluded or moved, and no Elasticsearch pod has been touched" \
    "(docs/operations.md, Removing nodes)." >&2
  exit 1
}

# check_replicas: every shard's copies need as many data nodes as the index has copies.
# Indices with auto_expand_replicas adapt their replica count and are left out.
check_replicas() {
  local answer index settings replicas pattern='"number_of_replicas":"([0-9]+)"'
  answer=$(es GET "/_cluster/state/metadata?filter_path=metadata.indices.*.settings.index.number_of_replicas,metadata.indices.*.settings.index.auto_expand_replicas") || exit 1
  while read -r index settings; do
    [[ -n "$index" ]] || continue
    if [[ "$settings" == *'"auto_expand_replicas"'* && "$settings" != *'"auto_expand_replicas":"false"'* ]]; then
      continue
    fi
    [[ "$settings" =~ $pattern ]] || continue
    replicas=${BASH_REMATCH[1]}
    if ((replicas + 1 > ${#staying_data[@]})); then
      refuse "index $index has $replicas replica(s), so its $((replicas + 1)) copies of each shard need" \
        "$((replicas + 1)) data nodes, and ${#staying_data[@]} would stay once $(joined "${leaving_data[@]}") left;" \
        "lower its number_of_replicas first, or keep more data nodes in elk-stack:elasticsearch."
    fi
  done < <(json_matches '"([^"]+)":\{"settings":\{"index":\{([^}]*)\}\}\}' "$answer")
}

# check_disk: the bytes on the leaving nodes fit below the low watermark of those that stay.
check_disk() {
  local answer node shards indices avail total moving=0 room=0 keep
  answer=$(es GET "/_cat/allocation?h=node,shards,disk.indices,disk.avail,disk.total&bytes=b") || exit 1
  while read -r node shards indices avail total; do
    [[ "$total" =~ ^[0-9]+$ ]] || continue
    if [[ " ${leaving_data[*]} " == *" $node "* ]]; then
      moving=$((moving + indices))
    elif [[ " ${staying_data[*]} " == *" $node "* ]]; then
      keep=$((total * (100 - LOW_WATERMARK_PERCENT) / 100))
      ((avail > keep)) && room=$((room + avail - keep))
    fi
  done <<<"$answer"
  if ((moving > room)); then
    refuse "$(joined "${leaving_data[@]}") hold $((moving / 1048576)) MiB of shards, and the data nodes" \
      "that stay have $((room / 1048576)) MiB free below the ${LOW_WATERMARK_PERCENT}% disk watermark;" \
      "grow their storage or keep more data nodes in elk-stack:elasticsearch."
  fi
}

# exclude_from_voting: exactly the leaving masters are excluded (none when none leaves).
exclude_from_voting() {
  es DELETE "/_cluster/voting_config_exclusions?wait_for_removal=false" >/dev/null
  if ((${#leaving_masters[@]})); then
    echo "excluding $(joined "${leaving_masters[@]}") from the voting configuration"
    max_time=150 es POST "/_cluster/voting_config_exclusions?node_names=$(joined "${leaving_masters[@]}")&timeout=2m" >/dev/null
  fi
}

# exclude_from_allocation NAMES: shards move off exactly these nodes ("" for none).
exclude_from_allocation() {
  local value=null
  [[ -n "$1" ]] && value="\"$1\""
  es PUT /_cluster/settings "{\"persistent\":{\"$EXCLUDE_SETTING\":$value}}" >/dev/null
}

# shards_on NAMES: how many shards the nodes named (space-separated) hold.
shards_on() {
  local answer node shards count=0
  answer=$(es GET "/_cat/allocation?h=node,shards") || exit 1
  while read -r node shards; do
    [[ " $1 " == *" $node "* && "$shards" =~ ^[0-9]+$ ]] && count=$((count + shards))
  done <<<"$answer"
  printf '%s\n' "$count"
}

# wait_until CHECK WHAT: poll CHECK (a function that prints what is still pending, or
# nothing) until it is done; fail with WHAT after POLL_ATTEMPTS.
wait_until() {
  local attempt pending
  for ((attempt = 1; ; attempt++)); do
    pending=$("$1")
    [[ -z "$pending" ]] && return 0
    if ((attempt >= ${POLL_ATTEMPTS:-720})); then
      echo "$2 after $attempt checks: $pending. The change stops here; run \`pulumi up\` again once" \
        "the cluster is green (docs/operations.md, Removing nodes)." >&2
      exit 1
    fi
    sleep "${POLL_SECONDS:-5}"
  done
}

undrained() {
  local count
  count=$(shards_on "${leaving_data[*]}")
  ((count == 0)) || printf '%s shard(s) still on %s' "$count" "$(joined "${leaving_data[@]}")"
}

leave() {
  read_nodes
  if ((${#leaving[@]} == 0)); then
    echo "no node leaves the cluster"
    exclude_from_voting
    exclude_from_allocation ""
    return 0
  fi
  if ((staying == 0)); then
    echo "no node of the declared node sets is in the cluster: the change replaces the whole cluster," \
      "so nothing is drained (the old nodes' claims stay)"
    return 0
  fi
  if ((${#leaving_masters[@]} > MAX_VOTING_EXCLUSIONS)); then
    refuse "${#leaving_masters[@]} master-eligible nodes would leave at once, more than the" \
      "$MAX_VOTING_EXCLUSIONS Elasticsearch can exclude from voting; remove at most $MAX_VOTING_EXCLUSIONS per change."
  fi
  if ((${#leaving_data[@]})); then
    check_replicas
    check_disk
  fi
  exclude_from_voting
  exclude_from_allocation "$(joined "${leaving_data[@]}")"
  if ((${#leaving_data[@]})); then
    echo "draining $(joined "${leaving_data[@]}")"
    wait_until undrained "the shards did not all move"
    echo "drained $(joined "${leaving_data[@]}"): they hold no shard"
  fi
}

# still_scaled_down: the nodes of a declared set beyond its replicas, which this change stops.
still_scaled_down() {
  local nodes name pending=""
  nodes=$(es GET "/_cat/nodes?h=name") || exit 1
  while read -r name; do
    if [[ -n "$name" && "$name" =~ $DECLARED_SETS && ! "$name" =~ $DECLARED_NODES ]]; then
      pending+="${pending:+, }$name"
    fi
  done <<<"$nodes"
  printf '%s' "$pending"
}

settle() {
  wait_until still_scaled_down "nodes of a scaled-down set are still in the cluster"
  read_nodes
  if ((${#leaving[@]})); then
    echo "keeping the exclusions of $(joined "${leaving[@]}"): their node" \
      "sets are deleted after this Job; the next change clears them"
    return 0
  fi
  exclude_from_voting
  exclude_from_allocation ""
  echo "every leaving node is gone: voting and allocation exclusions cleared"
}

wait_for_cluster
case "$TOPOLOGY_STEP" in
  leave) leave ;;
  settle) settle ;;
  *)
    echo "TOPOLOGY_STEP is $TOPOLOGY_STEP; expected leave or settle" >&2
    exit 1
    ;;
esac
