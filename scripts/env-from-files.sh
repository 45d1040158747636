#!/usr/bin/env bash
# Run a command with credentials read from files, so that no pod spec holds one in its env.
#
# ENV_FILES_DIR is a mounted Secret (or a projected volume of several) whose files are
# named after the variables a program reads: KIBANA_ES_PASSWORD, SETUP_PASSWORD, ... Each
# file's content becomes that variable, for this process and the command it becomes (exec),
# and for nothing else: `kubectl get pod -o yaml` and `kubectl describe` show the
# directory's path, never a value, and a rotated Secret reaches the next start or probe
# without a change to the pod spec. Trailing newlines are dropped, as `$(...)` drops them.
#
# Usage: env-from-files.sh COMMAND [ARG...]. Refuses a file name that is not a variable name,
# and fails when the directory is missing, so a lost mount shows in the log at once rather
# than as a login refused later.
set -euo pipefail

directory="${ENV_FILES_DIR:?ENV_FILES_DIR names the directory of credential files}"
if [[ ! -d "$directory" ]]; then
  echo "env-from-files: $directory is not a directory: the credentials volume is not mounted" >&2
  exit 1
fi
for file in "$directory"/*; do
  # A Secret volume also holds hidden `..data` links, which the glob skips.
  [[ -f "$file" ]] || continue
  name=${file##*/}
  if [[ ! "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "env-from-files: $file is not named after an environment variable" >&2
    exit 1
  fi
  export "$name=$(<"$file")"
done
exec "$@"
