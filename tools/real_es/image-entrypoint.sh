#!/usr/bin/env bash
# Stand-in for the Elasticsearch image's /usr/local/bin/docker-entrypoint.sh, which the
# test distribution lacks. It does only what the image's entrypoint does for a non-root
# container (elastic/elasticsearch distribution/docker/src/docker/bin/docker-entrypoint.sh):
# - any command other than `eswrapper` runs as it is (the pods' args go through here);
# - `eswrapper`: ELASTIC_PASSWORD becomes the keystore's `bootstrap.password` (creating the
#   keystore when missing), every env var with a dotted lower-case name becomes a `-E`
#   option, and bin/elasticsearch starts with them.
# The tier prints that it used this stand-in. Not emulated: tini as PID 1, the
# `*_FILE` variables, the cgroup override and root's chroot to uid 1000.
set -e
umask 0002
if [[ "${1:-}" != eswrapper ]]; then
  exec "$@"
fi
es_opts=()
while IFS='=' read -r key value; do
  if [[ "$key" =~ ^[a-z0-9_]+\.[a-z0-9_]+ && -n "$value" ]]; then
    es_opts+=("-E$key=$value")
  fi
done < <(env)
if [[ -n "${ELASTIC_PASSWORD:-}" ]]; then
  [[ -f config/elasticsearch.keystore ]] || elasticsearch-keystore create
  if ! elasticsearch-keystore list | grep -q '^bootstrap.password$'; then
    printf '%s' "$ELASTIC_PASSWORD" | elasticsearch-keystore add -x bootstrap.password
  fi
fi
echo "image entrypoint stand-in: bin/elasticsearch ${es_opts[*]}"
exec /usr/share/elasticsearch/bin/elasticsearch "${es_opts[@]}"
