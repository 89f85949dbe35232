#!/usr/bin/env bash
# install-deps.sh — installs the Debian (bookworm) packages contactd needs to
# build, test, benchmark and run its demo. Idempotent: installs only what is
# missing. Needs root (or sudo) when something is missing.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  librdkafka-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
  libjansson-dev libxxhash-dev libcmocka-dev
  protobuf-compiler python3 python3-protobuf python3-yaml
  redis-server kcat time
)

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
