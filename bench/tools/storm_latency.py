#!/usr/bin/env python3
"""storm_latency.py BIN: during a crash storm of 200 apps (bench/apps/storm.sh, restart_delay
0), the latency percentiles of 300 `svctl list`, 300 `svctl ping`, 300 `/bin/true` and 300
`svctl --version`: what the daemon adds to what any process start costs on the saturated host.
Python 3 standard library only."""
import os, sys, subprocess, tempfile, time, shutil
STORM = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'apps', 'storm.sh')
b = os.path.abspath(sys.argv[1]); h = tempfile.mkdtemp(prefix='svstorm')
d = os.path.join(h, 'st'); os.makedirs(d)
with open(os.path.join(h, 'e.yaml'), 'w') as f:
    f.write('apps:\n')
    for k in range(200):
        f.write('  - name: st%03d\n    script: %s\n    args: ["%s/st%03d"]\n    restart_delay: 0\n    max_restarts: 1000000000\n    log_max_size: 0\n' % (k, STORM, d, k))
cli = lambda *a: subprocess.run([b, '--home', h, *a], capture_output=True)
cli('resurrect')
subprocess.Popen([b, '--home', h, 'start', os.path.join(h, 'e.yaml')], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(3)
def lat(argv, n):
    out = []
    for _ in range(n):
        t = time.monotonic(); subprocess.run(argv, capture_output=True); out.append((time.monotonic() - t) * 1000)
    out.sort(); return 'p50 %.1f p90 %.1f p99 %.1f max %.1f' % (out[len(out)//2], out[int(len(out)*.9)], out[int(len(out)*.99)], out[-1])
print('list  ', lat([b, '--home', h, 'list'], 300))
print('ping  ', lat([b, '--home', h, 'ping'], 300))
print('true  ', lat(['/bin/true'], 300))
print('svctl --version', lat([b, '--version'], 300))
cli('kill'); shutil.rmtree(h, ignore_errors=True)
