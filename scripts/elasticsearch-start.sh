#!/usr/bin/env bash
# Start an Elasticsearch node through the image's own entrypoint.
#
# cluster.initial_master_nodes bootstraps a brand-new cluster. Elastic's rule: the same
# list on every master-eligible node at first formation, and never again once the cluster
# has formed, nor on nodes that join one. So every node named in INITIAL_MASTER_NODES gets
# it, and any of them can take part in the first election (one Pending pod does not stop
# the others, as long as a majority of the list is up), but only until that node has been
# part of a formed cluster: the readiness probe (scripts/elasticsearch-ready.sh) leaves a
# marker file on the data volume (FORMED_MARKER) the first time an elected master answers
# through this node. A crash before the cluster formed keeps the setting for the next
# start. The list is the one recorded at the cluster's first deploy (the ClusterFormation
# resource), so nodes added later (a set scaled up, more replicas) are never in it and can
# only join the existing cluster through discovery.seed_hosts, never bootstrap a second,
# empty one among themselves. A node that already holds cluster state ignores the setting
# anyway. It never appears in elasticsearch.yml.
#
# With FILE_REALM_DIR set (security on), the file realm's `users`, `users_roles` and
# `roles.yml` are linked from that mounted Secret into the config directory, replacing the
# image's empty ones: a link, not a copy, so an updated Secret reaches the node without a
# restart (Elasticsearch re-reads the files when they change), as ECK does.
#
# `elastic`'s bootstrap password (BOOTSTRAP_PASSWORD_FILE, a mounted Secret file) enters the
# keystore as `bootstrap.password`, which the image's entrypoint would otherwise take from an
# ELASTIC_PASSWORD env value that `kubectl get pod -o yaml` shows to anyone who can read pods.
#
# Secure settings (the snapshot repository's credentials) enter the keystore before the
# node starts, as ECK's init container does: every file in SECURE_SETTINGS_DIR, a mounted
# Secret whose files are named after their setting (s3.client.default.access_key, ...),
# is added with `elasticsearch-keystore add-file`, which reads the value from the file.
# The value is never in an env value, elasticsearch.yml or a command line: only the
# setting's name and the file's path are. Each container start begins from the image's
# files, so the keystore is rebuilt from the Secret at every start.
#
# node.processors (NODE_PROCESSORS, the CPU limit rounded up or the config's own value)
# sizes the thread pools. Elasticsearch refuses to start with more than the processors it
# can use, so a value above what this host offers (`nproc`: a CPU limit above the node's
# cores) is lowered to that, with a line in the log.
#
# The root filesystem is read-only: ES_PATH_CONF names a writable directory (an emptyDir),
# and each start fills it with a copy of the image's config directory (ES_IMAGE_CONFIG,
# which also shows the mounted elasticsearch.yml), as ECK's init container does. The
# mounted certificates are linked, not copied, so a renewed certificate still reaches the
# node without a restart. The keystore and the file realm's links are made in the copy.
#
# Environment: INITIAL_MASTER_NODES (comma-separated pod names), FORMED_MARKER, HOSTNAME
# (the pod name), FILE_REALM_DIR, optional BOOTSTRAP_PASSWORD_FILE, SECURE_SETTINGS_DIR and
# NODE_PROCESSORS, and ES_ENTRYPOINT,
# ES_KEYSTORE (the image's entrypoint and keystore tool), ES_IMAGE_CONFIG (the image's config
# directory) and ES_PATH_CONF (the writable copy; without it the image's own directory).
set -euo pipefail

entrypoint="${ES_ENTRYPOINT:-/usr/local/bin/docker-entrypoint.sh}"
keystore="${ES_KEYSTORE:-/usr/share/elasticsearch/bin/elasticsearch-keystore}"
image_config="${ES_IMAGE_CONFIG:-/usr/share/elasticsearch/config}"
config_dir="${ES_PATH_CONF:-$image_config}"
# The readiness probe's once-per-start gate lives in /tmp, an emptyDir that outlives a
# container restart: this start has not yet waited for recovery.
rm -f "${READY_GATE:-/tmp/.elk-stack-recovered}"
if [[ "$config_dir" != "$image_config" ]]; then
  # Fresh at every start, as the image's own directory was on a writable root.
  find "$config_dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  for entry in "$image_config"/*; do
    [[ -e "$entry" ]] || continue
    if [[ "${entry##*/}" == certs ]]; then
      ln -s "$entry" "$config_dir/certs"
    else
      cp -R "$entry" "$config_dir/"
    fi
  done
fi
if [[ -n "${FILE_REALM_DIR:-}" ]]; then
  for file in users users_roles roles.yml; do
    ln -sfn "$FILE_REALM_DIR/$file" "$config_dir/$file"
  done
fi
# `create` on an existing keystore would ask before overwriting it.
ensure_keystore() {
  [[ -f "$config_dir/elasticsearch.keystore" ]] || "$keystore" create
}
if [[ -n "${BOOTSTRAP_PASSWORD_FILE:-}" ]]; then
  ensure_keystore
  # On stdin, read from the file by the shell: never in an env value or a command line.
  "$keystore" add --force --stdin bootstrap.password < "$BOOTSTRAP_PASSWORD_FILE"
fi
if [[ -n "${SECURE_SETTINGS_DIR:-}" ]]; then
  ensure_keystore
  for file in "$SECURE_SETTINGS_DIR"/*; do
    # A Secret volume also holds hidden `..data` links, which the glob skips.
    [[ -f "$file" ]] || continue
    # --force overwrites a setting already there (elasticsearch's AddFileKeyStoreCommand).
    echo "adding secure setting ${file##*/} to the keystore"
    "$keystore" add-file --force "${file##*/}" "$file"
  done
fi
# A dotted variable name is a setting for the image; only `env` can pass one.
settings=()
if [[ -n "${NODE_PROCESSORS:-}" ]]; then
  processors=$NODE_PROCESSORS available=$(nproc)
  if ((processors > available)); then
    echo "node.processors $processors is more than the $available processors this host offers: using $available"
    processors=$available
  fi
  settings+=("node.processors=$processors")
fi
listed=false
IFS=',' read -r -a initial_masters <<< "${INITIAL_MASTER_NODES:-}"
for node in "${initial_masters[@]}"; do
  [[ -n "$node" && "$node" == "${HOSTNAME:-}" ]] && listed=true
done
if [[ "$listed" == true && ! -e "${FORMED_MARKER:?}" ]]; then
  echo "no cluster has formed yet ($FORMED_MARKER is absent): bootstrapping with master nodes $INITIAL_MASTER_NODES"
  settings+=("cluster.initial_master_nodes=$INITIAL_MASTER_NODES")
fi
exec env "${settings[@]}" "$entrypoint" eswrapper
