#!/usr/bin/env bash
# Fetches the OHIF viewer's prebuilt files (the dist/ of npm's @ohif/app)
# into viewer/ (or DIR), for `[web] viewer_dir`. Nothing of it is committed.
# Usage: scripts/fetch-viewer.sh [DIR]     (OHIF_VERSION=3.13.2 by default)
# Needs npm (the test command installs it when missing).
set -euo pipefail
version="${OHIF_VERSION:-3.13.2}"
dest="${1:-$(cd "$(dirname "$0")/.." && pwd)/viewer}"
if [ -f "$dest/.ohif-version" ] && [ "$(cat "$dest/.ohif-version")" = "$version" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed: apt-get install npm" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@ohif/app@$version" > /dev/null)
tar -xzf "$tmp"/ohif-app-*.tgz -C "$tmp"
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$tmp/package/dist/." "$dest/"
# Not needed to view and compare images: the AI segmentation runtime
# (onnxruntime, 142 MB) and the source maps (40 MB).
rm -rf "$dest/ort"
find "$dest" -name '*.map' -delete
# Our server answers /app-config.js itself (pointed at its own DICOMweb).
rm -f "$dest/app-config.js"
# Precompressed copies, sent to browsers that take gzip (the main bundle is
# 17 MB, 4 MB compressed).
find "$dest" -type f \( -name '*.js' -o -name '*.css' -o -name '*.wasm' -o -name '*.html' -o -name '*.json' -o -name '*.svg' \) \
  -size +2k -exec gzip -k -6 {} \;
echo "$version" > "$dest/.ohif-version"
echo "OHIF $version in $dest ($(du -sh "$dest" | cut -f1))"
