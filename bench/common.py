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


def syscalls_per_s(pids, secs):
    """System calls per second of the given processes (all their threads) under `strace -c -f`
    over secs; None when strace is missing or cannot attach."""
    if not shutil.which('strace') or not pids:
        return None
    argv = ['strace', '-c', '-f']
    for p in pids:
        argv += ['-p', str(p)]
    try:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError:
        return None
    time.sleep(secs)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        return None
    m = re.search(r'^-+ -+ .*\n100\.00\s+\S+\s+\S+\s+(\d+)', err, re.M)
    if m:
        return int(m.group(1)) / secs
    return 0.0 if 'attached' in err or 'total' in err else None


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


# ------------------------------------------------------------ HTTP load --

def free_ports(n, consecutive=False, start=20000, end=60000):
    """n free TCP ports on 127.0.0.1 (consecutive: base, base+1, …), checked by binding."""
    import random
    import socket

    def free(p):
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', p))
            return True
        except OSError:
            return False
        finally:
            s.close()
    rnd = random.Random(os.getpid())
    for _ in range(500):
        base = rnd.randrange(start, end - n)
        ports = list(range(base, base + n)) if consecutive else [base]
        if all(free(p) for p in ports):
            if consecutive:
                return ports
            out = [base]
            while len(out) < n:
                p = rnd.randrange(start, end)
                if p not in out and free(p):
                    out.append(p)
            return out
    raise RuntimeError('no free ports')


def http_get(port, timeout=5.0):
    """One GET / on a new connection to 127.0.0.1:port. Returns (kind, status, body): kind is
    'ok' for a 200, else the failure: refused, reset, timeout, empty, http NNN, error:<name>."""
    import socket
    s = None
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        s.sendall(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
        buf = b''
        while True:
            c = s.recv(4096)
            if not c:
                break
            buf += c
        if not buf:
            return 'empty', None, ''
        head, _, body = buf.partition(b'\r\n\r\n')
        parts = head.split(b' ', 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if status != 200:
            return 'http %s' % status, status, body.decode(errors='replace')
        return 'ok', 200, body.decode(errors='replace')
    except ConnectionRefusedError:
        return 'refused', None, ''
    except (ConnectionResetError, BrokenPipeError):
        return 'reset', None, ''
    except socket.timeout:
        return 'timeout', None, ''
    except OSError as e:
        return 'error:%s' % type(e).__name__, None, ''
    finally:
        if s is not None:
            s.close()


class HttpLoad:
    """`workers` threads, each making GET / back to back, every request on a new connection,
    against 127.0.0.1:port, until stop() or max_s, at most max_requests in all. Each request is
    recorded as (t_start, t_end, kind, version, pid) with monotonic times."""

    def __init__(self, port, workers=2, timeout=5.0, max_s=60.0, max_requests=500_000):
        self.port, self.timeout, self.max_s, self.max_requests = port, timeout, max_s, max_requests
        self.halt = threading.Event()
        self.recs = []
        self.last_fail = None      # monotonic end of the latest failed request
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def start(self):
        self.t0 = mono()
        for t in self.threads:
            t.start()

    def _run(self):
        out = []
        while not self.halt.is_set() and mono() - self.t0 < self.max_s and len(self.recs) + len(out) < self.max_requests:
            t0 = mono()
            kind, status, body = http_get(self.port, self.timeout)
            t1 = mono()
            ver = pid = None
            if kind == 'ok':
                f = body.split()
                ver = f[0] if f else None
                pid = int(f[1]) if len(f) > 1 and f[1].isdigit() else None
            else:
                self.last_fail = t1
            out.append((t0, t1, kind, ver, pid))
            if len(out) >= 1000:
                with self._lock:
                    self.recs.extend(out)
                out = []
        with self._lock:
            self.recs.extend(out)

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join()
        self.recs.sort()
        return self.recs


def wait_http_pids(port, n, timeout=15.0, version=None):
    """Polls GET / until n distinct pids (of `version`, if given) answered; returns them or None."""
    pids = set()
    t0 = mono()
    while mono() - t0 < timeout:
        kind, _, body = http_get(port, 1.0)
        if kind == 'ok':
            f = body.split()
            if len(f) > 1 and (version is None or f[0] == version):
                pids.add(int(f[1]))
                if len(pids) >= n:
                    return pids
        else:
            time.sleep(0.02)
    return None
