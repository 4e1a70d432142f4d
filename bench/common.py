"""Helpers shared by the drivers and the workloads of bench/run.py (stdlib only).

The /proc helpers, the sampler and the log checker are adapted from the peer drivers in
/work/shared/bench/peers (lib.py, check_log.py); see bench/README.md.
"""
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, 'apps')
CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')

VERBOSE = True


def log(*a):
    if VERBOSE:
        print(time.strftime('%H:%M:%S'), *a, file=sys.stderr, flush=True)


def mono():
    return time.monotonic()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, p):
    """Nearest-rank percentile (p in 0..100); None for an empty list."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = max(0, math.ceil(p / 100.0 * len(xs)) - 1)
    return xs[k]


# ----------------------------------------------------------------- /proc --

def proc_status(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            d = {}
            for line in f:
                k, _, v = line.partition(':')
                d[k] = v.strip()
            return d
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def rss_kb(pid):
    st = proc_status(pid)
    if not st or 'VmRSS' not in st:
        return None
    return int(st['VmRSS'].split()[0])


def cpu_ticks(pid):
    """utime+stime of pid (all its threads) in clock ticks, None if gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(')') + 2:].split()
    return int(rest[11]) + int(rest[12])


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def all_pids():
    return [int(p) for p in os.listdir('/proc') if p.isdigit()]


def alive(pid):
    st = proc_status(pid)
    return bool(st) and not st.get('State', '').startswith('Z')


def wait_gone(pid, timeout=60):
    t0 = mono()
    while mono() - t0 < timeout:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def sample_rss(pids_fn, n=8, gap=0.25):
    """Median over n samples of the summed VmRSS (kB) of pids_fn()."""
    vals = []
    for _ in range(n):
        vals.append(sum(rss_kb(p) or 0 for p in pids_fn()))
        time.sleep(gap)
    return median(vals)


def cpu_percent(pids_fn, secs):
    """CPU of the given processes over secs, as % of one core."""
    pids = pids_fn()
    c0 = {p: cpu_ticks(p) for p in pids}
    t0 = mono()
    time.sleep(secs)
    dt = mono() - t0
    tot = 0
    for p, c in c0.items():
        c1 = cpu_ticks(p)
        if c is not None and c1 is not None:
            tot += c1 - c
    return 100.0 * tot / CLK_TCK / dt


class Sampler(threading.Thread):
    """Samples the summed RSS (kB) of pids_fn() every period seconds."""

    def __init__(self, pids_fn, period=0.05):
        super().__init__(daemon=True)
        self.pids_fn, self.period = pids_fn, period
        self.samples = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                self.samples.append(sum((rss_kb(p) or 0) for p in self.pids_fn()))
            except Exception:
                pass
            time.sleep(self.period)

    def stop(self):
        self._halt.set()
        self.join()

    def peak_kb(self):
        return max(self.samples, default=None)


def timed_run(argv, env=None, timeout=120):
    """Run argv, return (seconds, CompletedProcess)."""
    t0 = mono()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return mono() - t0, r


def latencies(argv, env=None, n=20, warmup=2):
    """n back-to-back timings (ms) of argv after warmup untimed runs; failed runs count too."""
    for _ in range(warmup):
        timed_run(argv, env)
    out, fails = [], 0
    for _ in range(n):
        dt, r = timed_run(argv, env)
        out.append(dt * 1000)
        fails += r.returncode != 0
    return out, fails


# ------------------------------------------------------------- log check --

PAD = 'x' * 90
PAT = re.compile(r'^L(\d{7}) ' + PAD + r'$')


def check_log(path, n):
    """Line-by-line check of a file written by apps/logflood.sh with n lines."""
    seen = bytearray(n + 1)
    total = good = malformed = dup = backwards = 0
    last = 0
    try:
        f = open(path, 'r', errors='replace', newline='\n')
    except FileNotFoundError:
        return {'lines': 0, 'missing': n, 'duplicates': 0, 'malformed': 0, 'out_of_order': 0}
    with f:
        for line in f:
            total += 1
            m = PAT.match(line.rstrip('\n')) if line.endswith('\n') else None
            if not m:
                malformed += 1
                continue
            k = int(m.group(1))
            if k < 1 or k > n:
                malformed += 1
                continue
            if seen[k]:
                dup += 1
            else:
                seen[k] = 1
                good += 1
            if k < last:
                backwards += 1
            last = k
    return {'lines': total, 'missing': n - good, 'duplicates': dup, 'malformed': malformed,
            'out_of_order': backwards}


def file_sizes(files):
    out = []
    for f in files:
        try:
            out.append(os.path.getsize(f))
        except FileNotFoundError:
            out.append(0)
    return out


def count_lines(path):
    try:
        with open(path, 'rb') as f:
            return f.read().count(b'\n')
    except FileNotFoundError:
        return 0
