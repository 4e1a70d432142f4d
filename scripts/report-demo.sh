#!/usr/bin/env bash
# A scripted incident for the README's report: a daemon in a temp home runs a steady app, a
# leaking app restarted at its memory limit, and an API that a deployment breaks into a crash
# loop; a manual restart on the way. Then `svctl report` in every format, and a screenshot of
# the HTML by headless chromium.
#
#   scripts/report-demo.sh [OUT_DIR] [MINUTES]     (defaults: /tmp/svctl-report-demo, 10)
set -euo pipefail
out=${1:-/tmp/svctl-report-demo}
minutes=${2:-10}
svctl=${SVCTL:-$(cd "$(dirname "$0")/.." && pwd)/target/debug/svctl}
home=$(mktemp -d /tmp/svdemo.XXXX)
mkdir -p "$out"
export SVCTL_HOME=$home

cat >"$home/leak.py" <<'PY'
import sys, time
held = []
while True:
    held.append(bytearray(3 << 20))  # 3 MiB a second: the limit is reached in about 40 s
    time.sleep(1)
PY
cat >"$home/api-good.sh" <<'SH'
#!/bin/sh
exec sleep 100000
SH
cat >"$home/api-bad.sh" <<'SH'
#!/bin/sh
sleep 4
echo 'Traceback (most recent call last):' >&2
echo '  File "/srv/api/app.py", line 3, in <module>' >&2
echo "ModuleNotFoundError: No module named 'flask_login_extras'" >&2
exit 3
SH
chmod +x "$home"/*.sh
eco() {
  cat >"$home/ecosystem.yaml" <<YAML
apps:
  - name: api
    script: $home/$1
    restart_delay: 2000
    min_uptime: 1s
  - name: leaky
    script: python3
    args: ["$home/leak.py"]
    max_memory_restart: 120M
    memory_check_interval: 500
  - name: steady
    script: sleep
    args: "100000"
YAML
}

"$svctl" daemon >"$home/daemon.log" 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 50); do "$svctl" --no-autostart ping >/dev/null 2>&1 && break; sleep 0.1; done

eco api-good.sh
"$svctl" --no-autostart apply "$home/ecosystem.yaml" >/dev/null
total=$((minutes * 60))
sleep $((total * 3 / 10))
eco api-bad.sh          # the deployment that breaks the API
"$svctl" --no-autostart apply "$home/ecosystem.yaml" >/dev/null || true
sleep $((total * 3 / 10))
"$svctl" --no-autostart restart steady >/dev/null
sleep $((total * 4 / 10))

since="${minutes}m"
"$svctl" report --since "$since" -o "$out/report.html"
"$svctl" report --since "$since" -o "$out/report.md"
"$svctl" report --since "$since" -o "$out/report.json"
if command -v chromium >/dev/null; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$home/chromium" --window-size=900,1500 \
    --screenshot="$out/report.png" "file://$out/report.html" 2>/dev/null
fi
kill "$daemon"
wait "$daemon" 2>/dev/null || true
trap - EXIT
echo "wrote $out/report.{html,md,json,png} (history in $home)"
