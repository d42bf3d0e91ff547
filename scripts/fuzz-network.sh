#!/usr/bin/env bash
# Fuzz the parsers a peer's bytes meet first on the network, one target after
# the other, each for SECONDS (default 3600), and print a summary line per
# target: executions, corpus size, peak memory, and whether it failed.
#
#   scripts/fuzz-network.sh [SECONDS] [TARGET ...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). With no nightly toolchain,
# the stable one is used with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly
# flags for the sanitizer). Logs go to fuzz/logs/, the working corpus to
# fuzz/corpus/ (neither committed); an input that fails is in
# fuzz/artifacts/<target>/ and, once fixed, belongs in fuzz/regressions/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-3600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(dimse_pdu dimse_command cfind_identifier mllp hl7_message)
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

cargo "${toolchain[@]}" fuzz build "${targets[@]:0:1}" >/dev/null
mkdir -p fuzz/logs
failed=0
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/logs/$target.log"
    start=$(date +%s)
    status=ok
    # A large allocation is a failure: the 4 GB one the hardening work fixed
    # would be found at once.
    if ! cargo "${toolchain[@]}" fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10 \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        status=FAILED
        failed=1
    fi
    elapsed=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    echo "$target: $status, ${elapsed} s, $execs executions, corpus $corpus, peak RSS ${peak} MB (log: $log)"
done
exit $failed
