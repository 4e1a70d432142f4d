#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on the stable toolchain (no sanitizer; with debug
# assertions and overflow checks, as in the test builds).
#
#   scripts/fuzz.sh [SECONDS]        # default 60 s per target
#   FUZZ_TARGETS="frame" scripts/fuzz.sh 300
#
# Seeds from fuzz/seeds/<target>/ are copied into fuzz/corpus/<target>/ first (the corpus
# grows across runs and is not committed). Exits non-zero if any target found a crash, and
# prints the artifact path; reproduce with `cargo fuzz run --sanitizer none <target> <artifact>`
# and turn it into a test in tests/it/fuzz_regressions.rs.
set -uo pipefail

secs="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz" || exit 2

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

# Stable toolchain: with `--sanitizer none` cargo-fuzz needs no -Z flag (checked with
# cargo-fuzz 0.13.2 and rustc 1.95), so neither nightly nor RUSTC_BOOTSTRAP is needed.

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
failed=0
for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t"
    if [ -d "seeds/$t" ]; then
        cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    fi
    before="$(ls "artifacts/$t" | sort)"
    dict=()
    if [ -f "dicts/$t.dict" ]; then
        dict=(-dict="dicts/$t.dict")
    fi
    echo "== $t: ${secs}s"
    cargo fuzz run --sanitizer none --debug-assertions "$t" "corpus/$t" -- "${dict[@]}" \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1
    rc=$?
    after="$(ls "artifacts/$t" | sort)"
    new="$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')"
    if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
        failed=1
        echo "!! $t: crash found (exit $rc)" >&2
        for a in $new; do
            echo "   artifact: $root/fuzz/artifacts/$t/$a" >&2
        done
    else
        echo "== $t: no crash"
    fi
done
exit "$failed"
