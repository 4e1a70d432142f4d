#!/bin/bash
# flood_one.sh BIN [perf]: a fresh daemon, one app printing $LINES (default 1,000,000) 100-byte lines
# (bench/apps/logflood.sh, as w5 "single"); MB/s from the start command to all on disk, and
# the daemon's CPU ticks meanwhile. `perf` records the daemon (perf record -g) into
# /tmp/perfw5.data. The home is made in $TMPDIR (default /tmp).
set -e
BIN=$(readlink -f "$1")
APP=$(readlink -f "$(dirname "$0")/../apps/logflood.sh")
H=$(mktemp -d "${TMPDIR:-/tmp}/svw5.XXXX")
cat > "$H/e.yaml" <<Y
apps:
  - name: flood
    script: $APP
    args: ["${LINES:-1000000}", "$H/done"]
    log_max_size: 0
    autorestart: false
Y
"$BIN" --home "$H" resurrect >/dev/null
PID=$(awk '{print $1}' "$H/svctl.lock")
if [ "$2" = perf ]; then perf record -F 4000 -g -p "$PID" -o /tmp/perfw5.data 2>/dev/null & PP=$!; sleep 0.3; fi
C0=$(awk '{print $14+$15}' "/proc/$PID/stat")
T0=$(date +%s%N)
"$BIN" --home "$H" start "$H/e.yaml" >/dev/null
while [ "$(stat -c %s "$H/logs/flood-out.log" 2>/dev/null || echo 0)" -lt $((${LINES:-1000000}*100)) ]; do sleep 0.005; done
T1=$(date +%s%N)
C1=$(awk '{print $14+$15}' "/proc/$PID/stat")
echo "MB/s $(( ${LINES:-1000000} * 100 * 1000 / (T1 - T0) )) ; daemon cpu ticks $((C1 - C0)) ; wall $(( (T1 - T0) / 1000000 )) ms"
if [ "$2" = perf ]; then kill -INT "$PP"; wait "$PP" || true; fi
"$BIN" --home "$H" kill >/dev/null
rm -rf "$H"
