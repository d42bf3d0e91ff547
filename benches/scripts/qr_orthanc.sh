#!/usr/bin/env bash
# Query/Retrieve beside Orthanc, in one run (Debian packages orthanc and
# dcmtk; pydicom in the test command's .venv):
#   - C-FIND latency through DCMTK findscu (process start included, median
#     of 11) with 10,000 instances (200 studies) in each archive;
#   - C-GET of a 500-instance CT study to DCMTK getscu (uncompressed
#     syntaxes only): Orthanc and sansfilm as stored, sansfilm compressed to
#     JPEG-LS (decoded for the peer).
# Usage, from the repository root, after `cargo build --release -p sansfilm`:
#   benches/scripts/qr_orthanc.sh [WORK_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
py="$root/.venv/bin/python"
bin="$root/target/release/sansfilm"
fx="$root/fixtures/dicom"
command -v Orthanc >/dev/null || { echo "apt-get install orthanc" >&2; exit 2; }
[ -x "$bin" ] || { echo "cargo build --release -p sansfilm" >&2; exit 2; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

"$py" "$root/benches/scripts/qr_synth.py" "$fx/pydicom/CT_small.dcm" "$work/small" 10000 50
"$py" "$root/benches/scripts/qr_synth.py" "$fx/nema-wg04/CT1_UNC.dcm" "$work/study" 500 500

orthanc() { # DIR PORT
  mkdir -p "$1"
  cat > "$1/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$1/storage", "IndexDirectory": "$1/index",
  "DicomAet": "ORTHANC", "DicomPort": $2, "HttpPort": $(free_port), "DicomCheckCalledAet": false,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "StorageCompression": false,
  "DicomThreadsCount": 4, "Plugins": [], "DicomAlwaysAllowFind": true, "DicomAlwaysAllowGet": true }
JSON
  TCP_NODELAY=1 Orthanc "$1/orthanc.json" > "$1/log" 2>&1 & pids+=($!)
}
sansfilm() { # DIR PORT
  mkdir -p "$1"
  printf '[dicom.access]\naccept_any = true\n[compression]\nenabled = false\n' > "$1/config.toml"
  "$bin" serve --data-dir "$1/data" --port "$2" --hl7-port 0 --config "$1/config.toml" > "$1/out" 2> "$1/log" & pids+=($!)
}
wait_echo() { for _ in $(seq 100); do echoscu -aec "$2" 127.0.0.1 "$1" 2>/dev/null && return; sleep 0.2; done; echo "no C-ECHO on $1" >&2; exit 1; }

find_med() { # PORT AET NAME KEYS...
  local port=$1 aet=$2 name=$3; shift 3; local ts=() n=0
  for _ in $(seq 11); do
    local s; s=$(date +%s%N)
    n=$(TCP_NODELAY=1 findscu -v -S -aec "$aet" -aet BENCH "$@" 127.0.0.1 "$port" 2>&1 | grep -c "(Pending)" || true)
    ts+=($(( ($(date +%s%N) - s) / 100000 )))
  done
  printf "%-9s %-11s answers %3d  findscu median %6.1f ms\n" "$aet" "$name" "$n" "$(echo "$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 6p)/10" | bc -l)"
}
get_rate() { # PORT AET LABEL
  for i in 1 2 3; do
    local out="$work/got"; rm -rf "$out"; mkdir -p "$out"; local s; s=$(date +%s%N)
    TCP_NODELAY=1 getscu -S -aec "$2" -aet BENCH -od "$out" -k QueryRetrieveLevel=STUDY \
      -k StudyInstanceUID=1.2.826.0.1.3680043.10.543.9.1.0 127.0.0.1 "$1" > /dev/null 2>&1
    local ms=$(( ($(date +%s%N) - s) / 1000000 )) n; n=$(ls "$out" | wc -l)
    printf "%-28s C-GET run %d: %3d instances in %5d ms: %6.1f inst/s\n" "$3" "$i" "$n" "$ms" "$(echo "$n*1000/$ms" | bc -l)"
  done
}

po=$(free_port); ps=$(free_port)
orthanc "$work/o1" "$po"; sansfilm "$work/s1" "$ps"; wait_echo "$po" ORTHANC; wait_echo "$ps" SANSFILM
"$bin" send --called-aet ORTHANC --assocs 4 127.0.0.1 "$po" "$work/small" | tail -1
"$bin" send --called-aet SANSFILM --assocs 4 127.0.0.1 "$ps" "$work/small" | tail -1
for srv in "$po ORTHANC" "$ps SANSFILM"; do
  set -- $srv
  find_med "$1" "$2" "patient id" -k QueryRetrieveLevel=STUDY -k PatientID=PAT000050 -k StudyInstanceUID -k ModalitiesInStudy -k NumberOfStudyRelatedInstances
  find_med "$1" "$2" "name*" -k QueryRetrieveLevel=STUDY -k "PatientName=NOM50^*" -k StudyInstanceUID -k StudyDate
  find_med "$1" "$2" "date day" -k QueryRetrieveLevel=STUDY -k StudyDate=20200305 -k PatientName -k StudyInstanceUID
  find_med "$1" "$2" "date month" -k QueryRetrieveLevel=STUDY -k StudyDate=20200301-20200328 -k PatientName -k ModalitiesInStudy
  find_med "$1" "$2" "series" -k QueryRetrieveLevel=SERIES -k StudyInstanceUID=1.2.826.0.1.3680043.10.543.9.1.77 -k SeriesInstanceUID -k NumberOfSeriesRelatedInstances
done

po=$(free_port); ps=$(free_port); pj=$(free_port)
orthanc "$work/o2" "$po"; sansfilm "$work/s2" "$ps"; sansfilm "$work/s3" "$pj"
wait_echo "$po" ORTHANC; wait_echo "$ps" SANSFILM; wait_echo "$pj" SANSFILM
for p in "$po ORTHANC" "$ps SANSFILM" "$pj SANSFILM"; do set -- $p; "$bin" send --called-aet "$2" --assocs 4 127.0.0.1 "$1" "$work/study" | tail -1; done
"$bin" compress --data-dir "$work/s3/data" --min-age-minutes 0 | tail -1
get_rate "$po" ORTHANC "Orthanc (as stored)"
get_rate "$ps" SANSFILM "sansfilm (as stored)"
get_rate "$pj" SANSFILM "sansfilm (JPEG-LS, decoded)"
