#!/usr/bin/env bash
# The preStop hook of an Elasticsearch node: bracket a restart, then keep serving a while.
#
# The node is registered with the node shutdown API as restarting (`PUT
# _nodes/<id>/shutdown`, type `restart`, with an allocation delay of RESTART_ALLOCATION_DELAY,
# the rolling restart's budget per node), as ECK does: the cluster keeps the node's replicas
# unassigned for it instead of copying them elsewhere, for this node only. Where the API is
# missing (a distribution without the shutdown module answers 400), Elastic's older
# rolling-restart procedure instead: allocation limited to primaries
# (`cluster.routing.allocation.enable: primaries`). Either way the indices are flushed, so
# the shards recover from their own files when the node is back. The readiness probe
# (scripts/elasticsearch-ready.sh) clears the registration, or sets allocation back, once the
# restarted node has joined.
#
# A node that is leaving for good (the topology leave Job excluded it from allocation or
# from voting) is not bracketed: nothing would set allocation back after it.
#
# Then the pre-stop wait: Service endpoints reach kube-proxy and ingress controllers only
# after a delay, during which the node must still serve (components/specs/common.py). The
# calls count against that wait, and never stop the pod from stopping: every failure is
# only logged.
#
# Usage: elasticsearch-pre-stop.sh <base URL> <seconds to keep serving> [<CA file>], with
# HOSTNAME (the pod's, which is the node's name), RESTART_ALLOCATION_DELAY (default 10m) and,
# with security, PROBE_USERNAME and PROBE_PASSWORD (the node's own user; docs/security.md).
set -uo pipefail

base_url="${1:?base URL, e.g. https://localhost:9200}"
wait_seconds="${2:?seconds to keep serving}"
ca_file="${3:-}"
node="${HOSTNAME:?}"

# call METHOD PATH [BODY] [SECONDS]: one request; prints the answer, fails on no answer or HTTP >= 400.
call() {
  local options=(-sS --fail-with-body --max-time "${4:-5}" -X "$1" -H 'Content-Type: application/json')
  if [[ -n "$ca_file" ]]; then
    options+=(--cacert "$ca_file")
  fi
  if [[ -n "${3:-}" ]]; then
    options+=(--data-binary "$3")
  fi
  if [[ -n "${PROBE_PASSWORD:-}" ]]; then
    curl "${options[@]}" -K <(printf 'user = "%s:%s"\n' "${PROBE_USERNAME:?}" "$PROBE_PASSWORD") "$base_url$2"
  else
    curl "${options[@]}" "$base_url$2"
  fi
}

# leaving: whether the topology leave Job excluded this node from allocation or voting.
leaving() {
  local settings voting pattern='"cluster.routing.allocation.exclude._name":"([^"]*)"'
  settings=$(call GET "/_cluster/settings?flat_settings=true&filter_path=persistent") || return 1
  if [[ "$settings" =~ $pattern && ",${BASH_REMATCH[1]}," == *",$node,"* ]]; then
    return 0
  fi
  voting=$(call GET "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.voting_config_exclusions") ||
    return 1
  [[ "$voting" == *"\"node_name\":\"$node\""* ]]
}

# register_restart: tell the node shutdown API this node restarts; fails where it is missing.
register_restart() {
  local answer id pattern='"nodes":\{"([^"]+)"'
  answer=$(call GET "/_nodes/_local?filter_path=nodes.*.name") || return 1
  [[ "$answer" =~ $pattern ]] || return 1
  id=${BASH_REMATCH[1]}
  call PUT "/_nodes/$id/shutdown" \
    "{\"type\":\"restart\",\"reason\":\"pod $node is stopping\",\"allocation_delay\":\"$delay\"}" >/dev/null
}

delay="${RESTART_ALLOCATION_DELAY:-10m}"
if leaving; then
  echo "$node is leaving the cluster: no restart bracket"
elif register_restart 2>/dev/null; then
  echo "$node registered for a restart with the node shutdown API (allocation delay $delay)"
  call POST /_flush "" 20 >/dev/null && echo "flushed"
elif call PUT /_cluster/settings '{"persistent":{"cluster.routing.allocation.enable":"primaries"}}' >/dev/null; then
  echo "allocation limited to primaries while $node restarts (no node shutdown API)"
  call POST /_flush "" 20 >/dev/null && echo "flushed"
fi
remaining=$((wait_seconds - SECONDS))
if ((remaining > 0)); then
  sleep "$remaining"
fi
exit 0
