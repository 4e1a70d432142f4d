#!/bin/bash
# burst_rss.sh BIN: 75 log-spamming apps (the soak's logspam); the daemon's anon/file RSS (kB)
# before, and after three 1.5 s SIGSTOP pauses (a backlog as under load), then after a quiet trim.
B=$(readlink -f $1); H=$(mktemp -d /tmp/svbr.XXXX)
cat > $H/e.json <<J
{"apps":[{"name":"logspam","script":"bash","instances":75,"log_max_size":"5M","log_retain":2,
"args":["-c","n=0; while :; do n=\$((n+1)); yes \"spam \$n from \$NODE_APP_INSTANCE: the quick brown fox jumps over\" | head -n 500; echo \"err \$n\" >&2; sleep 0.25; done"]}]}
J
$B --home $H resurrect >/dev/null; P=$(cat $H/svctl.lock)
m() { awk -v t="$1" '/^Rss:/{r=$2} /^Anonymous:/{a=$2} END{printf "%s: rss=%d anon=%d\n", t, r, a}' /proc/$P/smaps_rollup; }
$B --home $H start $H/e.json >/dev/null 2>&1; sleep 8; m "running 8 s"
for i in 1 2 3; do kill -STOP $P; sleep 1.5; kill -CONT $P; sleep 3; done; m "after 3 pauses"
sleep 62; m "62 s later (a busy trim ran)"
$B --home $H kill >/dev/null; rm -rf $H
