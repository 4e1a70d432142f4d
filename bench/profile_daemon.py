#!/usr/bin/env python3
"""Load-independent figures of one svctl daemon, for work on svctl's own footprint.

    python3 bench/profile_daemon.py [--bin target/release/svctl] [--apps 0,100,1000]
                                    [--idle-s 60] [--strace-s 20] [--list-runs 20]

For each size: a fresh home, `svctl start` of N `sleep` apps (time until all are online), then
at rest: RSS split by /proc/PID/smaps_rollup (anonymous vs file-backed), the biggest mappings,
threads, open fds, the daemon's CPU ticks over --idle-s, system calls per second under
`strace -c -f` over --strace-s (skipped without strace), and `list` / `list --json` timings.
The timings depend on the machine's load (printed with them); RSS, ticks and syscalls hardly do.
Stdlib only. The daemon is stopped with `svctl kill` (SIGTERM to its pid only if it survives).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CLK_TCK, cpu_ticks, median, mono, pct  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def run(binary, home, *args, timeout=300):
    return subprocess.run([binary, '--home', home, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def daemon_pid(home):
    try:
        return int(open(os.path.join(home, 'svctl.lock')).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def smaps(pid):
    """(rollup dict in kB, [(rss kB, mapping name)] biggest first)."""
    roll = {}
    for line in open('/proc/%d/smaps_rollup' % pid):
        m = re.match(r'(\w+):\s+(\d+) kB', line)
        if m:
            roll[m.group(1)] = int(m.group(2))
    per = {}
    name = None
    for line in open('/proc/%d/smaps' % pid):
        if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
            parts = line.split()
            name = parts[5] if len(parts) > 5 else '[anon]'
        elif line.startswith('Rss:'):
            per[name] = per.get(name, 0) + int(line.split()[1])
    return roll, sorted(((v, k) for k, v in per.items()), reverse=True)


def syscalls_per_s(pid, secs):
    if not shutil.which('strace'):
        return None, 'strace not installed'
    p = subprocess.Popen(['strace', '-c', '-f', '-p', str(pid)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(secs)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    m = re.search(r'^-+ -+ .*\n100\.00\s+\S+\s+\S+\s+(\d+)', err, re.M)
    total = int(m.group(1)) if m else 0
    top = [ln for ln in err.splitlines() if re.match(r'^\s*\d+\.\d+', ln)][:6]
    return total / secs, '\n'.join(top)


def timings(binary, home, args, n):
    run(binary, home, *args)
    out = []
    for _ in range(n):
        t0 = mono()
        run(binary, home, *args)
        out.append((mono() - t0) * 1000)
    return median(out), pct(out, 95)


def one_size(a, n, tmp):
    home = os.path.join(tmp, 'h%d' % n)
    os.makedirs(home)
    r = {'apps': n, 'load': os.getloadavg()[0]}
    eco = os.path.join(home, 'eco.json')
    json.dump({'apps': [{'name': 's%04d' % k, 'script': '/bin/sleep', 'args': ['100000']}
                        for k in range(n)]}, open(eco, 'w'))
    try:
        if n:
            t0 = mono()
            run(a.bin, home, 'start', eco, timeout=600)
            r['start_cmd_ms'] = (mono() - t0) * 1000
            while mono() - t0 < 300:
                out = run(a.bin, home, 'list', '--json').stdout
                if sum(1 for p in json.loads(out or '[]') if p['status'] == 'online') >= n:
                    break
                time.sleep(0.01)
            r['online_ms'] = (mono() - t0) * 1000
        else:
            run(a.bin, home, 'resurrect')
        pid = daemon_pid(home)
        time.sleep(2)
        roll, maps = smaps(pid)
        r['rss_kb'] = roll.get('Rss')
        r['anon_kb'] = roll.get('Anonymous')
        r['file_kb'] = roll.get('Rss', 0) - roll.get('Anonymous', 0)
        r['top_maps'] = maps[:6]
        r['threads'] = len(os.listdir('/proc/%d/task' % pid))
        r['fds'] = len(os.listdir('/proc/%d/fd' % pid))
        if a.list_runs and n:
            r['list_ms'] = timings(a.bin, home, ['list'], a.list_runs)
            r['list_json_ms'] = timings(a.bin, home, ['list', '--json'], a.list_runs)
        time.sleep(1)
        c0, t0 = cpu_ticks(pid), mono()
        time.sleep(a.idle_s)
        r['idle_cpu_pct'] = 100.0 * (cpu_ticks(pid) - c0) / CLK_TCK / (mono() - t0)
        r['idle_ticks'] = cpu_ticks(pid) - c0
        if a.strace_s:
            r['syscalls_per_s'], r['strace_top'] = syscalls_per_s(pid, a.strace_s)
    finally:
        pid = daemon_pid(home)
        run(a.bin, home, 'kill', timeout=120)
        if pid:
            try:
                os.kill(pid, 0)
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--bin', default=os.path.join(os.path.dirname(HERE), 'target/release/svctl'))
    ap.add_argument('--apps', default='0,100,1000')
    ap.add_argument('--idle-s', type=float, default=60.0)
    ap.add_argument('--strace-s', type=float, default=20.0)
    ap.add_argument('--list-runs', type=int, default=20)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='svprof-')
    try:
        for n in [int(x) for x in a.apps.split(',')]:
            r = one_size(a, n, tmp)
            top = r.pop('top_maps')
            st = r.pop('strace_top', None)
            print(json.dumps(r))
            for kb, name in top:
                print('   %6d kB  %s' % (kb, name))
            if st:
                print(st)
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
