#!/usr/bin/env bash
# Backup and restore beside restic (Debian package restic), in one run:
#   - an archive of N distinct copies of a 512x512 CT (default 4000, about
#     2.1 GB), received by `sansfilm serve` (compression off) from
#     `sansfilm send`, then the server stopped so both tools read the same
#     quiet data directory;
#   - `sansfilm backup` to a directory: first run, then an incremental run
#     with nothing new; `sansfilm restore` of the snapshot;
#   - `restic backup` of the same data directory to a local repository
#     (restic always encrypts and deduplicates by chunks): first run,
#     incremental run; `restic restore latest`;
#   - both again, encrypted, to a local S3 server (moto's, from .venv; it
#     keeps objects in memory: mind RAM for large N), when S3=1 (default).
# Page caches are dropped before each timed step where the machine allows.
# Usage, from the repository root, after `cargo build --release -p sansfilm`:
#   benches/scripts/backup_restic.sh [WORK_DIR] [N]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
n="${2:-4000}"
py="$root/.venv/bin/python"
bin="$root/target/release/sansfilm"
command -v restic >/dev/null || { echo "apt-get install restic" >&2; exit 2; }
[ -x "$bin" ] || { echo "cargo build --release -p sansfilm" >&2; exit 2; }
mkdir -p "$work"
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s%N; }
rate() { # LABEL START_NS BYTES
  local ns=$(( $(now) - $2 ))
  printf "%-34s %8.2f s  %7.1f MB/s\n" "$1" "$(echo "$ns/1000000000" | bc -l)" "$(echo "$3*1000/$ns" | bc -l)"
}

if [ ! -d "$work/data/objects" ]; then
  "$py" "$root/benches/scripts/qr_synth.py" "$root/fixtures/dicom/nema-wg04/CT1_UNC.dcm" "$work/gen" "$n" 100
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf '[dicom.access]\naccept_any = true\n[compression]\nenabled = false\n' > "$work/serve.toml"
  "$bin" serve --config "$work/serve.toml" --data-dir "$work/data" --port "$port" --hl7-port 0 --web-port 0 \
    > "$work/serve.out" 2> "$work/serve.log" & pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
  "$bin" send --assocs 4 127.0.0.1 "$port" "$work/gen" | tail -1
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$work/gen"
fi
bytes=$(du -sb "$work/data" | cut -f1)
files=$(find "$work/data/objects" -type f | wc -l)
echo "data directory: $files objects, $(( bytes / 1000000 )) MB"

rm -rf "$work/sf-repo" "$work/sf-restore" "$work/restic-repo" "$work/restic-restore" "$work/sf-enc-repo"
printf '[[backup.targets]]\nname = "bench"\nurl = "file://%s/sf-repo"\n' "$work" > "$work/backup.toml"
sf() { "$bin" "$@" --config "$work/backup.toml" --data-dir "$work/data"; }

drop_caches; s=$(now); sf backup > "$work/sf-1.out"; rate "sansfilm backup, first" "$s" "$bytes"
drop_caches; s=$(now); sf backup > "$work/sf-2.out"; rate "sansfilm backup, nothing new" "$s" "$bytes"
grep -o "[0-9]* sent" "$work/sf-2.out" | head -1
drop_caches; s=$(now); sf restore --target bench --to "$work/sf-restore" > "$work/sf-r.out"; rate "sansfilm restore" "$s" "$bytes"
rm -rf "$work/sf-enc-repo" "$work/bench-dir.key" && "$bin" backup new-key "$work/bench-dir.key" > /dev/null
printf '[[backup.targets]]\nname = "enc"\nurl = "file://%s/sf-enc-repo"\nencrypt = true\nkey_file = "%s/bench-dir.key"\n' "$work" "$work" > "$work/backup-enc.toml"
drop_caches; s=$(now); "$bin" backup --config "$work/backup-enc.toml" --data-dir "$work/data" > "$work/sf-e.out"; rate "sansfilm backup, encrypted, first" "$s" "$bytes"

export RESTIC_PASSWORD=bench RESTIC_REPOSITORY="$work/restic-repo"
restic init -q
drop_caches; s=$(now); restic backup -q "$work/data"; rate "restic backup, first" "$s" "$bytes"
drop_caches; s=$(now); restic backup -q "$work/data"; rate "restic backup, nothing new" "$s" "$bytes"
drop_caches; s=$(now); restic restore -q latest --target "$work/restic-restore"; rate "restic restore" "$s" "$bytes"
du -sh "$work/sf-repo" "$work/restic-repo" | sed 's/^/repository size: /'

[ "${S3:-1}" = 1 ] || exit 0
# The same, encrypted, to a local S3 server.
s3port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$s3port" > "$work/moto.log" 2>&1 & moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 200); do "$py" -c "import socket; socket.create_connection(('127.0.0.1', $s3port))" 2>/dev/null && break; sleep 0.05; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
"$py" - "$s3port" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
for b in ("sansfilm-bench", "restic-bench"):
    s3.create_bucket(Bucket=b)
PY
rm -f "$work/bench.key" && "$bin" backup new-key "$work/bench.key" > /dev/null
printf '[[backup.targets]]\nname = "s3"\nurl = "s3://sansfilm-bench/archive"\nendpoint = "http://127.0.0.1:%s"\nencrypt = true\nkey_file = "%s/bench.key"\nwait_for_compression = false\n' \
  "$s3port" "$work" > "$work/backup-s3.toml"
sf3() { "$bin" "$@" --config "$work/backup-s3.toml" --data-dir "$work/data"; }
rm -rf "$work/sf3-restore" "$work/restic3-restore"
drop_caches; s=$(now); sf3 backup > "$work/sf3-1.out"; rate "sansfilm backup to S3, first" "$s" "$bytes"
drop_caches; s=$(now); sf3 backup > "$work/sf3-2.out"; rate "sansfilm backup to S3, nothing new" "$s" "$bytes"
drop_caches; s=$(now); sf3 restore --target s3 --to "$work/sf3-restore" > "$work/sf3-r.out"; rate "sansfilm restore from S3" "$s" "$bytes"
export RESTIC_REPOSITORY="s3:http://127.0.0.1:$s3port/restic-bench"
restic init -q
drop_caches; s=$(now); restic backup -q "$work/data"; rate "restic backup to S3, first" "$s" "$bytes"
drop_caches; s=$(now); restic backup -q "$work/data"; rate "restic backup to S3, nothing new" "$s" "$bytes"
drop_caches; s=$(now); restic restore -q latest --target "$work/restic3-restore"; rate "restic restore from S3" "$s" "$bytes"
