#!/usr/bin/env bash
# Readiness of one Elasticsearch node: Ready when this node has joined a cluster and serves
# requests, whatever the health of the cluster's indices.
#
# A probe that asks for cluster health on every period turns one red index into an outage of
# every pod (elastic/helm-charts #60). So the steady-state question is only "does an elected
# master answer through this node?": `GET /_cluster/health` with a short master_timeout
# answers 200 whatever the status (red included) once the node knows an elected master, and
# 503 while it has none. That is what ECK's `readiness.port` reports too (ReadinessService:
# ready while a master is elected), but it works on every supported version (8.0+), while
# `readiness.port` exists only from 8.2.
#
# Once per container start (the start script removes the gate file, which lives in /tmp)
# the node must also wait until recovery has settled: health green, or no shard
# initializing and no replica waiting for its node to return (delayed_unassigned_shards), after the master's queued tasks ran (wait_for_events=languid,
# which covers the reroute that follows a join). The StatefulSet's rolling update moves on
# only when the restarted pod is Ready, so the next node restarts only once the previous
# one's shards are back. A shard that cannot be placed by waiting (a red index whose copies
# are gone, a replica with no node to go to) does not hold the gate: waiting would not help.
#
# The first answer from a master also leaves FORMED_MARKER on the data volume: this node has
# been in a formed cluster, so the start script never bootstraps it again.
#
# Usage: elasticsearch-ready.sh <base URL> <formed marker> [<CA file>]. With PROBE_USERNAME
# and PROBE_PASSWORD set it logs in as that file-realm user (never as `elastic`, whose
# password people may change); the password goes to curl through a file descriptor, never
# on a command line. READY_GATE overrides the gate file (for tests).
set -uo pipefail

base_url="${1:?base URL, e.g. https://localhost:9200}"
formed_marker="${2:?formed marker path}"
ca_file="${3:-}"
gate="${READY_GATE:-/tmp/.elk-stack-recovered}"

options=(-sS --max-time 3 -w '\n%{http_code}')
if [[ -n "$ca_file" ]]; then
  options+=(--cacert "$ca_file")
fi

# ask PATH [METHOD BODY]: GET a path (or send BODY); sets `code` and `body`, or fails when
# the node does not answer at all.
ask() {
  local answer request=(-X "${2:-GET}")
  if [[ -n "${3:-}" ]]; then
    request+=(-H 'Content-Type: application/json' --data-binary "$3")
  fi
  if [[ -n "${PROBE_PASSWORD:-}" ]]; then
    answer=$(curl "${options[@]}" "${request[@]}" -K <(printf 'user = "%s:%s"\n' "${PROBE_USERNAME:?}" "$PROBE_PASSWORD") "$base_url$1") || return 1
  else
    answer=$(curl "${options[@]}" "${request[@]}" "$base_url$1") || return 1
  fi
  code="${answer##*$'\n'}"
  body="${answer%$'\n'*}"
}

# A scalar field of the JSON health answer (no jq in the image).
field() {
  [[ "$body" =~ \"$1\"[[:space:]]*:[[:space:]]*\"?([a-z0-9_]+) ]] && echo "${BASH_REMATCH[1]}"
}

if [[ -e "$gate" ]]; then
  ask "/_cluster/health?master_timeout=2s" || exit 1
  if [[ "$code" != 200 ]]; then
    echo "no elected master answers through this node (HTTP $code)"
    exit 1
  fi
  exit 0
fi

ask "/_cluster/health?wait_for_events=languid&timeout=1s&master_timeout=2s" || exit 1
if [[ "$code" != 200 && "$code" != 408 ]]; then
  echo "this node has not joined a cluster yet (HTTP $code)"
  exit 1
fi
touch "$formed_marker"
health_code=$code health_body=$body
# The pre-stop hook registered this node's restart with the node shutdown API: it is back,
# so the registration goes (a distribution without the API answers the GET with 400).
ask "/_nodes/_local?filter_path=nodes.*.name" || exit 1
if [[ "$body" =~ \"nodes\":\{\"([^\"]+)\" ]]; then
  id=${BASH_REMATCH[1]}
  ask "/_nodes/$id/shutdown" || exit 1
  if [[ "$code" == 200 && "$body" == *"\"node_id\":\"$id\""* ]]; then
    ask "/_nodes/$id/shutdown" DELETE || exit 1
    if [[ "$code" != 200 ]]; then
      echo "joined; could not clear its restart registration (HTTP $code): $body"
      exit 1
    fi
    echo "joined; its restart registration (node shutdown API) cleared"
  fi
fi
# The pre-stop hook (scripts/elasticsearch-pre-stop.sh) limited allocation to primaries
# while this node restarted: it has rejoined, so its replicas may be allocated again.
# (filter_path walks nested keys: with flat_settings it would match nothing.)
ask "/_cluster/settings?filter_path=persistent.cluster.routing.allocation.enable" || exit 1
if [[ "$body" == *'"primaries"'* ]]; then
  ask /_cluster/settings PUT '{"persistent":{"cluster.routing.allocation.enable":null}}' || exit 1
  if [[ "$code" != 200 ]]; then
    echo "joined; could not allow allocation again (HTTP $code): $body"
    exit 1
  fi
  echo "joined; allocation allowed again after the restart"
fi
code=$health_code body=$health_body
if [[ "$code" == 408 ]]; then
  echo "joined; the master still has queued tasks (e.g. the reroute after a join)"
  exit 1
fi
status="$(field status)"
initializing="$(field initializing_shards)"
delayed="$(field delayed_unassigned_shards)"
if [[ "$status" != green && ("$initializing" != 0 || "$delayed" != 0) ]]; then
  echo "joined; waiting for recovery: status $status, $initializing shards initializing, $delayed replicas delayed"
  exit 1
fi
touch "$gate"
echo "joined and recovered (status $status)"
