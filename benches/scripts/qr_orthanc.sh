#!/usr/bin/env bash
# Query/Retrieve beside Orthanc, in one run (Debian packages orthanc and
# dcmtk; pydicom in the test command's .venv):
#   - C-FIND latency through DCMTK findscu (process start included, median
#     of 11) with each archive holding 10,000 and then 100,000 instances
#     (50 per study);
#   - C-GET (getscu) and C-MOVE (movescu to a DCMTK storescp) of a
#     500-instance CT study, the peer taking uncompressed syntaxes only
#     (both tools' defaults), three runs each: with the study stored
#     uncompressed, and with it stored in JPEG-LS (decoded for the peer by
#     each archive: Orthanc through DCMTK, sansfilm through CharLS).
# Usage, from the repository root, after `cargo build --release -p sansfilm`:
#   benches/scripts/qr_orthanc.sh [WORK_DIR] [SIZES]
# SIZES defaults to "10000 100000" (about 4 GB per copy at 100,000; three
# copies: the generated files and one per archive).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
sizes="${2:-10000 100000}"
py="$root/.venv/bin/python"
bin="$root/target/release/sansfilm"
fx="$root/fixtures/dicom"
command -v Orthanc >/dev/null || { echo "apt-get install orthanc" >&2; exit 2; }
[ -x "$bin" ] || { echo "cargo build --release -p sansfilm" >&2; exit 2; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

dest_port=$(free_port)
orthanc() { # DIR PORT
  mkdir -p "$1"
  cat > "$1/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$1/storage", "IndexDirectory": "$1/index",
  "DicomAet": "ORTHANC", "DicomPort": $2, "HttpPort": $(free_port), "DicomCheckCalledAet": false,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "StorageCompression": false,
  "DicomThreadsCount": 4, "Plugins": [], "DicomAlwaysAllowFind": true, "DicomAlwaysAllowGet": true,
  "DicomAlwaysAllowMove": true, "DicomModalities": { "DEST": [ "DEST", "127.0.0.1", $dest_port ] } }
JSON
  TCP_NODELAY=1 Orthanc "$1/orthanc.json" > "$1/log" 2>&1 & pids+=($!)
}
sansfilm() { # DIR PORT
  mkdir -p "$1"
  printf '[dicom.access]\naccept_any = true\n[compression]\nenabled = false\n[dicom.destinations.DEST]\nhost = "127.0.0.1"\nport = %s\n' "$dest_port" > "$1/config.toml"
  "$bin" serve --data-dir "$1/data" --port "$2" --hl7-port 0 --config "$1/config.toml" > "$1/out" 2> "$1/log" & pids+=($!)
}
wait_echo() { for _ in $(seq 100); do echoscu -aec "$2" 127.0.0.1 "$1" 2>/dev/null && return; sleep 0.2; done; echo "no C-ECHO on $1" >&2; exit 1; }
send() { # PORT AET DIR
  "$bin" send --called-aet "$2" --assocs 4 127.0.0.1 "$1" "$3" | tail -1
}

find_med() { # PORT AET NAME KEYS...
  local port=$1 aet=$2 name=$3; shift 3; local ts=() n=0
  for _ in $(seq 11); do
    local s; s=$(date +%s%N)
    n=$(TCP_NODELAY=1 findscu -v -S -aec "$aet" -aet BENCH "$@" 127.0.0.1 "$port" 2>&1 | grep -c "(Pending)" || true)
    ts+=($(( ($(date +%s%N) - s) / 100000 )))
  done
  printf "%-9s %7s %-11s answers %3d  findscu median %6.1f ms\n" "$aet" "$total" "$name" "$n" "$(echo "$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 6p)/10" | bc -l)"
}
study=1.2.826.0.1.3680043.10.543.9.1.0
rate() { # LABEL N MS
  printf "%-40s %3d instances in %5d ms: %6.1f inst/s\n" "$1" "$2" "$3" "$(echo "$2*1000/$3" | bc -l)"
}
get_rate() { # PORT AET LABEL
  for i in 1 2 3; do
    local out="$work/got"; rm -rf "$out"; mkdir -p "$out"; local s; s=$(date +%s%N)
    TCP_NODELAY=1 getscu -S -aec "$2" -aet BENCH -od "$out" -k QueryRetrieveLevel=STUDY \
      -k StudyInstanceUID=$study 127.0.0.1 "$1" > /dev/null 2>&1 || true
    rate "$3 C-GET run $i" "$(ls "$out" | wc -l)" $(( ($(date +%s%N) - s) / 1000000 ))
  done
}
move_rate() { # PORT AET LABEL
  for i in 1 2 3; do
    local out="$work/moved"; rm -rf "$out"; mkdir -p "$out"
    TCP_NODELAY=1 storescp -aet DEST -od "$out" "$dest_port" > /dev/null 2>&1 & local scp=$!
    wait_echo "$dest_port" DEST
    local s; s=$(date +%s%N)
    TCP_NODELAY=1 movescu -S -aec "$2" -aet BENCH -aem DEST -k QueryRetrieveLevel=STUDY \
      -k StudyInstanceUID=$study 127.0.0.1 "$1" > /dev/null 2>&1 || true
    local ms=$(( ($(date +%s%N) - s) / 1000000 ))
    kill $scp; wait $scp 2>/dev/null || true
    rate "$3 C-MOVE run $i" "$(ls "$out" | wc -l)" "$ms"
  done
}

