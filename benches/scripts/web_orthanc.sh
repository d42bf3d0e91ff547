#!/usr/bin/env bash
# DICOMweb beside Orthanc and its DICOMweb plugin (Debian packages orthanc,
# orthanc-dicomweb), in one run, on the same 500-instance CT series kept in
# JPEG-LS by both: QIDO study search latency, series /metadata latency
# (first and warm), frames per second over 4 connections as stored
# (transfer-syntax=*) and decoded to native pixels (benches/scripts/web_load.py).
# Usage, from the repository root, after `cargo build --release -p sansfilm`
# and the test command (its .venv):  benches/scripts/web_orthanc.sh [WORK_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
py="$root/.venv/bin/python"
bin="$root/target/release/sansfilm"
command -v Orthanc >/dev/null || { echo "apt-get install orthanc orthanc-dicomweb" >&2; exit 2; }
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || { echo "apt-get install orthanc-dicomweb" >&2; exit 2; }
[ -x "$bin" ] || { echo "cargo build --release -p sansfilm" >&2; exit 2; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

"$py" "$root/benches/scripts/qr_synth.py" "$root/fixtures/dicom/nema-wg04/CT1_UNC.dcm" "$work/plain" 500 500
mkdir -p "$work/jls"
for f in "$work"/plain/*.dcm; do "$bin" transcode --to jpegls "$f" "$work/jls/$(basename "$f")" > /dev/null; done

od=$(free_port); oh=$(free_port); sd=$(free_port); sw=$(free_port)
mkdir -p "$work/o"
cat > "$work/o/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$work/o/storage", "IndexDirectory": "$work/o/index",
  "DicomAet": "ORTHANC", "DicomPort": $od, "HttpPort": $oh, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "StorageCompression": false, "DicomCheckCalledAet": false,
  "Plugins": [ "/usr/share/orthanc/plugins/libOrthancDicomWeb.so" ],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
JSON
Orthanc "$work/o/orthanc.json" > "$work/o/log" 2>&1 & pids+=($!)
mkdir -p "$work/s"
printf '[compression]\nenabled = false\n[web]\nport = %s\n' "$sw" > "$work/s/config.toml"
echo 'a long bench password' | "$bin" user add bench --role radiologist --data-dir "$work/s/data" > /dev/null
"$bin" serve --data-dir "$work/s/data" --port "$sd" --hl7-port 0 --config "$work/s/config.toml" > "$work/s/out" 2> "$work/s/log" & pids+=($!)
wait_http "http://127.0.0.1:$oh/dicom-web/studies"; wait_http "http://127.0.0.1:$sw/login"
"$bin" send --called-aet ORTHANC --assocs 4 127.0.0.1 "$od" "$work/jls" | tail -1
"$bin" send --called-aet SANSFILM --assocs 4 127.0.0.1 "$sd" "$work/jls" | tail -1
study=1.2.826.0.1.3680043.10.543.9.1.0
series=1.2.826.0.1.3680043.10.543.9.2.0
"$py" "$root/benches/scripts/web_load.py" Orthanc "http://127.0.0.1:$oh/dicom-web" "" "" "$study" "$series"
"$py" "$root/benches/scripts/web_load.py" sansfilm "http://127.0.0.1:$sw/dicom-web" bench 'a long bench password' "$study" "$series"
