# shellcheck shell=bash
# Installing what is missing, quietly when nothing is. Source this file.
#
#   deps_install [TAG]   apt-get install the packages of scripts/lib/packages.txt (only those
#                        tagged TAG, when given) that are not installed yet

DEPS_LIST=${DEPS_LIST:-$(dirname "${BASH_SOURCE[0]}")/packages.txt}

# Lines "name tags..." of the wanted packages, comments removed.
deps_wanted() {
  local tag=${1:-} name tags
  sed -e 's/#.*//' "$DEPS_LIST" | while read -r name tags; do
    [ -n "$name" ] || continue
    if [ -z "$tag" ] || [[ " $tags " == *" $tag "* ]]; then echo "$name $tags"; fi
  done
}

deps_missing() {
  local name tags t satisfied
  deps_wanted "${1:-}" | while read -r name tags; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null)" = installed ] && continue
    satisfied=
    for t in $tags; do
      if [[ $t == cmd:* ]] && command -v "${t#cmd:}" >/dev/null; then satisfied=1; fi
    done
    [ -n "$satisfied" ] || echo "$name $tags"
  done
}

deps_install() {
  local missing names
  missing=$(deps_missing "${1:-}")
  [ -n "$missing" ] || return 0
  names=$(echo "$missing" | awk '{print $1}' | tr '\n' ' ')
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "missing packages: $names(run as root, or install sudo)" >&2; return 1; }
    sudo=sudo
  fi
  echo "installing: $names" >&2
  export DEBIAN_FRONTEND=noninteractive
  # An apt list older than a day may name versions the mirror no longer has.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get update -qq >/dev/null
  fi
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $names >/dev/null 2>&1 && return 0
  # One at a time, so that an optional package that cannot be had does not stop the rest.
  $sudo apt-get update -qq >/dev/null || true
  local name tags status=0
  while read -r name tags; do
    if ! $sudo apt-get install -y -qq --no-install-recommends "$name" >/dev/null 2>"${TMPDIR:-/tmp}/tickd-apt.$$"; then
      if [[ " $tags " == *" optional "* ]]; then
        echo "warning: could not install $name (optional): the tests that need it skip" >&2
      else
        cat "${TMPDIR:-/tmp}/tickd-apt.$$" >&2
        echo "error: could not install $name" >&2
        status=1
      fi
    fi
  done <<<"$missing"
  rm -f "${TMPDIR:-/tmp}/tickd-apt.$$"
  return $status
}
