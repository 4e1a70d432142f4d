#!/usr/bin/env python3
"""svctl benchmark: svctl, PM2 and supervisord through the same workloads, side by side.

    python3 bench/run.py [--quick] [--only w1,w3] [--skip-peers]

Builds svctl (cargo build --release), measures the machine's floor, runs every selected
workload for each installed tool (interleaved per workload), prints a markdown table and writes
it with the raw JSON to bench/results/. Stdlib only; installs nothing. Every process it starts
is stopped at the end (also on Ctrl-C): daemons with their own commands (svctl kill, pm2 kill,
supervisorctl shutdown). See bench/README.md for what each figure means.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import (APPS, HERE, check_log, syscalls_per_s, count_lines, cpu_percent, cpu_ticks, file_sizes, latencies,  # noqa: E402
                    log, median, mono, pct, rss_kb, sample_rss, Sampler, timed_run, wait_gone, CLK_TCK,
                    free_ports, HttpLoad, wait_http_pids)
from drivers import Nginx, Pm2, Supervisord, Svctl, yaml_quote  # noqa: E402

REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, 'results')
CRASH = os.path.join(APPS, 'crash.sh')
STORM = os.path.join(APPS, 'storm.sh')
FLOOD = os.path.join(APPS, 'logflood.sh')
FLOOD_FAST = os.path.join(APPS, 'logflood_fast.py')
GROW = os.path.join(APPS, 'grow.py')
HTTP_APP = os.path.join(APPS, 'http_app.py')
PY = os.path.realpath(sys.executable)
LINE = 100
ALL_W = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9', 'w10']


class Cfg:
    def __init__(self, quick):
        self.quick = quick
        self.n_small, self.n_big = (20, 100) if quick else (100, 1000)
        self.settle_s = 1.0 if quick else 2.0
        self.list_runs = 10 if quick else 20
        # 60 s: one tick is 10 ms, so a shorter window cannot tell 0.05 % (30 ms a minute) from
        # zero, and a minute holds svctl's once-a-minute memory-history round.
        self.idle_cpu_s = 5.0 if quick else 60.0
        self.idle_strace_s = 5.0 if quick else 20.0
        self.crash_starts = 11 if quick else 26
        self.crash_timeout = 3.0 if quick else 6.0
        self.log_single = 100_000 if quick else 1_000_000
        self.log_ten = 10_000 if quick else 100_000
        self.mem_limit_mb = 100
        self.mem_rate = 40          # MiB/s the w6 app grows by
        self.mem_gens = 1 if quick else 3
        self.mem_wait_s = {'svctl': 3.0 if quick else 10.0, 'pm2': 3.0 if quick else 40.0,
                           'supervisord': 8.0 if quick else 12.0}
        self.storm_apps = 200
        self.storm_s = 5.0 if quick else 30.0
        self.floor_spawns = 300 if quick else 500
        self.pipe_mb = 200 if quick else 1000
        self.reload_instances = 4
        self.reload_workers = 2          # client threads, each GET after GET on new connections
        self.reload_pre_s = 1.0 if quick else 2.0     # load before the reload command
        self.reload_post_s = 1.0 if quick else 2.0    # load after it returned
        self.scrape_runs = 10 if quick else 20          # back-to-back GET /metrics per size
        self.scrape_stale_runs = 3 if quick else 5      # GET /metrics after an idle gap
        self.scrape_gap_s = 1.5    # longer than svctl's VIEW_FRESH_MS (1 s): the figures are stale


# ------------------------------------------------------------------ floor --

def floor(cfg, tmp):
    out = {}
    exe = os.path.join(tmp, 'floor_spawn')
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc and subprocess.run([cc, '-O2', '-o', exe, os.path.join(HERE, 'floor_spawn.c')],
                             capture_output=True).returncode == 0:
        vals = {}
        for _ in range(3):
            o = subprocess.run([exe, str(cfg.floor_spawns)], capture_output=True, text=True, check=True).stdout
            for line in o.splitlines():
                m, n, tot, us = line.split()
                vals.setdefault(m, []).append(float(us))
        out['spawn_us'] = median(vals['fork_exec'])
        out['posix_spawn_us'] = median(vals['posix_spawn'])
        out['spawn_method'] = 'C fork+execve+waitpid of /bin/true'
    else:
        t0 = mono()
        for _ in range(cfg.floor_spawns):
            os.waitpid(os.posix_spawn('/bin/true', ['/bin/true'], os.environ), 0)
        out['spawn_us'] = (mono() - t0) / cfg.floor_spawns * 1e6
        out['spawn_method'] = 'Python os.posix_spawn of /bin/true (no C compiler)'
    # pipe throughput
    t0 = mono()
    subprocess.run('dd if=/dev/zero bs=1M count=%d 2>/dev/null | cat > /dev/null' % cfg.pipe_mb,
                   shell=True, check=True)
    out['pipe_MBps'] = cfg.pipe_mb * 1048576 / 1e6 / (mono() - t0)
    # the w5 producer alone: logflood.sh -> pipe -> cat -> file
    f = os.path.join(tmp, 'floor_flood.log')
    done = os.path.join(tmp, 'floor_done')
    t0 = mono()
    subprocess.run('sh %s %d %s exit | cat > %s' % (FLOOD, cfg.log_single, done, f), shell=True, check=True)
    out['producer_MBps'] = cfg.log_single * LINE / 1e6 / (mono() - t0)
    os.unlink(f)
    # the w4 app run back-to-back with no supervisor
    stamps = os.path.join(tmp, 'floor_starts')
    for _ in range(cfg.crash_starts):
        subprocess.run([CRASH, stamps])
    st = [int(x) for x in open(stamps).read().split()]
    out['crash_gap_ms'] = median([(b - a) / 1e6 for a, b in zip(st, st[1:])])
    return out


def file_floor(cfg, tmp, key='create_file_us'):
    """What creating one empty file costs on the bench's disk: every tool creates two log files
    per app at start (PM2 and svctl out/error; supervisord its AUTO logs). Measured at the
    start and at the end of the run: deleting what it made would slow the next workload's
    creations on a journal-less ext4, which looks past every inode freed in the last minutes."""
    d = os.path.join(tmp, 'floor_files')
    os.makedirs(d)
    n = 2 * cfg.n_small
    t0 = mono()
    for k in range(n):
        open(os.path.join(d, 'f%04d-out.log' % k), 'a').close()
    us = (mono() - t0) / n * 1e6
    shutil.rmtree(d, ignore_errors=True)
    return {key: us}


# -------------------------------------------------------------- workloads --

def wait_all_online(tool, n, t0, timeout):
    while mono() - t0 < timeout:
        st = tool.statuses()
        if sum(1 for s in st.values() if s == 'online') >= n:
            return mono() - t0
        time.sleep(0.01)
    return None


def population(cfg, tool, n, want, size_label):
    """w1/w2/w3/w7 with n `sleep` apps: cold start, online time, daemon RSS, list latency, idle CPU."""
    r = {}
    apps = [{'name': 's%04d' % k, 'argv': ['/bin/sleep', '100000']} for k in range(n)]
    argv, env = tool.prepare(apps, warm=False)
    t0 = mono()
    dt, p = timed_run(argv, env, timeout=600)
    if p.returncode != 0:
        raise RuntimeError('start failed: %s' % (p.stdout + p.stderr).decode(errors='replace')[-500:])
    r['w2_cmd_%s_ms' % size_label] = dt * 1000
    t_on = wait_all_online(tool, n, t0, 300)
    r['w2_online_%s_ms' % size_label] = t_on * 1000 if t_on is not None else 'not all online in 300 s'
    time.sleep(cfg.settle_s)
    if 'w1' in want:
        r['w1_rss_%s_mib' % size_label] = sample_rss(tool.daemon_pids) / 1024
    if 'w3' in want:
        lat, fails = latencies(tool.list_argv(), env, n=cfg.list_runs, warmup=1)
        r['w3_list_%s_med_ms' % size_label] = median(lat)
        r['w3_list_%s_p95_ms' % size_label] = pct(lat, 95)
        r['w3_list_%s_fails' % size_label] = fails
    if 'w7' in want and size_label == 'big':
        time.sleep(1.0)
        r['w7_idle_cpu_pct'] = cpu_percent(tool.daemon_pids, cfg.idle_cpu_s)
        sc = syscalls_per_s(tool.daemon_pids(), cfg.idle_strace_s)
        r['w7_syscalls_per_s'] = sc if sc is not None else 'n/a (strace missing or not allowed)'
        # At rest: the first window holds what follows a start of 1,000 apps (svctl's first
        # memory-history round, in which every run's memory has just moved; a peer's own
        # start-up work); the second one, a minute and a half after the start, is the daemon
        # with nothing to do.
        r['w7_idle_cpu_rest_pct'] = cpu_percent(tool.daemon_pids, cfg.idle_cpu_s)
    t1 = mono()
    tool.shutdown()
    r['shutdown_%s_s' % size_label] = mono() - t1
    return r


def w2_warm(cfg, tool):
    """Daemon already running with nothing started: start command -> all n_small apps online."""
    n = cfg.n_small
    apps = [{'name': 'w%04d' % k, 'argv': ['/bin/sleep', '100001']} for k in range(n)]
    argv, env = tool.prepare(apps, warm=True)
    time.sleep(0.5)
    t0 = mono()
    dt, p = timed_run(argv, env, timeout=600)
    t_on = wait_all_online(tool, n, t0, 300)
    tool.shutdown()
    return {'w2_warm_cmd_small_ms': dt * 1000,
            'w2_warm_online_small_ms': t_on * 1000 if t_on is not None else 'not all online in 300 s'}


def w1_idle(cfg, tool):
    tool.fresh()
    tool.start_daemon()
    time.sleep(cfg.settle_s)
    v = sample_rss(tool.daemon_pids) / 1024
    tool.shutdown()
    return {'w1_rss_idle_mib': v}


def svctl_spawn_times(tool, app):
    try:
        with tool.db() as c:
            return [row[0] for row in c.execute(
                'SELECT started_at_ms FROM spawns WHERE app = ? ORDER BY id', (app,))]
    except sqlite3.Error:
        return []


def w4(cfg, tool, tmp):
    r = {}
    stamps = os.path.join(tmp, 'w4_%s_starts' % tool.name)
    if os.path.exists(stamps):
        os.unlink(stamps)
    apps = [{'name': 'crash', 'argv': [CRASH, stamps], 'restart_delay': 0, 'max_restarts': 1000000}]
    argv, env = tool.prepare(apps, warm=True)
    t0 = mono()
    timed_run(argv, env)
    while mono() - t0 < cfg.crash_timeout and count_lines(stamps) < cfg.crash_starts:
        time.sleep(0.02)
    tool.stop_all()
    st = [int(x) for x in open(stamps).read().split()] if os.path.exists(stamps) else []
    st = st[:cfg.crash_starts]
    r['w4_gap_stamp_ms'] = median([(b - a) / 1e6 for a, b in zip(st, st[1:])]) if len(st) > 1 else \
        'no restart within %.0f s' % cfg.crash_timeout
    r['w4_starts_seen'] = len(st)
    if tool.name == 'svctl':
        db = svctl_spawn_times(tool, 'crash')[:cfg.crash_starts]
        r['w4_gap_db_crashsh_ms'] = median([b - a for a, b in zip(db, db[1:])]) if len(db) > 1 else None
    tool.shutdown()
    if tool.name == 'svctl':
        # the goal figure: an app that exits at once (/bin/false), gaps between spawns rows
        apps = [{'name': 'false', 'argv': ['/bin/false'], 'restart_delay': 0, 'max_restarts': 1000000}]
        argv, env = tool.prepare(apps, warm=True)
        t0 = mono()
        timed_run(argv, env)
        n = cfg.crash_starts * 4
        while mono() - t0 < cfg.crash_timeout and len(svctl_spawn_times(tool, 'false')) < n:
            time.sleep(0.05)
        tool.stop_all()
        db = svctl_spawn_times(tool, 'false')[:n]
        gaps = [b - a for a, b in zip(db, db[1:])]
        r['w4_gap_db_ms'] = median(gaps) if gaps else None
        r['w4_gap_db_p95_ms'] = pct(gaps, 95)
        r['w4_gap_db_n'] = len(gaps)
        tool.shutdown()
    return r


class LogWatcher(threading.Thread):
    """Polls log sizes every 5 ms until all bytes are there, or nothing grew for 3 s after the
    producers finished, or 300 s."""

    def __init__(self, files, expected_each, donefiles, t0):
        super().__init__(daemon=True)
        self.files, self.exp, self.donefiles, self.t0 = files, expected_each, donefiles, t0
        self.t_all = self.t_first = None

    def run(self):
        last_total, last_change = -1, mono()
        while mono() - self.t0 < 300:
            s = file_sizes(self.files)
            now = mono()
            if self.t_first is None and sum(s) > 0:
                self.t_first = now - self.t0
            if sum(s) != last_total:
                last_total, last_change = sum(s), now
            if all(x >= self.exp for x in s):
                self.t_all = now - self.t0
                return
            done = all(os.path.exists(d) for d in self.donefiles)
            if done and now - last_change > 3.0:
                return
            time.sleep(0.005)


def w5_case(cfg, tool, tmp, napps, nlines, label, prog=FLOOD):
    d = os.path.join(tmp, 'w5')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    names = ['flood%d' % k for k in range(napps)]
    dones = [os.path.join(d, n + '.done') for n in names]
    argv0 = [PY, prog] if prog.endswith('.py') else [prog]
    apps = [{'name': n, 'argv': argv0 + [str(nlines), df]} for n, df in zip(names, dones)]
    argv, env = tool.prepare(apps, warm=True)
    time.sleep(0.5)
    files = [tool.log_file(n) for n in names]
    pids = tool.daemon_pids()
    c0 = sum(cpu_ticks(p) or 0 for p in pids)
    smp = Sampler(tool.daemon_pids, 0.05)
    smp.start()
    t0 = mono()
    w = LogWatcher(files, nlines * LINE, dones, t0)
    w.start()
    timed_run(argv, env)
    w.join()
    smp.stop()
    c1 = sum(cpu_ticks(p) or 0 for p in pids)
    time.sleep(0.3)
    checks = [check_log(f, nlines) for f in files]
    total = napps * nlines * LINE
    # the ceiling case is timed from the first byte on disk (its producer builds its lines first)
    t_end = (w.t_all - w.t_first) if (label == 'fast' and w.t_all and w.t_first is not None) else w.t_all
    r = {'w5_%s_MBps' % label: total / 1e6 / t_end if t_end else
         'incomplete: %d of %d bytes' % (sum(file_sizes(files)), total),
         'w5_%s_lost' % label: sum(c['missing'] for c in checks),
         'w5_%s_bad' % label: sum(c['malformed'] + c['duplicates'] + c['out_of_order'] for c in checks),
         'w5_%s_peak_rss_mib' % label: (smp.peak_kb() or 0) / 1024,
         'w5_%s_daemon_cpu_s' % label: (c1 - c0) / CLK_TCK}
    tool.shutdown()
    shutil.rmtree(d, ignore_errors=True)
    return r


def w5(cfg, tool, tmp):
    r = {}
    r.update(w5_case(cfg, tool, tmp, 1, cfg.log_single, 'single'))
    r.update(w5_case(cfg, tool, tmp, 10, cfg.log_ten, 'ten'))
    r.update(w5_case(cfg, tool, tmp, 1, cfg.log_single, 'fast', FLOOD_FAST))
    return r


class RssWatcher(threading.Thread):
    """Every 50 ms: VmRSS of each process whose cmdline holds TAG. For each pid (generation):
    first time over the limit, and first sample where it is gone."""

    def __init__(self, tag, limit_kb):
        super().__init__(daemon=True)
        self.pat = tag.encode()
        self.limit_kb = limit_kb
        self.gens = {}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            now = mono()
            cur = set()
            for p in os.listdir('/proc'):
                if not p.isdigit():
                    continue
                try:
                    with open('/proc/%s/cmdline' % p, 'rb') as f:
                        if self.pat not in f.read():
                            continue
                except OSError:
                    continue
                rss = rss_kb(int(p))
                if rss is None:
                    continue
                pid = int(p)
                cur.add(pid)
                g = self.gens.setdefault(pid, {'t_start': now, 't_cross': None, 't_gone': None, 'peak_kb': 0})
                g['peak_kb'] = max(g['peak_kb'], rss)
                if g['t_cross'] is None and rss > self.limit_kb:
                    g['t_cross'] = now
            for pid, g in self.gens.items():
                if pid not in cur and g['t_gone'] is None:
                    g['t_gone'] = now
            time.sleep(0.05)

    def killed(self):
        return [g for g in self.gens.values() if g['t_cross'] and g['t_gone']]

    def crossed_pending(self):
        return [g for g in self.gens.values() if g['t_cross'] and not g['t_gone']]


def w6(cfg, tool, tmp):
    tag = 'w6tag%d' % os.getpid()
    apps = [{'name': 'grow', 'argv': [PY, GROW, tag, str(cfg.mem_rate), '400'],
             'max_memory_mb': cfg.mem_limit_mb, 'memory_check_interval_ms': 1000, 'max_restarts': 1000}]
    gens = cfg.mem_gens
    if tool.name == 'svctl':
        interval_s = 1.0
    elif tool.name == 'pm2':
        interval_s = 30.0     # PM2's worker checks memory every 30 s (PM2_WORKER_INTERVAL)
        gens = 1
    else:
        gens = min(gens, 2)
        if not tool.memmon:
            return {'w6_reaction_s': 'n/a (no built-in limit; superlance memmon not installed)'}
        interval_s = 5.0      # TICK_5, the fastest tick supervisord emits
    if tool.name == 'supervisord':
        extra = ('\n[eventlistener:memmon]\ncommand=%s -p grow=%dMB\nevents=TICK_5\n'
                 'stderr_logfile=%s/memmon-err.log\nstdout_logfile=%s/memmon-out.log\n'
                 % (tool.memmon, cfg.mem_limit_mb, tool.logdir, tool.logdir))
        argv, env = tool.prepare(apps, warm=False, extra=extra)
    else:
        argv, env = tool.prepare(apps, warm=True)
    w = RssWatcher(tag, cfg.mem_limit_mb * 1024)
    w.start()
    timed_run(argv, env)
    timed_out = False
    t_start = mono()
    while len(w.killed()) < gens:
        pend = w.crossed_pending()
        if pend and mono() - min(g['t_cross'] for g in pend) > cfg.mem_wait_s[tool.name]:
            timed_out = True
            break
        if mono() - t_start > 120:
            timed_out = True
            break
        time.sleep(0.05)
    w.halt.set()
    w.join()
    killed = w.killed()
    r = {'w6_interval_s': interval_s, 'w6_generations': len(killed)}
    if tool.name == 'svctl':
        try:
            with tool.db() as c:
                n_ml = c.execute("SELECT count(*) FROM exits WHERE app = 'grow' AND cause = 'memory_limit'").fetchone()[0]
                r['w6_causes'] = dict(c.execute("SELECT cause, count(*) FROM exits WHERE app = 'grow' GROUP BY cause").fetchall())
        except sqlite3.Error as e:
            n_ml = 0
            r['w6_db_error'] = str(e)
        if n_ml == 0:
            killed = []
            r['w6_reaction_s'] = 'n/a (not supported by this build)'
    if killed:
        r['w6_reaction_s'] = median([g['t_gone'] - g['t_cross'] for g in killed])
        r['w6_rss_at_kill_mib'] = median([g['peak_kb'] for g in killed]) / 1024
    elif 'w6_reaction_s' not in r:
        r['w6_reaction_s'] = 'no restart within %.0f s of crossing' % cfg.mem_wait_s[tool.name] if timed_out \
            else 'no restart'
    tool.shutdown()
    return r


def w8(cfg, tool, tmp):
    d = os.path.join(tmp, 'w8')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    names = ['st%03d' % k for k in range(cfg.storm_apps)]
    stamp = {n: os.path.join(d, n) for n in names}
    apps = [{'name': n, 'argv': [STORM, stamp[n]], 'restart_delay': 0, 'max_restarts': 1000000000}
            for n in names]
    argv, env = tool.prepare(apps, warm=True)
    # The start command runs in the background: under a storm it can take long to return
    # (PM2, supervisorctl); the storm clock starts when it is issued.
    t0 = mono()
    starter = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        return _w8_storm(cfg, tool, t0, starter, env, names, stamp, d)
    finally:
        if starter.poll() is None:
            starter.terminate()    # the CLI process this harness started (not the daemon)
        starter.wait()


def _w8_storm(cfg, tool, t0, starter, env, names, stamp, d):
    time.sleep(0.05)
    lat, fails = [], 0
    while mono() - t0 < cfg.storm_s:
        try:
            dt, p = timed_run(tool.list_argv(), env, timeout=max(1.0, cfg.storm_s + t0 - mono()))
            lat.append(dt * 1000)
            fails += p.returncode != 0
        except subprocess.TimeoutExpired:
            fails += 1     # the list command did not answer before the end of the storm
    t_storm = mono() - t0
    r = {'w8_storm_s': t_storm, 'w8_start_cmd_returned': starter.poll() is not None}
    t1 = mono()
    if tool.name == 'pm2':
        # `pm2 stop all` under a storm takes minutes; read the counters, then `pm2 kill`
        try:
            jl = tool.jlist_timeout(30)
            restarts = sum(p['pm2_env'].get('restart_time', 0) for p in jl)
            r['w8_spawn_rows'] = restarts + len(jl)    # first start + restarts counted by PM2
        except Exception as e:
            r['w8_spawn_rows'] = 'jlist failed (%s)' % type(e).__name__
        r['w8_exit_rows'] = 'only a restart counter'
        tool.shutdown()
    else:
        tool.stop_all()
    r['w8_stop_s'] = mono() - t1
    time.sleep(1.0)
    spawns = sum(count_lines(f) for f in stamp.values())
    r.update({'w8_spawns_real': spawns, 'w8_spawn_rate': spawns / t_storm,
              'w8_list_med_ms': median(lat) if lat else 'no answer in %.0f s' % cfg.storm_s,
              'w8_list_p99_ms': pct(lat, 99) if lat else 'no answer in %.0f s' % cfg.storm_s,
              'w8_list_n': len(lat),
              'w8_list_fails': fails})
    if tool.name == 'svctl':
        with tool.db() as c:
            q = lambda sql: c.execute(sql).fetchone()[0]
            r['w8_spawn_rows'] = q("SELECT count(*) FROM spawns WHERE app LIKE 'st%'")
            r['w8_exit_rows'] = q("SELECT count(*) FROM runs WHERE app LIKE 'st%' AND pid IS NOT NULL "
                                  "AND ended_at_ms IS NOT NULL")
            r['w8_open_runs'] = q("SELECT count(*) FROM runs WHERE app LIKE 'st%' AND pid IS NOT NULL "
                                  "AND ended_at_ms IS NULL")
            r['w8_rows_total'] = q("SELECT count(*) FROM runs WHERE app LIKE 'st%'")
    elif tool.name == 'supervisord':
        try:
            txt = open(os.path.join(tool.dir, 'supervisord.log')).read()
        except FileNotFoundError:
            txt = ''
        r['w8_spawn_rows'] = txt.count("spawned: 'st")
        r['w8_exit_rows'] = txt.count('exited: st')
    tool.shutdown()
    shutil.rmtree(d, ignore_errors=True)
    return r


# ------------------------------------------------------------- w9 reload --

def _w9_svctl_yaml(path, n, version, listen_port=None, base_port=None):
    """svctl: one app, n instances of apps/http_app.py; `listen:` (shared socket) or
    increment_var PORT with `listen: tcp://127.0.0.1:$PORT` (one port per instance, each held
    open by svctl across the reload, so nginx never sees a refused connection)."""
    lines = ['apps:', '  - name: web', '    script: %s' % yaml_quote(PY), '    args: [%s]' % yaml_quote(HTTP_APP),
             '    instances: %d' % n, '    ready_log_line: "^ready "', '    log_max_size: 0',
             '    env:', '      APP_VERSION: %s' % yaml_quote(version)]
    if listen_port is not None:
        lines.append('    listen: ["tcp://127.0.0.1:%d"]' % listen_port)
    else:
        lines += ['      PORT: "%d"' % base_port, '    increment_var: PORT',
                  '    listen: ["tcp://127.0.0.1:$PORT"]']
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def _w9_pm2_yaml(path, n, version, base_port):
    lines = ['apps:', '  - name: web', '    script: %s' % yaml_quote(PY), '    args: [%s]' % yaml_quote(HTTP_APP),
             '    interpreter: none', '    exec_mode: fork', '    instances: %d' % n, '    increment_var: PORT',
             '    env:', '      PORT: %d' % base_port, '      APP_VERSION: %s' % yaml_quote(version)]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def _w9_sv_apps(n, base_port):
    return [{'name': 'web%d' % i, 'argv': [PY, HTTP_APP],
             'environment': 'APP_VERSION="v1",PORT="%d"' % (base_port + i)} for i in range(n)]


def _w9_measure(cfg, port, reload_argv, env, old, new):
    """Load on 127.0.0.1:port for reload_pre_s, run the reload command, load for reload_post_s
    after it returned. Returns the figures (keys without prefix) and the records."""
    load = HttpLoad(port, workers=cfg.reload_workers, timeout=5.0,
                    max_s=cfg.reload_pre_s + cfg.reload_post_s + 120)
    load.start()
    time.sleep(cfg.reload_pre_s)
    t_r0 = mono()
    rc, out = None, ''
    try:
        p = subprocess.run(reload_argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=100)
        rc, out = p.returncode, (p.stdout + p.stderr).strip()
    except subprocess.TimeoutExpired:
        rc, out = 'timeout', 'reload command did not return in 100 s'
    t_r1 = mono()
    # after the reload: reload_post_s, longer while requests still fail (until 1 s without a
    # failure, at most 15 s), so that an outage is counted whole
    while mono() - t_r1 < cfg.reload_post_s or (
            load.last_fail is not None and mono() - load.last_fail < 1.0 and mono() - t_r1 < 15):
        time.sleep(0.05)
    recs = load.stop()
    fails = [x for x in recs if x[2] != 'ok']
    kinds = {}
    for x in fails:
        kinds[x[2]] = kinds.get(x[2], 0) + 1
    pids_before = {x[4] for x in recs if x[2] == 'ok' and x[0] < t_r0}
    after = [x for x in recs if x[2] == 'ok' and x[0] >= t_r1]
    vers_after = {}
    for x in after:
        vers_after[x[3]] = vers_after.get(x[3], 0) + 1
    pids_after = {x[4] for x in after}
    lat = [(x[1] - x[0]) * 1000 for x in recs]
    slow = max(recs, key=lambda x: x[1] - x[0]) if recs else None
    if not after:
        after_txt = 'no answer after the reload'
    else:
        parts = ['%s %d' % (v, c) for v, c in sorted(vers_after.items(), key=lambda kv: str(kv[0]))]
        after_txt = '%s; %d pids, %d new' % (', '.join(parts), len(pids_after), len(pids_after - pids_before))
    r = {'failed': len(fails),
         'failed_kinds': ', '.join('%s %d' % kv for kv in sorted(kinds.items())) or 'none',
         'requests': len(recs),
         'rps': len(recs) / (recs[-1][1] - recs[0][0]) if len(recs) > 1 else None,
         'longest_ms': max(lat) if lat else None,
         'longest_at_ms': (slow[0] - t_r0) * 1000 if slow else None,
         'p99_ms': pct(lat, 99),
         'reload_ms': (t_r1 - t_r0) * 1000,
         'post_s': mono() - t_r1,
         'last_fail_ms': (fails[-1][1] - t_r0) * 1000 if fails else None,
         'outage_ms': (fails[-1][1] - fails[0][0]) * 1000 if fails else 0,
         'reload_rc': rc,
         'after': after_txt,
         'after_all_new': bool(after) and set(vers_after) == {new} and not (pids_after & pids_before),
         'before_versions': sorted({str(x[3]) for x in recs if x[2] == 'ok' and x[0] < t_r0}),
         # failures in time, relative to the start of the reload command (ms)
         'fail_times_ms': [[round((x[0] - t_r0) * 1000, 1), round((x[1] - x[0]) * 1000, 1), x[2]]
                           for x in fails[:200]]}
    if rc != 0:
        r['reload_output'] = out[-2000:]
    return r


def _w9_nginx_retries(nginx):
    """Requests nginx passed to more than one instance: its access log's `$upstream_addr` lists
    every instance tried for a request."""
    retried = 0
    for line in nginx.access_log():
        f = line.split('|')
        if len(f) >= 4 and ', ' in f[2]:
            retried += 1
    return retried


def w9_listen(cfg, tool, tmp):
    """svctl only: `listen:` socket shared by 4 instances, `svctl reload FILE` with APP_VERSION v2."""
    port = free_ports(1)[0]
    n = cfg.reload_instances
    tool.fresh()
    path = os.path.join(tool.home, 'web.yaml')
    _w9_svctl_yaml(path, n, 'v1', listen_port=port)
    tool.started = True
    tool.cli('start', path, check=True)
    if not wait_http_pids(port, n, version='v1'):
        raise RuntimeError('the %d instances did not answer in 15 s' % n)
    _w9_svctl_yaml(path, n, 'v2', listen_port=port)
    m = _w9_measure(cfg, port, [tool.bin, '--home', tool.home, 'reload', path], None, 'v1', 'v2')
    r = {'w9_listen_' + k: v for k, v in m.items()}
    _w9_svctl_evidence(tool, r, 'w9_listen_', m)
    tool.shutdown()
    return r


def _w9_svctl_evidence(tool, r, prefix, m):
    st = tool.statuses()
    r[prefix + 'online_after'] = sum(1 for k, v in st.items() if k.startswith('web') and v == 'online')
    if m['failed'] or m['reload_rc'] != 0 or not m['after_all_new']:
        # keep what explains it in the raw JSON
        r[prefix + 'history'] = tool.cli('history', 'web').stdout[-6000:]
        try:
            r[prefix + 'daemon_log'] = open(os.path.join(tool.home, 'daemon.log')).read()[-8000:]
        except FileNotFoundError:
            pass


W9_NGINX = {'ports': '', 'mf0': ' max_fails=0'}


def w9_ports(cfg, tool, tmp, nginx, setup):
    """4 instances on ports base..base+3 behind nginx; the tool's reload/restart command.
    setup 'ports': nginx's defaults (max_fails=1 fail_timeout=10s per server); 'mf0': the same
    with max_fails=0 on each server (no failure accounting: every request tries the instances
    in turn, skipping a refused one)."""
    n = cfg.reload_instances
    ports = free_ports(n + 1, consecutive=True)
    front, base = ports[0], ports[1]
    nginx.start(front, ports[1:], W9_NGINX[setup])
    try:
        if tool.name == 'svctl':
            tool.fresh()
            path = os.path.join(tool.home, 'web.yaml')
            _w9_svctl_yaml(path, n, 'v1', base_port=base)
            tool.started = True
            tool.cli('start', path, check=True)
            _w9_svctl_yaml(path, n, 'v2', base_port=base)
            argv, env = [tool.bin, '--home', tool.home, 'reload', path], None
        elif tool.name == 'pm2':
            tool.fresh()
            path = os.path.join(tool.home, 'web.yaml')
            _w9_pm2_yaml(path, n, 'v1', base)
            tool.started = True
            tool.cli('start', path, check=True)
            _w9_pm2_yaml(path, n, 'v2', base)
            argv, env = [tool.bin, 'reload', path, '--update-env'], tool.env
        else:
            tool.fresh()
            tool.write_conf(_w9_sv_apps(n, base))
            tool._launch()
            tool.wait_ctl()
            # restart re-runs the loaded config (a new environment needs `reread` + `update`,
            # which restarts every changed program at once): the version stays v1
            argv, env = [tool.supervisorctl, '-c', tool.conf, 'restart'] + ['web%d' % i for i in range(n)], None
        if not wait_http_pids(front, n, version='v1'):
            raise RuntimeError('the %d instances did not answer through nginx in 15 s' % n)
        time.sleep(0.2)
        m = _w9_measure(cfg, front, argv, env, 'v1', 'v2')
        m['retried'] = _w9_nginx_retries(nginx)
        pre = 'w9_%s_' % setup
        r = {pre + k: v for k, v in m.items()}
        if tool.name == 'svctl':
            _w9_svctl_evidence(tool, r, pre, m)
        elif tool.name == 'pm2':
            # PM2's view afterwards: statuses, restarts, PORT of each instance, stderr of one
            jl = tool.jlist() or []
            r[pre + 'pm2_after'] = ['%s %s restarts=%s PORT=%s' % (p.get('pm_id'), p['pm2_env'].get('status'),
                                    p['pm2_env'].get('restart_time'), p['pm2_env'].get('PORT',
                                    (p['pm2_env'].get('env') or {}).get('PORT'))) for p in jl]
            errs = sorted(f for f in os.listdir(os.path.join(tool.home, 'logs')) if 'err' in f) \
                if os.path.isdir(os.path.join(tool.home, 'logs')) else []
            r[pre + 'pm2_stderr'] = {f: open(os.path.join(tool.home, 'logs', f), errors='replace').read()[-600:]
                                     for f in errs}
        if m['failed']:
            r[pre + 'nginx_errors'] = nginx.error_log()[-4000:]
    finally:
        tool.shutdown()
        nginx.stop()
    return r


def scrape(port):
    """One GET /metrics on a new connection: (ms, body bytes, HTTP status)."""
    import http.client
    t0 = mono()
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        c.request('GET', '/metrics')
        resp = c.getresponse()
        body = resp.read()
        return (mono() - t0) * 1000, len(body), resp.status
    finally:
        c.close()


def w10(cfg, tool, tmp):
    """svctl only: GET /metrics latency with n_small and n_big `sleep` apps online, daemon started
    with --metrics-addr (through SVCTL_METRICS_ADDR, which the autostarted daemon reads)."""
    r = {}
    for label, n in (('small', cfg.n_small), ('big', cfg.n_big)):
        port = free_ports(1)[0]
        apps = [{'name': 'm%04d' % k, 'argv': ['/bin/sleep', '100002']} for k in range(n)]
        argv, _ = tool.prepare(apps, warm=False)
        env = dict(os.environ, SVCTL_METRICS_ADDR='127.0.0.1:%d' % port)
        try:
            t0 = mono()
            dt, p = timed_run(argv, env, timeout=600)
            if p.returncode != 0:
                raise RuntimeError('start failed: %s' % (p.stdout + p.stderr).decode(errors='replace')[-500:])
            if wait_all_online(tool, n, t0, 300) is None:
                raise RuntimeError('not all %d apps online in 300 s' % n)
            time.sleep(cfg.settle_s)
            scrape(port)   # warm-up: also the sampling round the first view waits for
            lat, size, bad = [], 0, 0
            for _ in range(cfg.scrape_runs):
                ms, size, status = scrape(port)
                lat.append(ms)
                bad += status != 200
            stale = []
            for _ in range(cfg.scrape_stale_runs):
                time.sleep(cfg.scrape_gap_s)
                ms, _, status = scrape(port)
                stale.append(ms)
                bad += status != 200
            r['w10_scrape_%s_med_ms' % label] = median(lat)
            r['w10_scrape_%s_p95_ms' % label] = pct(lat, 95)
            r['w10_scrape_%s_stale_med_ms' % label] = median(stale)
            r['w10_scrape_%s_kib' % label] = size / 1024
            r['w10_scrape_fails'] = r.get('w10_scrape_fails', 0) + bad
        finally:
            tool.shutdown()
    return r


# ----------------------------------------------------------------- report --

TOOLS = ['svctl', 'pm2', 'supervisord']


def rows(cfg):
    s, b = cfg.n_small, cfg.n_big
    # (key, label, decimals, goal) ; goal: fn(res) -> (text, ok or None)
    return [
        ('## w1', 'Daemon RSS (MiB, supervisor processes only)', None, None),
        ('w1_rss_idle_mib', 'idle, 0 apps', 1, goal_rss_abs('idle', 4)),
        ('w1_rss_small_mib', '%d apps' % s, 1, goal_rss),
        ('w1_rss_big_mib', '%d apps' % b, 1, goal_rss_abs('big', 16)),
        ('## w2', 'Start command → all apps online (ms)', None, None),
        ('w2_online_small_ms', '%d apps' % s, 0, goal_online),
        ('w2_online_big_ms', '%d apps' % b, 0, goal_online_big),
        ('w2_cmd_small_ms', 'start command returns, %d apps' % s, 0, None),
        ('w2_warm_online_small_ms', 'daemon already running: %d apps online' % s, 0, None),
        ('w2_cmd_big_ms', 'start command returns, %d apps' % b, 0, None),
        ('## w3', '`list` latency (ms, %d runs)' % cfg.list_runs, None, None),
        ('w3_list_small_med_ms', 'median, %d apps' % s, 1, None),
        ('w3_list_small_p95_ms', 'p95, %d apps' % s, 1, None),
        ('w3_list_big_med_ms', 'median, %d apps' % b, 1, goal_list),
        ('w3_list_big_p95_ms', 'p95, %d apps' % b, 1, None),
        ('## w4', 'Restart after a crash, restart_delay 0 (ms)', None, None),
        ('w4_gap_db_ms', 'gap between spawns, /bin/false (svctl: `spawns` rows)', 2, goal_restart),
        ('w4_gap_stamp_ms', 'gap between starts of crash.sh (app timestamps)', 2, None),
        ('## w5', 'Log throughput (start command → all lines on disk)', None, None),
        ('w5_single_MBps', '1 app × %s lines, MB/s' % fmt_int(cfg.log_single), 1, goal_logs),
        ('w5_single_lost', '1 app: lines lost', 0, goal_lost('single')),
        ('w5_single_bad', '1 app: lines dup./malformed/out of order', 0, None),
        ('w5_single_peak_rss_mib', '1 app: daemon peak RSS, MiB', 1, None),
        ('w5_single_daemon_cpu_s', '1 app: daemon CPU, s', 2, None),
        ('w5_ten_MBps', '10 apps × %s lines, MB/s' % fmt_int(cfg.log_ten), 1, None),
        ('w5_ten_lost', '10 apps: lines lost', 0, goal_lost('ten')),
        ('w5_ten_bad', '10 apps: lines dup./malformed/out of order', 0, None),
        ('w5_fast_MBps', 'ceiling: 1 app, lines pre-built, 64 KiB writes, from first byte, MB/s', 1, None),
        ('w5_fast_lost', 'ceiling: lines lost', 0, None),
        ('## w6', 'Memory limit %d MiB, app growing %d MiB/s' % (cfg.mem_limit_mb, cfg.mem_rate), None, None),
        ('w6_reaction_s', 'crossing the limit → app gone (s)', 2, goal_mem),
        ('w6_interval_s', 'memory check interval (s)', 1, None),
        ('w6_rss_at_kill_mib', 'app RSS reached (MiB)', 0, None),
        ('## w7', 'Idle daemon CPU, %d apps, %.0f s (%% of one core)' % (b, cfg.idle_cpu_s), None, None),
        ('w7_idle_cpu_pct', 'idle CPU %, the first window (starts a few seconds after the start)', 3, None),
        ('w7_idle_cpu_rest_pct', 'idle CPU %, at rest (the window after, 1.5 min after the start)', 3, goal_cpu),
        ('w7_syscalls_per_s', 'system calls per second (strace -c -f, %.0f s)' % cfg.idle_strace_s, 1, None),
        ('## w8', 'Crash storm: %d apps exiting at once, %.0f s' % (cfg.storm_apps, cfg.storm_s), None, None),
        ('w8_spawns_real', 'spawns (app-side count)', 0, None),
        ('w8_spawn_rate', 'spawns per second', 0, None),
        ('w8_spawn_rows', 'spawns recorded by the tool', 0, goal_rows),
        ('w8_exit_rows', 'exits recorded by the tool', 0, None),
        ('w8_list_med_ms', '`list` median during the storm (ms)', 1, None),
        ('w8_list_p99_ms', '`list` p99 during the storm (ms)', 1, goal_storm_list),
        ('w8_list_n', '`list` calls completed during the storm', 0, None),
        ('w8_list_fails', '`list` calls failed or unanswered at the end', 0, None),
        ('w8_stop_s', 'stop all apps after the storm (s)', 1, None),
        ('## w9', 'Reload of %d instances of an HTTP app under load (GET back to back, new connection each, '
                  '%d client threads; %.0f s before the reload, %.0f s after)'
         % (cfg.reload_instances, cfg.reload_workers, cfg.reload_pre_s, cfg.reload_post_s), None, None),
        ('w9_ports_failed', 'per-instance ports behind nginx, its defaults (max_fails=1 fail_timeout=10s): '
                            'failed requests', 0, goal_w9('ports')),
        ('w9_ports_failed_kinds', '… which failures', None, None),
        ('w9_ports_last_fail_ms', '… last failure, ms after the reload command was issued', 0, None),
        ('w9_ports_outage_ms', '… first to last failure (ms)', 0, None),
        ('w9_ports_longest_ms', '… longest request (ms)', 0, None),
        ('w9_ports_reload_ms', '… reload command duration (ms)', 0, None),
        ('w9_ports_requests', '… requests made', 0, None),
        ('w9_ports_retried', '… requests nginx retried on another instance', 0, None),
        ('w9_ports_after', '… answers after the reload (version count; pids)', None, None),
        ('w9_mf0_failed', 'per-instance ports behind nginx, `max_fails=0`: failed requests', 0, goal_w9('mf0')),
        ('w9_mf0_failed_kinds', '… which failures', None, None),
        ('w9_mf0_last_fail_ms', '… last failure, ms after the reload command was issued', 0, None),
        ('w9_mf0_outage_ms', '… first to last failure (ms)', 0, None),
        ('w9_mf0_longest_ms', '… longest request (ms)', 0, None),
        ('w9_mf0_reload_ms', '… reload command duration (ms)', 0, None),
        ('w9_mf0_requests', '… requests made', 0, None),
        ('w9_mf0_retried', '… requests nginx retried on another instance', 0, None),
        ('w9_mf0_after', '… answers after the reload (version count; pids)', None, None),
        ('w9_listen_failed', 'shared socket (`listen:`, svctl only): failed requests', 0, goal_w9('listen')),
        ('w9_listen_failed_kinds', '… which failures', None, None),
        ('w9_listen_last_fail_ms', '… last failure, ms after the reload command was issued', 0, None),
        ('w9_listen_outage_ms', '… first to last failure (ms)', 0, None),
        ('w9_listen_longest_ms', '… longest request (ms)', 0, None),
        ('w9_listen_reload_ms', '… reload command duration (ms)', 0, None),
        ('w9_listen_requests', '… requests made', 0, None),
        ('w9_listen_after', '… answers after the reload (version count; pids)', None, None),
        ('## w10', 'Metrics endpoint: GET /metrics on a new connection (ms; svctl only, %d back to back, '
                   '%d after %.1f s idle)' % (cfg.scrape_runs, cfg.scrape_stale_runs, cfg.scrape_gap_s), None, None),
        ('w10_scrape_small_med_ms', 'median, %d apps' % s, 1, None),
        ('w10_scrape_small_p95_ms', 'p95, %d apps' % s, 1, None),
        ('w10_scrape_small_stale_med_ms', 'median after %.1f s idle, %d apps' % (cfg.scrape_gap_s, s), 1, None),
        ('w10_scrape_small_kib', 'answer size, %d apps (KiB)' % s, 0, None),
        ('w10_scrape_big_med_ms', 'median, %d apps' % b, 1, None),
        ('w10_scrape_big_p95_ms', 'p95, %d apps' % b, 1, None),
        ('w10_scrape_big_stale_med_ms', 'median after %.1f s idle, %d apps' % (cfg.scrape_gap_s, b), 1, None),
        ('w10_scrape_big_kib', 'answer size, %d apps (KiB)' % b, 0, None),
        ('w10_scrape_fails', 'non-200 answers', 0, None),
        ('## floor', 'Machine floor', None, None),
        ('spawn_us', 'fork+exec+wait of /bin/true (µs)', 0, None),
        ('pipe_MBps', 'pipe throughput, dd bs=1M → cat (MB/s)', 0, None),
        ('producer_MBps', 'w5 producer → pipe → cat → file (MB/s)', 0, None),
        ('crash_gap_ms', 'crash.sh run back-to-back, gap (ms)', 2, None),
        ('create_file_us', 'create an empty file in the bench directory, at the start of the run (µs; two per app at start)', 0, None),
        ('create_file_end_us', 'the same, at the end of the run', 0, None),
    ]


def fmt_int(n):
    return '{:,}'.format(n)


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def g(res, tool, key):
    return res.get(tool, {}).get(key)


def goal_rss(res, cfg):
    v, p, s = g(res, 'svctl', 'w1_rss_small_mib'), g(res, 'pm2', 'w1_rss_small_mib'), g(res, 'supervisord', 'w1_rss_small_mib')
    ok = None
    if num(v):
        ok = v <= 6 and (not num(p) or v <= p / 10) and (not num(s) or v <= s / 3)
    return '≤ 6 MiB, ≤ PM2/10 and ≤ supervisord/3', ok


def goal_rss_abs(label, mib):
    def f(res, cfg):
        v = g(res, 'svctl', 'w1_rss_%s_mib' % label)
        return '≤ %d MiB' % mib, (v <= mib) if num(v) else None
    return f


def goal_online_big(res, cfg):
    v = g(res, 'svctl', 'w2_online_big_ms')
    return '≤ 1,500 ms', (v <= 1500) if num(v) else None


def goal_online(res, cfg):
    v, f = g(res, 'svctl', 'w2_online_small_ms'), g(res, 'floor', 'spawn_us')
    if not num(f):
        return '≤ 3 × fork+exec floor × N', None
    lim = 3 * f * cfg.n_small / 1000
    return '≤ 3 × floor × %d = %.0f ms' % (cfg.n_small, lim), (v <= lim) if num(v) else None


def goal_list(res, cfg):
    v = g(res, 'svctl', 'w3_list_big_med_ms')
    return '< 10 ms', (v < 10) if num(v) else None


def goal_restart(res, cfg):
    v = g(res, 'svctl', 'w4_gap_db_ms')
    return '< 5 ms', (v < 5) if num(v) else None


def goal_logs(res, cfg):
    v, p = g(res, 'svctl', 'w5_single_MBps'), g(res, 'pm2', 'w5_single_MBps')
    return '≥ 3 × PM2', (v >= 3 * p) if num(v) and num(p) else None


def goal_lost(label):
    def f(res, cfg):
        v = g(res, 'svctl', 'w5_%s_lost' % label)
        return '0', (v == 0) if num(v) else None
    return f


def goal_mem(res, cfg):
    v = g(res, 'svctl', 'w6_reaction_s')
    return '≤ 1.5 × interval = 1.5 s', (v <= 1.5) if num(v) else None


def goal_cpu(res, cfg):
    v = g(res, 'svctl', 'w7_idle_cpu_rest_pct')
    return '≤ 0.05 %', (v <= 0.05) if num(v) else None


def goal_rows(res, cfg):
    s = res.get('svctl', {})
    sp, ex, real = s.get('w8_spawn_rows'), s.get('w8_exit_rows'), s.get('w8_spawns_real')
    if not (num(sp) and num(ex)):
        return 'rows = spawns, every spawn has its exit', None
    # the app counts itself after exec; at most one run per app can be cut before it counted
    ok = sp == ex and num(real) and real <= sp <= real + cfg.storm_apps
    return 'rows = spawns, every spawn has its exit (%s spawns, %s exits)' % (sp, ex), ok


def goal_storm_list(res, cfg):
    v = g(res, 'svctl', 'w8_list_p99_ms')
    return '< 50 ms', (v < 50) if num(v) else None


def goal_w9(setup):
    def f(res, cfg):
        s = res.get('svctl', {})
        v, new = s.get('w9_%s_failed' % setup), s.get('w9_%s_after_all_new' % setup)
        ok = (v == 0 and new is True and s.get('w9_%s_reload_rc' % setup) == 0) if num(v) else None
        return '0 failed, every answer after the reload from v2', ok
    return f


def fmt(v, dec):
    if v is None:
        return '–'
    if isinstance(v, bool):
        return str(v)
    if num(v):
        if dec == 0:
            return '{:,.0f}'.format(v)
        return '{:,.{d}f}'.format(v, d=dec)
    return str(v)


def ratio(a, b):
    if not (num(a) and num(b)) or a == 0 or b == 0:
        return '–'
    r = a / b
    return '%.2f×' % r if r >= 0.01 else '%.4f×' % r


def table(res, cfg, tools, notes):
    head = '| workload / figure | svctl | PM2 | supervisord | floor | svctl÷PM2 | svctl÷supervisord | goal (svctl) | met |'
    out = [head, '|' + '---|' * 9]
    pending = None
    for key, label, dec, goal in rows(cfg):
        if key.startswith('## '):
            pending = '| **%s — %s** | | | | | | | | |' % (key[3:], label)
            continue
        vals = [res.get(t, {}).get(key) for t in TOOLS]
        fl = res.get('floor', {}).get(key)
        if all(v is None for v in vals) and fl is None:
            continue
        if pending:
            out.append(pending)
            pending = None
        gtxt, ok = goal(res, cfg) if goal else ('', None)
        cells = [label] + [fmt(v, dec) for v in vals] + [fmt(fl, dec), ratio(vals[0], vals[1]),
                                                         ratio(vals[0], vals[2]), gtxt,
                                                         '' if ok is None else ('yes' if ok else '**NO**')]
        out.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(out)


# ------------------------------------------------------------------- main --

def build():
    log('cargo build --release')
    r = subprocess.run(['cargo', 'build', '--release'], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-4000:])
        raise SystemExit('cargo build --release failed')
    return os.path.join(REPO, 'target', 'release', 'svctl')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--quick', action='store_true', help='~1-minute smoke run with small sizes')
    ap.add_argument('--only', default='', help='comma-separated workloads, e.g. w1,w3 (default: all)')
    ap.add_argument('--skip-peers', action='store_true', help='measure svctl only')
    ap.add_argument('--no-build', action='store_true', help='use the existing target/release/svctl')
    a = ap.parse_args()
    want = [w.strip() for w in a.only.split(',') if w.strip()] or ALL_W
    bad = [w for w in want if w not in ALL_W]
    if bad:
        ap.error('unknown workload(s): %s (known: %s)' % (', '.join(bad), ', '.join(ALL_W)))
    cfg = Cfg(a.quick)
    t_begin = mono()

    # SIGTERM -> the same cleanup as Ctrl-C
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started with SIGINT ignored

    binary = os.path.join(REPO, 'target', 'release', 'svctl') if a.no_build else build()
    # The homes live where a user's would, under $HOME, not in /tmp: on a journal-less ext4
    # (this VM's root) a file creation looks past every inode freed in the last minutes, and
    # /tmp's block group is churned by every test run (1 ms per file there against 30 µs under
    # $HOME, measured). BENCH_DIR overrides; the path stays short for unix socket paths.
    base = os.environ.get('BENCH_DIR') or os.path.join(os.path.expanduser('~'), '.cache', 'svctl-bench')
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='svb-', dir=base)
    tools, notes = [Svctl(binary, tmp)], []
    if not a.skip_peers:
        for t in (Pm2(tmp), Supervisord(tmp)):
            ok, why = t.available()
            if ok:
                tools.append(t)
            else:
                notes.append('%s skipped: %s' % (t.name, why))
    else:
        notes.append('peers skipped (--skip-peers)')
    nginx = Nginx(tmp)
    nginx_ok = False
    if 'w9' in want:
        nginx_ok, why = nginx.available()
        if not nginx_ok:
            notes.append('w9 per-instance ports skipped: %s' % why)
    res = {'floor': {}, 'errors': []}
    for t in tools:
        res[t.name] = {}
    meta = {'date': time.strftime('%Y-%m-%d %H:%M:%S %z'), 'mode': 'quick' if a.quick else 'default',
            'workloads': want, 'host': platform.node(), 'kernel': platform.release(),
            'nproc': os.cpu_count(), 'loadavg_start': open('/proc/loadavg').read().split()[:3],
            'versions': {}}
    for t in tools:
        try:
            meta['versions'][t.name] = t.version()
        except Exception as e:
            meta['versions'][t.name] = '? (%s)' % e
    if nginx_ok:
        meta['versions']['nginx'] = 'nginx %s (w9 balancer)' % nginx.version()

    def step(tool, name, fn):
        log('%s %s' % (name, tool.name if tool else ''))
        t0 = mono()
        try:
            out = fn()
            (res[tool.name] if tool else res['floor']).update(out)
            log('  ', {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()
                       if not isinstance(v, (list, dict)) and not (isinstance(v, str) and len(v) > 200)},
                '(%.1f s)' % (mono() - t0))
        except KeyboardInterrupt:
            raise
        except Exception as e:
            res['errors'].append({'tool': tool.name if tool else 'floor', 'step': name, 'error': repr(e),
                                  'trace': traceback.format_exc()})
            log('   ERROR', repr(e))
            if tool:
                try:
                    tool.shutdown()
                except Exception:
                    pass

    interrupted = False
    try:
        step(None, 'floor', lambda: floor(cfg, tmp))
        step(None, 'floor files', lambda: file_floor(cfg, tmp))
        if 'w1' in want:
            for t in tools:
                step(t, 'w1 idle', lambda t=t: w1_idle(cfg, t))
        pop = [w for w in ('w1', 'w2', 'w3', 'w7') if w in want]
        if pop:
            for label, n in (('small', cfg.n_small), ('big', cfg.n_big)):
                if label == 'small' and pop == ['w7']:
                    continue
                for t in tools:
                    step(t, 'population %d (%s)' % (n, ','.join(pop)),
                         lambda t=t, n=n, label=label: population(cfg, t, n, pop, label))
        if 'w2' in want:
            for t in tools:
                step(t, 'w2 warm', lambda t=t: w2_warm(cfg, t))
        for w, fn in (('w4', w4), ('w5', w5), ('w6', w6), ('w8', w8)):
            if w in want:
                for t in tools:
                    step(t, w, lambda t=t, fn=fn: fn(cfg, t, tmp))
        if 'w9' in want:
            step(tools[0], 'w9 listen', lambda: w9_listen(cfg, tools[0], tmp))
            if nginx_ok:
                for setup in ('ports', 'mf0'):
                    for t in tools:
                        step(t, 'w9 %s' % setup, lambda t=t, setup=setup: w9_ports(cfg, t, tmp, nginx, setup))
        if 'w10' in want:
            step(tools[0], 'w10', lambda: w10(cfg, tools[0], tmp))
        step(None, 'floor files', lambda: file_floor(cfg, tmp, 'create_file_end_us'))
    except KeyboardInterrupt:
        interrupted = True
        log('interrupted: cleaning up')
    finally:
        for t in tools:
            try:
                t.shutdown()
            except Exception as e:
                log('cleanup of %s failed: %r' % (t.name, e))
        try:
            nginx.stop()
        except Exception as e:
            log('cleanup of nginx failed: %r' % e)
        shutil.rmtree(tmp, ignore_errors=True)

    meta['elapsed_s'] = round(mono() - t_begin, 1)
    meta['loadavg_end'] = open('/proc/loadavg').read().split()[:3]
    tab = table(res, cfg, tools, notes)
    md = ['# svctl benchmark (%s mode)' % meta['mode'], '',
          'Command: `python3 bench/run.py%s`; %s; host: %d CPUs, Linux %s; load average at start %s; '
          'took %.0f s.' % (' '.join([''] + sys.argv[1:]), meta['date'], meta['nproc'], meta['kernel'],
                            ' '.join(meta['loadavg_start']), meta['elapsed_s']), '',
          'Versions: ' + '; '.join('%s' % v for v in meta['versions'].values()) + '.', '']
    for n in notes:
        md.append('Note: %s.' % n)
    if interrupted:
        md.append('Note: INTERRUPTED, partial results.')
    for e in res['errors']:
        md.append('Error: %s / %s: %s' % (e['tool'], e['step'], e['error']))
    md += ['', tab, '',
           'Ratios are svctl ÷ peer (below 1 = svctl smaller). "–": not measured or not applicable. '
           'See bench/README.md for the method.', '']
    text = '\n'.join(md)
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    full = not a.quick and want == ALL_W and not a.skip_peers and not interrupted
    stem = 'latest' if full else ('latest-quick' if a.quick else 'latest-partial')
    with open(os.path.join(RESULTS, stem + '.md'), 'w') as f:
        f.write(text)
    raw = {'meta': meta, 'results': res, 'notes': notes}
    stamp = time.strftime('%Y%m%d-%H%M%S')
    for name in (stem + '.json', 'raw-%s-%s.json' % (stamp, meta['mode'])):
        with open(os.path.join(RESULTS, name), 'w') as f:
            json.dump(raw, f, indent=1, sort_keys=True, default=str)
    log('wrote %s/%s.md and raw JSON' % (RESULTS, stem))
    return 130 if interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
