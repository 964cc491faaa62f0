# shellcheck shell=bash
# Meson build directories. Source this file.
#
#   build_dir DIR [MESON_OPTION...]   set DIR up (or bring its options up to date) and compile it

build_dir() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    # An existing directory keeps its other settings; the given options are applied again.
    if [ $# -gt 0 ]; then meson configure "$dir" "$@" >/dev/null; fi
  else
    meson setup "$dir" "$@" >"${TMPDIR:-/tmp}/tickd-meson-setup.$$.log" 2>&1 || {
      cat "${TMPDIR:-/tmp}/tickd-meson-setup.$$.log" >&2
      return 1
    }
    rm -f "${TMPDIR:-/tmp}/tickd-meson-setup.$$.log"
  fi
  meson compile -C "$dir" | grep -v '^\[[0-9]*/[0-9]*\] ' || [ "${PIPESTATUS[0]}" -eq 0 ]
}
