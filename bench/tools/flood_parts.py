#!/usr/bin/env python3
"""flood_parts.py BIN [LINES]: where the time of one w5 "single" flood goes, against its floor.

Runs REPS times (default 5), alternating:
- the floor: `sh logflood.sh LINES done exit | cat > file`, timed to the pipeline's exit;
- svctl: a fresh daemon (home in /tmp), `svctl start` of the same app, the log file polled
  every 1 ms until it holds every byte.
For svctl it prints, from the moment the start command is run: the reply, the first byte on
disk, the producer's own end (the time `logflood.sh` writes after `seq` returns) and the last
byte on disk. "tail" is last byte minus producer end: what the daemon adds after the app is
done. If svctl's total is the floor's, the producer is what limits the flood, not the daemon.
Python 3 standard library only."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
LINES = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'apps', 'logflood.sh')
SIZE = LINES * 100


def read_stamp(path):
    """The producer's end (ns, wall clock); the file may be created before it is written."""
    while True:
        try:
            return int(open(path).read())
        except (OSError, ValueError):
            time.sleep(0.001)


def floor():
    d = tempfile.mkdtemp(dir='/tmp')
    t0 = time.time_ns()
    subprocess.run('sh %s %d %s/done exit | cat > %s/f' % (APP, LINES, d, d), shell=True, check=True)
    t1 = time.time_ns()
    done = read_stamp(d + '/done')
    shutil.rmtree(d)
    return (t1 - t0) / 1e6, (done - t0) / 1e6


def svctl():
    h = tempfile.mkdtemp(prefix='svfp', dir='/tmp')
    with open(h + '/e.yaml', 'w') as f:
        f.write('apps:\n  - name: flood\n    script: %s\n    args: ["%d", "%s/done"]\n'
                '    log_max_size: 0\n    autorestart: false\n' % (APP, LINES, h))
    cli = lambda *a: subprocess.run([BIN, '--home', h, *a], stdout=subprocess.DEVNULL, check=True)
    cli('resurrect')
    time.sleep(0.5)
    log = h + '/logs/flood-out.log'
    t0 = time.time_ns()
    cli('start', h + '/e.yaml')
    t_reply = time.time_ns()
    t_first = None
    while True:
        try:
            size = os.stat(log).st_size
        except OSError:
            size = 0
        if size and t_first is None:
            t_first = time.time_ns()
        if size >= SIZE:
            break
        time.sleep(0.001)
    t_all = time.time_ns()
    done = read_stamp(h + '/done')
    cli('kill')
    shutil.rmtree(h)
    ms = lambda t: (t - t0) / 1e6
    return ms(t_all), ms(t_reply), ms(t_first), ms(done)


floors, totals = [], []
for _ in range(int(os.environ.get('REPS', '5'))):
    f_all, f_done = floor()
    floors.append(f_all)
    print('floor: all %.1f ms (%.0f MB/s), producer done %.1f' % (f_all, SIZE / 1e3 / f_all, f_done))
    a, r, first, done = svctl()
    totals.append(a)
    print('svctl: all %.1f ms (%.0f MB/s), reply %.1f, first byte %.1f, producer done %.1f, '
          'tail %.1f' % (a, SIZE / 1e3 / a, r, first, done, a - done))
fm, sm = statistics.median(floors), statistics.median(totals)
print('median: floor %.1f ms (%.0f MB/s), svctl %.1f ms (%.0f MB/s): svctl at %.0f %% of the floor'
      % (fm, SIZE / 1e3 / fm, sm, SIZE / 1e3 / sm, 100 * fm / sm))
