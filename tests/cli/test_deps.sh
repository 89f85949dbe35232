# Everything the build, the tests, the benchmarks and the demo use is installed
# by ops/install-deps.sh: headers and .proto files outside the tree, programs
# the Makefile and the scripts run, Python modules, linked libraries (each
# mapped to its Debian package). A new machine has only what that script
# installs, so anything else would pass here and fail there.
source "$(dirname "$0")/lib.sh"
BUILD_DIR=$(dirname "$CONTACTD")

/usr/bin/python3 tests/cli/deps_check.py "$BUILD_DIR" >"$W/ok" 2>&1 || { cat "$W/ok" >&2; fail "a dependency is not installed by ops/install-deps.sh"; }
cat "$W/ok"
expect_grep 'libprotobuf-dev' "$W/ok"

# Negative controls: the check must notice each package going missing and say
# which file needs it and what to add.
check_without() {
  local pkg=$1 file=$2
  if /usr/bin/python3 tests/cli/deps_check.py "$BUILD_DIR" --without "$pkg" >"$W/no-$pkg" 2>&1; then
    cat "$W/no-$pkg" >&2; fail "the check passed without $pkg"
  fi
  expect_grep "$file.* is provided by $pkg, which ops/install-deps.sh does not install: add '$pkg' to PKGS" "$W/no-$pkg"
}
check_without libprotobuf-dev /usr/include/google/protobuf/timestamp.proto
check_without procps "/usr/bin/ps\|/bin/ps"
check_without python3-protobuf "google/protobuf/__init__.py"
check_without libcmocka-dev /usr/include/cmocka.h
check_without kcat /usr/bin/kcat
