# shellcheck shell=bash
# Installing what is missing, quietly when nothing is. Source this file.
#
#   deps_install [TAG]   apt-get install the packages of scripts/lib/packages.txt (only those
#                        tagged TAG, when given) that dpkg does not report as installed

DEPS_LIST=${DEPS_LIST:-$(dirname "${BASH_SOURCE[0]}")/packages.txt}

deps_wanted() {
  local tag=${1:-}
  sed -e 's/#.*//' "$DEPS_LIST" | while read -r name tags; do
    [ -n "$name" ] || continue
    if [ -z "$tag" ] || [[ " $tags " == *" $tag "* ]]; then echo "$name"; fi
  done
}

deps_missing() {
  local p
  for p in $(deps_wanted "${1:-}"); do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
      echo "$p"
    fi
  done
}

deps_install() {
  local missing
  missing=$(deps_missing "${1:-}" | tr '\n' ' ')
  [ -n "${missing// /}" ] || return 0
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "missing packages: $missing (run as root or install sudo)" >&2; return 1; }
    sudo=sudo
  fi
  echo "installing: $missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  # An apt list older than a day may name versions the mirror no longer has.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get update -qq >/dev/null
  fi
  # shellcheck disable=SC2086
  if ! $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    $sudo apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}
