#!/usr/bin/env bash
# Runs the whole test suite of sansfilm, after installing what the tests need:
# DCMTK (storescu, findscu, echoscu: real peers; its codecs), GDCM's gdcmconv
# (files compressed by another toolkit), rsyslog (an audit
# repository), fiu-utils (rename and fsync made to fail), Chromium (the viewer
# in a real browser), Node.js and npm, and
# cmake with apt-get;
# pynetdicom, dicomweb-client, the hl7 package (mllp_send), lxml and rnc2rng
# (audit schema), pydicom's decoders (pylibjpeg, openjpeg, libjpeg, pyjpegls),
# moto's S3 server (the off-site backup target) in a virtual environment
# (.venv); the OHIF viewer (scripts/fetch-viewer.sh) and playwright-core
# (.node) with npm. Needs root or sudo for apt-get and for the
# full-disk test, which mounts a small tmpfs.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
command -v storescu >/dev/null 2>&1 || need+=(dcmtk)
command -v gdcmconv >/dev/null 2>&1 || need+=(libgdcm-tools) # GDCM: compressed inputs
command -v cmake >/dev/null 2>&1 || need+=(cmake)   # CharLS (JPEG-LS) builds with cmake
command -v g++ >/dev/null 2>&1 || need+=(g++)       # and is C++
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
command -v fiu-run >/dev/null 2>&1 || need+=(fiu-utils)     # make rename and fsync fail
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ -x /usr/bin/chromium ] || need+=(chromium)             # the viewer test's browser
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)             # fetches OHIF, playwright-core
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -c 'import pynetdicom, hl7, lxml, rnc2rng, numpy, pylibjpeg, openjpeg, libjpeg, jpeg_ls, dicomweb_client, moto, boto3' >/dev/null 2>&1 || .venv/bin/pip install -q pynetdicom hl7 lxml rnc2rng numpy pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg pyjpegls dicomweb-client 'moto[server]'
./scripts/fetch-viewer.sh
[ -d .node/node_modules/playwright-core ] || npm install --silent --no-audit --no-fund --prefix .node playwright-core@1.65.2
export SANSFILM_PYTHON="$PWD/.venv/bin/python"
# One whole run from a fresh clone gains nothing from incremental caches, which
# would double the target directory; set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace
