"""One driver per supervisor, all with the same small interface, used by bench/run.py.

    prepare(apps, warm) -> (argv, env)   fresh private state; config written; when warm the
                                         daemon is already running with nothing started. The
                                         returned command starts the apps (timed by callers).
    statuses()      {app name: normalized status}  ('online' = running)
    list_argv()     the human "list" command whose latency is measured
    daemon_pids()   the supervisor's own processes (apps excluded)
    stop_all(), shutdown() (the tool's own commands), log_file(name)

An app is a dict: name, argv, autorestart (True), restart_delay (0 ms), max_restarts,
max_memory_mb, memory_check_interval_ms.

PM2 and supervisord helpers are adapted from /work/shared/bench/peers/lib.py (see README).
"""
import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

from common import alive, all_pids, cmdline, log, mono, wait_gone


_discarded = 0


def discard(path):
    """Moves a tool's old home aside (deleted with the bench's directory at the end of the run)
    instead of deleting it now: on a journal-less ext4 each inode freed in the last minutes
    slows every file creation after it, so deleting one workload's logs would slow the next
    workload's start, whichever tool it measures."""
    global _discarded
    if not os.path.lexists(path):
        return
    _discarded += 1
    os.rename(path, os.path.join(os.path.dirname(path), '.discarded-%d' % _discarded))


def yaml_quote(s):
    return '"' + str(s).replace('\\', '\\\\').replace('"', '\\"') + '"'


def write_yaml_apps(path, apps):
    """apps: list of dicts of option -> str/int/bool/list."""
    lines = ['apps:']
    for a in apps:
        first = True
        for k, v in a.items():
            prefix = '  - ' if first else '    '
            first = False
            if isinstance(v, bool):
                val = 'true' if v else 'false'
            elif isinstance(v, (int, float)):
                val = str(v)
            elif isinstance(v, list):
                val = '[' + ', '.join(yaml_quote(x) for x in v) + ']'
            else:
                val = yaml_quote(v)
            lines.append('%s%s: %s' % (prefix, k, val))
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def _run(argv, env=None, timeout=300, check=False):
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(argv), r.returncode,
                                                    (r.stdout + r.stderr).strip()[-2000:]))
    return r


# ------------------------------------------------------------------ svctl --

class Svctl:
    name = 'svctl'

    def __init__(self, binary, root):
        self.bin = binary
        self.home = os.path.join(root, 'svctl')
        self.started = False

    def available(self):
        return os.path.exists(self.bin), None

    def version(self):
        return _run([self.bin, '--version']).stdout.strip()

    def cli(self, *args, timeout=300, check=False):
        return _run([self.bin, '--home', self.home, *args], timeout=timeout, check=check)

    def daemon_pid(self):
        try:
            txt = open(os.path.join(self.home, 'svctl.lock')).read().strip()
            pid = int(txt.split()[0]) if txt else None
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if pid and alive(pid) else None

    def daemon_pids(self):
        p = self.daemon_pid()
        return [p] if p else []

    def fresh(self):
        self.shutdown()
        discard(self.home)
        os.makedirs(self.home)

    def start_daemon(self):
        # `ping` never starts the daemon (read-only commands don't); `resurrect` does, and with
        # a fresh home (no dump) it starts nothing
        self.started = True
        self.cli('resurrect', check=True)
        self.cli('ping', check=True)

    def config(self, apps, path):
        out = []
        for a in apps:
            # No log rotation, as supervisord is configured below (logfile_maxbytes=0) and as
            # PM2 does by default: every line must stay in one file for the checker.
            d = {'name': a['name'], 'script': a['argv'][0], 'args': list(a['argv'][1:]),
                 'autorestart': a.get('autorestart', True), 'restart_delay': a.get('restart_delay', 0),
                 'log_max_size': 0}
            if a.get('max_restarts') is not None:
                d['max_restarts'] = a['max_restarts']
            if a.get('max_memory_mb'):
                d['max_memory_restart'] = '%dM' % a['max_memory_mb']
                d['memory_check_interval'] = a.get('memory_check_interval_ms', 1000)
            out.append(d)
        return write_yaml_apps(path, out)

    def prepare(self, apps, warm):
        self.fresh()
        path = self.config(apps, os.path.join(self.home, 'bench.yaml'))
        if warm:
            self.start_daemon()
        self.started = True
        return [self.bin, '--home', self.home, 'start', path], None

    def list_json(self):
        r = self.cli('list', '--json')
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError:
            return None

    def statuses(self):
        out = {}
        for p in self.list_json() or []:
            key = p['name'] if p.get('instance') in (None, 0) else '%s:%s' % (p['name'], p['instance'])
            out[key] = p['status']
        return out

    def list_argv(self):
        return [self.bin, '--home', self.home, 'list']

    def stop_all(self):
        return self.cli('stop', 'all')

    def shutdown(self):
        pid = self.daemon_pid()
        if pid is None:
            return
        r = self.cli('kill', timeout=180)
        if not wait_gone(pid, 60):
            log('WARNING: svctl daemon %d still alive after `svctl kill` (%s); SIGTERM' %
                (pid, (r.stdout + r.stderr).strip()[-300:]))
            try:
                os.kill(pid, signal.SIGTERM)   # a daemon this harness started
            except ProcessLookupError:
                pass
            wait_gone(pid, 30)

    def log_file(self, name):
        return os.path.join(self.home, 'logs', name + '-out.log')

    def db(self):
        c = sqlite3.connect('file:%s?mode=ro' % os.path.join(self.home, 'svctl.db'), uri=True, timeout=10)
        return c


# -------------------------------------------------------------------- PM2 --

class Pm2:
    name = 'pm2'

    def __init__(self, root):
        self.bin = shutil.which('pm2')
        self.home = os.path.join(root, 'pm2')
        self.env = dict(os.environ)
        self.env['PM2_HOME'] = self.home
        self.env.pop('PM2_DISCRETE_MODE', None)
        self.started = False

    def available(self):
        if not self.bin:
            return False, 'pm2 not installed (npm i -g pm2)'
        return True, None

    def version(self):
        # `pm2 --version` would launch a daemon: read package.json instead
        try:
            root = _run(['npm', 'root', '-g']).stdout.strip()
            v = json.load(open(os.path.join(root, 'pm2', 'package.json')))['version']
        except Exception:
            v = '?'
        node = _run(['node', '--version']).stdout.strip()
        return 'pm2 %s (node %s)' % (v, node)

    def cli(self, *args, timeout=300, check=False):
        return _run([self.bin, *args], env=self.env, timeout=timeout, check=check)

    def god_pid(self):
        try:
            pid = int(open(os.path.join(self.home, 'pm2.pid')).read().strip())
        except (FileNotFoundError, ValueError):
            pid = None
        if pid and alive(pid) and 'God Daemon' in (cmdline(pid) or ''):
            return pid
        for p in all_pids():
            c = cmdline(p) or ''
            if c.startswith('PM2 v') and 'God Daemon' in c and self.home in c and alive(p):
                return p
        return None

    def daemon_pids(self):
        god = self.god_pid()
        out = [god] if god else []
        for p in all_pids():
            c = cmdline(p) or ''
            if p != god and c.startswith('PM2 ') and self.home in c and alive(p):
                out.append(p)
        return out

    def fresh(self):
        self.shutdown()
        discard(self.home)
        os.makedirs(self.home)
        # without this marker the first call prints a banner and tries a version check online
        with open(os.path.join(self.home, 'touch'), 'w') as f:
            f.write(str(int(time.time() * 1000)))

    def start_daemon(self):
        self.started = True
        self.cli('ping', check=True)

    def prepare(self, apps, warm):
        self.fresh()
        out = []
        for a in apps:
            d = {'name': a['name'], 'script': a['argv'][0], 'args': list(a['argv'][1:]),
                 'interpreter': 'none', 'autorestart': a.get('autorestart', True),
                 'restart_delay': a.get('restart_delay', 0)}
            if a.get('max_restarts') is not None:
                d['max_restarts'] = a['max_restarts']
            if a.get('max_memory_mb'):
                d['max_memory_restart'] = '%dM' % a['max_memory_mb']
            out.append(d)
        path = write_yaml_apps(os.path.join(self.home, 'bench.yaml'), out)
        if warm:
            self.start_daemon()
        self.started = True
        return [self.bin, 'start', path], self.env

    def jlist_timeout(self, timeout):
        r = self.cli('jlist', timeout=timeout)
        txt = r.stdout.strip()
        return json.loads(txt[txt.find('['):])

    def jlist(self):
        r = self.cli('jlist')
        if r.returncode != 0:
            return None
        txt = r.stdout.strip()
        start = txt.find('[')
        try:
            return json.loads(txt[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            return None

    def statuses(self):
        return {p['name']: p['pm2_env']['status'] for p in self.jlist() or []}

    def list_argv(self):
        return [self.bin, 'list']

    def stop_all(self):
        return self.cli('stop', 'all')

    def shutdown(self):
        god = self.god_pid()
        if god is None:
            return
        self.cli('kill', timeout=300)
        if not wait_gone(god, 60):
            log('WARNING: PM2 God daemon %d still alive after pm2 kill' % god)

    def log_file(self, name):
        return os.path.join(self.home, 'logs', name + '-out.log')


# ------------------------------------------------------------- supervisord --

SV_HEADER = """\
[unix_http_server]
file={sock}

[supervisord]
logfile={dir}/supervisord.log
logfile_maxbytes=0
pidfile={pidfile}
childlogdir={logdir}
loglevel=info
minfds=8192

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}
"""


def _pybin(name):
    # the real console script next to this interpreter, not a pyenv shim (+150 ms per call)
    p = os.path.join(os.path.dirname(os.path.realpath(sys.executable)), name)
    return p if os.path.exists(p) else shutil.which(name)


class Supervisord:
    name = 'supervisord'

    def __init__(self, root):
        self.dir = os.path.join(root, 'sv')
        self.conf = os.path.join(self.dir, 'supervisord.conf')
        self.sock = os.path.join(self.dir, 'supervisor.sock')
        self.pidfile = os.path.join(self.dir, 'supervisord.pid')
        self.logdir = os.path.join(self.dir, 'logs')
        self.supervisord = _pybin('supervisord')
        self.supervisorctl = _pybin('supervisorctl')
        self.memmon = _pybin('memmon')
        self.started = False

    def available(self):
        if not self.supervisord or not self.supervisorctl:
            return False, 'supervisord not installed (pip install supervisor)'
        return True, None

    def version(self):
        return 'supervisord %s (python %s)' % (_run([self.supervisord, '--version']).stdout.strip(),
                                               sys.version.split()[0])

    def ctl(self, *args, timeout=300):
        return _run([self.supervisorctl, '-c', self.conf, *args], timeout=timeout)

    def _procs(self):
        return [p for p in all_pids() if alive(p) and 'supervisord' in (cmdline(p) or '')
                and self.conf in (cmdline(p) or '')]

    def pid(self):
        try:
            pid = int(open(self.pidfile).read().strip())
            if alive(pid) and 'supervisord' in (cmdline(pid) or ''):
                return pid
        except (FileNotFoundError, ValueError):
            pass
        procs = self._procs()
        return procs[0] if procs else None

    def daemon_pids(self):
        p = self.pid()
        return [p] if p else []

    def fresh(self):
        self.shutdown()
        discard(self.dir)
        os.makedirs(self.logdir)

    def write_conf(self, apps, autostart=True, extra=''):
        parts = [SV_HEADER.format(sock=self.sock, dir=self.dir, pidfile=self.pidfile, logdir=self.logdir)]
        for a in apps:
            o = {'command': ' '.join(shlex.quote(x) for x in a['argv']),
                 'autostart': 'true' if autostart else 'false',
                 'autorestart': 'true' if a.get('autorestart', True) else 'false',
                 'startsecs': '0',
                 'startretries': str(a.get('max_restarts') or 3),
                 'stdout_logfile': os.path.join(self.logdir, a['name'] + '-out.log'),
                 'stderr_logfile': os.path.join(self.logdir, a['name'] + '-err.log'),
                 'stdout_logfile_maxbytes': '0', 'stderr_logfile_maxbytes': '0'}
            if a.get('environment'):
                o['environment'] = a['environment']
            parts.append('[program:%s]\n' % a['name'] + ''.join('%s=%s\n' % kv for kv in o.items()))
        parts.append(extra)
        with open(self.conf, 'w') as f:
            f.write('\n'.join(parts))

    def _launch(self):
        self.started = True
        _run([self.supervisord, '-c', self.conf], check=True)
        t0 = mono()
        while not os.path.exists(self.pidfile) and mono() - t0 < 30:
            time.sleep(0.005)

    def start_daemon(self):
        self.fresh()
        self.write_conf([])
        self._launch()
        self.wait_ctl()

    def wait_ctl(self, timeout=30):
        t0 = mono()
        while mono() - t0 < timeout:
            if self.ctl('pid').returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def prepare(self, apps, warm, extra=''):
        self.fresh()
        self.write_conf(apps, autostart=not warm, extra=extra)
        self.started = True
        if warm:
            self._launch()
            self.wait_ctl()
            return [self.supervisorctl, '-c', self.conf, 'start', 'all'], None
        return [self.supervisord, '-c', self.conf], None

    def statuses(self):
        d = {}
        for line in self.ctl('status').stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                d[parts[0]] = 'online' if parts[1] == 'RUNNING' else parts[1].lower()
        return d

    def list_argv(self):
        return [self.supervisorctl, '-c', self.conf, 'status']

    def stop_all(self):
        return self.ctl('stop', 'all', timeout=600)

    def shutdown(self):
        procs = self._procs()
        if not procs:
            return
        t0 = mono()
        while not os.path.exists(self.pidfile) and mono() - t0 < 10:
            time.sleep(0.01)
        r = self.ctl('shutdown')
        for pid in procs:
            if not wait_gone(pid, 180):
                log('WARNING: supervisord %d still alive after shutdown (%s); SIGTERM' %
                    (pid, (r.stdout + r.stderr).strip()))
                try:
                    os.kill(pid, signal.SIGTERM)   # a daemon this harness started
                except ProcessLookupError:
                    pass
                wait_gone(pid, 30)

    def log_file(self, name):
        return os.path.join(self.logdir, name + '-out.log')


# ------------------------------------------------------------------ nginx --

NGINX_CONF = """\
# w9: the balancer in front of per-instance ports; nginx's defaults otherwise.
worker_processes 1;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format w9 '$msec|$status|$upstream_addr|$upstream_status|$request_time';
    access_log {prefix}/access.log w9;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream app {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_next_upstream error timeout;   # nginx's default, written out
        }}
    }}
}}
"""


class Nginx:
    """nginx (Debian's package) as the balancer of w9: its own config, prefix, logs and pid file
    in a private directory, in the foreground (`daemon off`) as a child of the harness; stopped
    with `nginx -s stop` (same config and pid file), then, if still there, SIGTERM to the pid it
    started."""

    def __init__(self, root):
        self.bin = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)
        self.prefix = os.path.join(root, 'nginx')
        self.conf = os.path.join(self.prefix, 'nginx.conf')
        self.proc = None

    def available(self):
        if not self.bin:
            return False, 'nginx not installed (apt-get install nginx)'
        return True, None

    def version(self):
        r = _run([self.bin, '-v'])
        return (r.stderr or r.stdout).strip().replace('nginx version: ', '')

    def _argv(self, *extra):
        return [self.bin, '-e', os.path.join(self.prefix, 'error.log'), '-c', self.conf, '-p', self.prefix,
                '-g', 'daemon off; pid %s/nginx.pid;' % self.prefix, *extra]

    def start(self, port, upstream_ports, server_opts=''):
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)
        os.makedirs(self.prefix)
        servers = '\n'.join('        server 127.0.0.1:%d%s;' % (p, server_opts) for p in upstream_ports)
        with open(self.conf, 'w') as f:
            f.write(NGINX_CONF.format(prefix=self.prefix, servers=servers, port=port))
        _run(self._argv('-t'), check=True)
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        t0 = mono()
        while mono() - t0 < 10:
            if self.proc.poll() is not None:
                raise RuntimeError('nginx exited (%s): %s' % (self.proc.returncode, self.error_log()[-500:]))
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError('nginx did not listen on 127.0.0.1:%d in 10 s' % port)

    def error_log(self):
        try:
            return open(os.path.join(self.prefix, 'error.log')).read()
        except FileNotFoundError:
            return ''

    def access_log(self):
        try:
            return open(os.path.join(self.prefix, 'access.log')).read().splitlines()
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _run(self._argv('-s', 'stop'), timeout=30)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()      # the nginx master this harness started
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    log('WARNING: nginx %d still alive after SIGTERM' % self.proc.pid)
                    return
        self.proc = None
