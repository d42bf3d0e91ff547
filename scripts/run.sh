#!/usr/bin/env bash
# Runs the archive (`sansfilm serve`) with its embedded defaults, after
# installing what the build needs beyond Rust and gcc: cmake and g++ for
# CharLS, the JPEG-LS codec (apt-get; root or sudo). Arguments are passed to
# `sansfilm serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v g++ >/dev/null 2>&1 || need+=(g++)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (needed to build the JPEG-LS codec)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
exec cargo run --release -p sansfilm -- serve "$@"