echo "== C-FIND latency"
po=$(free_port); ps=$(free_port)
orthanc "$work/o1" "$po"; sansfilm "$work/s1" "$ps"; wait_echo "$po" ORTHANC; wait_echo "$ps" SANSFILM
total=0
for size in $sizes; do
  rm -rf "$work/small"
  "$py" "$root/benches/scripts/qr_synth.py" "$fx/pydicom/CT_small.dcm" "$work/small" $((size - total)) 50 "$total"
  echo "sending $((size - total)) instances to each archive"
  send "$po" ORTHANC "$work/small"; send "$ps" SANSFILM "$work/small"
  total=$size
  for srv in "$po ORTHANC" "$ps SANSFILM"; do
    set -- $srv
    find_med "$1" "$2" "patient id" -k QueryRetrieveLevel=STUDY -k PatientID=PAT000050 -k StudyInstanceUID -k ModalitiesInStudy -k NumberOfStudyRelatedInstances
    find_med "$1" "$2" "name*" -k QueryRetrieveLevel=STUDY -k "PatientName=NOM50^*" -k StudyInstanceUID -k StudyDate
    find_med "$1" "$2" "date day" -k QueryRetrieveLevel=STUDY -k StudyDate=20200305 -k PatientName -k StudyInstanceUID
    find_med "$1" "$2" "date month" -k QueryRetrieveLevel=STUDY -k StudyDate=20200301-20200328 -k PatientName -k ModalitiesInStudy
    find_med "$1" "$2" "series" -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=1.2.826.0.1.3680043.10.543.9.1.77 -k SeriesInstanceUID -k NumberOfSeriesRelatedInstances
  done
done
rm -rf "$work/small"

echo "== C-GET and C-MOVE of a 500-instance study to an uncompressed-only peer"
"$py" "$root/benches/scripts/qr_synth.py" "$fx/nema-wg04/CT1_UNC.dcm" "$work/study" 500 500
mkdir -p "$work/study-jls"
for f in "$work"/study/*.dcm; do "$bin" transcode --to jpegls "$f" "$work/study-jls/$(basename "$f")" > /dev/null; done
po=$(free_port); ps=$(free_port); pjo=$(free_port); pjs=$(free_port)
orthanc "$work/o2" "$po"; sansfilm "$work/s2" "$ps"; orthanc "$work/o3" "$pjo"; sansfilm "$work/s3" "$pjs"
wait_echo "$po" ORTHANC; wait_echo "$ps" SANSFILM; wait_echo "$pjo" ORTHANC; wait_echo "$pjs" SANSFILM
send "$po" ORTHANC "$work/study"; send "$ps" SANSFILM "$work/study"
send "$pjo" ORTHANC "$work/study-jls"; send "$pjs" SANSFILM "$work/study-jls"
get_rate "$po" ORTHANC "Orthanc, stored uncompressed,"
get_rate "$ps" SANSFILM "sansfilm, stored uncompressed,"
get_rate "$pjo" ORTHANC "Orthanc, stored JPEG-LS,"
get_rate "$pjs" SANSFILM "sansfilm, stored JPEG-LS,"
move_rate "$po" ORTHANC "Orthanc, stored uncompressed,"
move_rate "$ps" SANSFILM "sansfilm, stored uncompressed,"
move_rate "$pjo" ORTHANC "Orthanc, stored JPEG-LS,"
move_rate "$pjs" SANSFILM "sansfilm, stored JPEG-LS,"
