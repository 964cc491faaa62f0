# shellcheck shell=bash
# Meson build directories. Source this file.
#
#   build_dir DIR [MESON_OPTION...]      set DIR up (or re-apply the options) and compile it all
#   build_setup DIR [MESON_OPTION...]    only set it up
#   build_for_suites DIR only|but SUITE...  compile just what the tests of the SUITEs (only) or of
#                                           every other suite (but) need, plus tickd

build_setup() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    # An existing directory keeps its other settings; the given options are applied again.
    if [ $# -gt 0 ]; then meson configure "$dir" "$@" >/dev/null; fi
  else
    local log=${TMPDIR:-/tmp}/tickd-meson-setup.$$.log
    meson setup "$dir" "$@" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
    rm -f "$log"
  fi
}

# ninja, without its progress lines (errors still show).
_build_ninja() {
  local dir=$1
  shift
  ninja -C "$dir" "$@" | grep -v -e '^\[[0-9]*/[0-9]*\] ' -e '^ninja: Entering directory' || [ "${PIPESTATUS[0]}" -eq 0 ]
}

build_dir() {
  build_setup "$@"
  _build_ninja "$1"
}

build_for_suites() {
  local dir=$1 mode=$2 targets
  shift 2
  # meson regenerates build.ninja itself when a meson.build changed; do that first so the
  # introspection below sees the current tests.
  ninja -C "$dir" build.ninja >/dev/null
  targets=$(meson introspect "$dir" --tests --targets | python3 -c '
import json, os, sys
data = json.load(sys.stdin)
mode, build, suites = sys.argv[1], os.path.realpath(sys.argv[2]), set(sys.argv[3:])
files = {t["id"]: t["filename"][0] for t in data["targets"]}
wanted = {i for i, t in files.items() if os.path.basename(t) == "tickd"}
for test in data["tests"]:
    in_suite = any(s.split(":")[-1] in suites for s in test["suite"])
    if in_suite == (mode == "only"):
        wanted.update(test.get("depends", []))
for i in sorted(wanted):
    if i in files:
        print(os.path.relpath(os.path.realpath(files[i]), build))
' "$mode" "$dir" "$@") || targets=
  # shellcheck disable=SC2086
  _build_ninja "$dir" $targets
}
