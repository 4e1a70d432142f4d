#!/usr/bin/env python3
"""view_idle.py BIN N: `list` after 1.6 s idle, N `sleep` apps.

Each such call waits for a sampling round of every process (figures older than 1 s are sampled
again first): the median of 9, and of the `list` right after each. Home on /dev/shm. Python 3
standard library only."""
import os, statistics, subprocess, sys, tempfile, time
bin_, n = os.path.abspath(sys.argv[1]), int(sys.argv[2])
home = tempfile.mkdtemp(prefix='svvi', dir='/dev/shm')
cli = lambda *a: subprocess.run([bin_, '--home', home, *a], capture_output=True, text=True)
with open(os.path.join(home, 'e.yaml'), 'w') as f:
    f.write('apps:\n')
    for k in range(n):
        f.write('  - name: v%04d\n    script: /bin/sleep\n    args: ["100002"]\n' % k)
cli('start', os.path.join(home, 'e.yaml'))
time.sleep(5)
idle, warm = [], []
for _ in range(9):
    time.sleep(1.6)
    t0 = time.monotonic(); cli('list'); idle.append((time.monotonic() - t0) * 1000)
    t0 = time.monotonic(); cli('list'); warm.append((time.monotonic() - t0) * 1000)
print('list after 1.6 s idle: median %.1f ms %s; right after: %.1f ms' % (statistics.median(idle), [round(x) for x in sorted(idle)], statistics.median(warm)))
cli('kill')
subprocess.run(['rm', '-rf', home])
