#!/bin/bash
# Idle daemon memory over time: starts a daemon in a fresh home (`resurrect` + `ping`, as w1
# does), then prints its RSS, anonymous and file-backed kB at each moment of TIMES (seconds
# after the start) and its threads. What an idle daemon runs after its first trim (1 s after
# the last request) maps code back in, 64 KiB around each page: a rise after the trim is a
# wake-up that RSS pays for.
#   bench/tools/idle_rss.sh target/release/svctl
#   TIMES="1 2 5 10 20 30 60 90" bench/tools/idle_rss.sh target/release/svctl
set -eu
BIN=${1:?usage: idle_rss.sh SVCTL_BINARY}
H=$(mktemp -d /tmp/idlerss.XXXXXX)
trap 'rm -rf "$H"' EXIT
"$BIN" --home "$H" resurrect >/dev/null
"$BIN" --home "$H" ping >/dev/null
P=$(cut -d' ' -f1 "$H/svctl.lock")
T0=$(date +%s%N)
for t in ${TIMES:-1 2 5 10 15 20 30 45 60 90}; do
  wait_ns=$(( T0 + ${t%.*} * 1000000000 - $(date +%s%N) ))
  if [ "$wait_ns" -gt 0 ]; then sleep "$(printf '%d.%09d' $((wait_ns / 1000000000)) $((wait_ns % 1000000000)))"; fi
  awk -v t="$t" '/^Rss:/{r=$2} /^Anonymous:/{a=$2} END{printf "t=%ss rss=%d kB anon=%d kB file=%d kB\n", t, r, a, r-a}' "/proc/$P/smaps_rollup"
done
echo "threads: $(ls "/proc/$P/task" | wc -l)"
"$BIN" --home "$H" kill >/dev/null 2>&1 || kill "$P"
