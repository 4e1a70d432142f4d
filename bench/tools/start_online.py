#!/usr/bin/env python3
"""start_online.py BIN N [ENV=V ...]: ms from `svctl start FILE` to N `sleep` apps online.

Each round: a fresh home in $TMPDIR (TMPDIR=/dev/shm puts the log files on tmpfs, to tell the
daemon's cost from the disk's), the daemon started first (COLD=1: by the start command), then
`start` of an ecosystem of N apps and `list --json` polled until all are online. ROUNDS=3 by
default; prints each round and the median. SVCTL_CGROUPS=off as an argument measures
process-group mode. Python 3 standard library only."""
import json, os, shutil, subprocess, sys, tempfile, time
bin_, n = os.path.abspath(sys.argv[1]), int(sys.argv[2])
env = dict(os.environ)
for kv in sys.argv[3:]:
    k, v = kv.split('=', 1); env[k] = v
rounds = int(env.get('ROUNDS', '3'))
res = []
for r in range(rounds):
    home = tempfile.mkdtemp(prefix='svst')
    cli = lambda *a, **kw: subprocess.run([bin_, '--home', home, *a], env=env, capture_output=True, text=True, **kw)
    with open(os.path.join(home, 'e.yaml'), 'w') as f:
        f.write('apps:\n')
        for k in range(n):
            f.write('  - name: w%04d\n    script: /bin/sleep\n    args: ["100001"]\n    log_max_size: 0\n' % k)
    if env.get('COLD') != '1':
        cli('resurrect'); cli('ping')
    time.sleep(0.5)
    t0 = time.monotonic()
    p = cli('start', os.path.join(home, 'e.yaml'))
    t1 = time.monotonic()
    while True:
        out = cli('list', '--json').stdout
        try:
            a = json.loads(out)
        except Exception:
            a = []
        if sum(1 for x in a if x.get('status') == 'online' or x.get('pm2_env', {}).get('status') == 'online') >= n:
            break
        if time.monotonic() - t0 > 120: print('timeout'); break
        time.sleep(0.01)
    t2 = time.monotonic()
    res.append(((t1 - t0) * 1000, (t2 - t0) * 1000))
    print('round %d: start returns %.0f ms, all online %.0f ms rc=%d %s' % (r, res[-1][0], res[-1][1], p.returncode, p.stderr.strip()[:200]), flush=True)
    cli('kill')
    time.sleep(0.5)
    shutil.rmtree(home, ignore_errors=True)
res.sort(key=lambda x: x[1])
print('median online %.0f ms' % res[len(res)//2][1])
