#!/usr/bin/env bash
# Runs a command (the test suite) and fails when it leaves traces outside the repository: anything new
# in the user's earthmover cache (~/.cache/earthmover, searched to every depth) or at the top of /tmp
# (and of $TMPDIR when that is another folder), except pytest's own temporary folders (pytest-of-USER,
# which pytest prunes to its last three runs).
#   bash scripts/check_hermetic.sh python3 -m pytest
# Exit status: the command's own when it fails; otherwise 1 when something new was left, else 0.
set -uo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: bash scripts/check_hermetic.sh COMMAND [ARGS...]" >&2
  exit 2
fi
cache="${HOME}/.cache/earthmover"
tmps=(/tmp)
if [ -n "${TMPDIR:-}" ] && [ "$(realpath -m "$TMPDIR")" != /tmp ]; then tmps+=("$(realpath -m "$TMPDIR")"); fi

snapshot() {
  if [ -d "$cache" ]; then find "$cache" -mindepth 1 2>/dev/null; fi
  local dir
  for dir in "${tmps[@]}"; do
    if [ -d "$dir" ]; then find "$dir" -mindepth 1 -maxdepth 1 ! -name 'pytest-of-*' 2>/dev/null; fi
  done
}

before=$(mktemp -d "${TMPDIR:-/tmp}/check_hermetic.XXXXXX") || exit 2
trap 'rm -rf "$before"' EXIT
snapshot | LC_ALL=C sort >"$before/list"
"$@"
status=$?
snapshot | LC_ALL=C sort >"$before/after"
new=$(LC_ALL=C comm -13 "$before/list" "$before/after")
if [ -n "$new" ]; then
  echo "check_hermetic: the run left $(printf '%s\n' "$new" | wc -l) new entries outside the repository:" >&2
  printf '%s\n' "$new" | sed 's/^/  /' >&2
  if [ "$status" -eq 0 ]; then status=1; fi
else
  echo "check_hermetic: nothing new in $cache or ${tmps[*]}"
fi
exit "$status"
