#!/usr/bin/env bash
# install-deps.sh — installs the Debian (bookworm) packages contactd needs to
# build, test, benchmark and run its demo, on a machine that has none of them.
# Idempotent: installs only what is missing. Needs root (or sudo) when
# something is missing. `install-deps.sh --list` prints the packages, one a line.
#
# Packages are installed without their Recommends, so everything used must be
# listed here or be a Depends of something listed: tests/cli/test_deps.sh
# derives what the build, the tests and the scripts really use and fails,
# naming the package to add, when it is not.
set -euo pipefail

PKGS=(
  # build
  build-essential pkg-config
  librdkafka-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
  libjansson-dev libxxhash-dev
  libsodium-dev            # keyed BLAKE2b: citizen pseudonyms in logs and Redis keys (util/pseudonym.c)
  libmicrohttpd-dev        # the /metrics, /healthz and /readyz server (consumer/httpd.c)
  uthash-dev               # uthash.h: the aggregate stage's tables (state/aggregate.c)
  libprotobuf-dev          # google/protobuf/*.proto (only a Recommends of protobuf-compiler)
  # tests, benchmarks, demo
  libcmocka-dev
  protobuf-compiler python3 python3-protobuf python3-yaml
  python3-prometheus-client   # its parser checks the /metrics exposition in the tests
  redis-server redis-tools kcat
  openssl                  # ops/redis-credentials.sh (the password); the TLS test's certificates
  stunnel4                 # a TLS client in front of Redis (docs/operations.md); test_redis_tls.sh runs one
  procps                   # ps, used by the test helpers' cleanup
  curl                     # scrapes /metrics, /healthz and /readyz in the tests and the live benchmark
  time                     # /usr/bin/time -v: peak memory in the benchmarks
  linux-perf               # perf record, when the live benchmark is asked for a profile
  valgrind                 # callgrind: instructions per record in the history benchmark
  chromium                 # headless: renders `contactd report --format html` in its test
  clang libclang-rt-14-dev # the fuzz harnesses: clang -fsanitize=fuzzer and its libFuzzer runtime (make fuzz)
  llvm                     # llvm-symbolizer: function names in a harness's crash report
  fonts-dejavu-core        # the font that page names, so its screenshot has text to show
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${PKGS[@]}"
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
