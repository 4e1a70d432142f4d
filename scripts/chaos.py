#!/usr/bin/env python3
"""Chaos run for svctl: faults against a daemon supervising steady, crash-looping and
memory-growing apps, each on a fresh home.

    scripts/chaos.py [--faults sigkill,sigstop,diskfull,reader,dbdelete,fdlimit,connections]
                     [--bin PATH] [--kills 20] [--pause 30] [--keep]

Faults:
  sigkill      SIGKILL of the daemon --kills times during a crash storm (a new daemon after
               each), with `PRAGMA integrity_check` after each
  sigstop      SIGSTOP of the daemon for --pause seconds, then SIGCONT
  diskfull     the home on a 16 MiB tmpfs (root only), filled to the last byte during a storm
               for 20 s, then space again
  reader       another connection holds `BEGIN EXCLUSIVE` on the database for --pause seconds
  dbdelete     the database file deleted during a storm (the daemon writes it back from its
               open copy; every run, before and after, must be in the file at the path)
  fdlimit      the daemon under an open-file limit of 256 with 150 more instances than fit
  connections  2,000 idle connections held while 20 CLI calls run at once

After each fault every app is stopped (`svctl stop all`), the daemon's run counters are read
(`list --json`: the runs it spawned), then it is killed and the database is checked: every run
the daemon numbered has its row with an exit (run numbers without gaps), no app is missing, no
process of the apps is left, no zombie. Prints a table: fault, exits expected, recorded,
dropped-and-counted, daemon up; exits 1 when a check failed.

Python 3 standard library only. Not part of `cargo test`. Uses the debug binary unless --bin.
"""

import argparse
import json
import os
import resource
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def apps(marker, extra_fdhog=0):
    """Steady, crash-looping and memory-growing apps; `marker` in every command line finds
    their processes afterwards."""
    out = [
        {"name": "steady", "script": "bash", "args": ["-c", f"exec sleep infinity # {marker}"],
         "instances": 4},
        {"name": "crashloop", "script": "bash", "args": ["-c", f"sleep 0.2; exit 1 # {marker}"],
         "instances": 6, "max_restarts": 1000000, "min_uptime": 5000},
        {"name": "memgrow", "script": "bash",
         "args": ["-c", "chunk=$(head -c 1048576 /dev/zero | tr '\\0' x); s=''; "
                        f"while :; do s+=$chunk; s+=$chunk; sleep 0.2; done # {marker}"],
         "instances": 2, "max_memory_restart": "32M", "memory_check_interval": 500,
         "max_restarts": 1000000},
    ]
    if extra_fdhog:
        out.append({"name": "fdhog", "script": "bash",
                    "args": ["-c", f"exec sleep infinity # {marker}"],
                    "instances": extra_fdhog, "max_restarts": 1000000})
    return {"apps": out}


class Run:
    """One fault on a fresh home."""

    def __init__(self, args, fault):
        self.args = args
        self.fault = fault
        self.home = tempfile.mkdtemp(prefix=f"svchaos-{fault}-", dir="/tmp")
        self.marker = f"svchaos:{self.home}"
        self.daemon = None
        self.failures = []
        self.notes = []
        self.mounted = False
        self.rlimit = None

    # -- plumbing ---------------------------------------------------------------------------

    def svctl(self, *argv, timeout=60, check=True):
        env = dict(os.environ, NO_COLOR="1")
        env.pop("SVCTL_HOME", None)
        p = subprocess.run([self.args.bin, "--home", self.home, "--no-autostart", *argv],
                           capture_output=True, text=True, timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise RuntimeError(f"svctl {' '.join(argv)}: {p.returncode}: {p.stderr.strip()}")
        return p

    def start_daemon(self):
        out = open(os.path.join(self.home, "daemon.log"), "ab")
        env = dict(os.environ, SVCTL_HISTORY_MAX_ROWS="100000000")
        limit = self.rlimit

        def pre():
            os.setsid()
            if limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.daemon = subprocess.Popen([self.args.bin, "--home", self.home, "daemon"],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                       preexec_fn=pre, env=env)
        if not self.wait("the daemon answers ping", 30, self.answers):
            raise RuntimeError("the daemon did not answer ping within 30 s")

    def answers(self):
        try:
            return self.svctl("ping", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait(self, what, budget, cond):
        end = time.monotonic() + budget
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.2)
        self.failures.append(f"timed out after {budget} s waiting for {what}")
        return False

    def kill_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait(timeout=30)

    def ping_health(self):
        p = self.svctl("ping", check=False, timeout=30)
        out = {"up": p.returncode == 0, "text": p.stdout + p.stderr}
        for line in p.stdout.splitlines():
            if line.startswith("history:"):
                # history: N row(s) waiting, M dropped; daemon log: K line(s) dropped
                words = line.replace(",", "").replace(";", "").split()
                out["held"], out["dropped"], out["log_dropped"] = int(words[1]), int(words[4]), int(words[8])
        return out

    def list_json(self):
        p = self.svctl("list", "--json", check=False, timeout=60)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def db(self):
        return sqlite3.connect(f"file:{os.path.join(self.home, 'svctl.db')}?mode=ro", uri=True,
                               timeout=60)

    def start_apps(self, fdhog=0):
        path = os.path.join(self.home, "chaos.yaml")
        with open(path, "w") as f:
            json.dump(apps(self.marker, fdhog), f)
        self.svctl("start", path, timeout=180, check=False)
        self.wait("the steady apps online", 60, lambda: self.count_status("steady", "online") == 4)
        self.wait("a crash storm", 60, lambda: self.total_runs() >= 30)

    def count_status(self, app, status):
        procs = self.list_json() or []
        return sum(1 for p in procs if p["name"] == app and p["status"] == status)

    def total_runs(self):
        procs = self.list_json() or []
        return sum(p["run"] for p in procs)

    def strays(self):
        """Processes whose command line carries this run's marker, and zombies of ours."""
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            state = stat.rsplit(")", 1)[-1].split()[0]
            ppid = int(stat.rsplit(")", 1)[-1].split()[1])
            if self.marker in cmd and state != "Z":
                found.append(f"{pid} {cmd.strip()[:60]}")
            elif state == "Z" and ppid == os.getpid():
                found.append(f"zombie {pid}")
        return found

    # -- the end of every fault -------------------------------------------------------------

    def finish(self, dropped_extra=0):
        up = self.wait("the daemon answers after the fault", 60, self.answers)
        # The storm goes on a little: the daemon works normally again.
        if up:
            before = self.total_runs()
            self.wait("runs after the fault", 60, lambda: self.total_runs() > before + 10)
            names = {p["name"] for p in self.list_json() or []}
            for app in ("steady", "crashloop", "memgrow"):
                if app not in names:
                    self.failures.append(f"app {app} is missing")
            if self.count_status("steady", "online") != 4:
                self.failures.append("not every steady instance is online")
        self.svctl("stop", "all", timeout=180, check=False)
        procs = self.list_json() or []
        expected = {(p["name"], p["instance"]): p["run"] for p in procs}
        health = self.ping_health()
        dropped = health.get("dropped", 0) + dropped_extra
        self.svctl("kill", timeout=120, check=False)
        try:
            self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.failures.append("the daemon did not exit after kill")
            self.kill_daemon()
        con = self.db()
        rows = con.execute(
            "SELECT app, instance, run, ended_at_ms IS NOT NULL FROM runs").fetchall()
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        con.close()
        if integrity != "ok":
            self.failures.append(f"integrity_check: {integrity}")
        ended = {}
        open_runs = 0
        for app, inst, run, done in rows:
            if done:
                ended.setdefault((app, inst), set()).add(run)
            else:
                open_runs += 1
        total_expected = sum(expected.values())
        recorded = 0
        gaps = []
        for key, last in expected.items():
            have = ended.get(key, set())
            got = len([r for r in have if 1 <= r <= last])
            recorded += got
            if got != last:
                missing = sorted(set(range(1, last + 1)) - have)
                gaps.append(f"{key[0]}:{key[1]} missing {len(missing)} (first {missing[:5]})")
        if open_runs:
            self.failures.append(f"{open_runs} run(s) without an exit")
        if gaps and total_expected - recorded > dropped:
            self.failures.append("runs without rows beyond those counted: " + "; ".join(gaps[:4]))
        elif gaps:
            self.notes.append("gaps, all counted as dropped: " + "; ".join(gaps[:4]))
        left = self.wait("no process of the apps left", 30, lambda: not self.strays())
        if not left:
            self.failures.append("left: " + ", ".join(self.strays()[:5]))
        return {"fault": self.fault, "expected": total_expected, "recorded": recorded,
                "dropped": dropped, "up": up and health["up"],
                "ok": not self.failures, "failures": self.failures, "notes": self.notes}

    def cleanup(self):
        self.kill_daemon()
        if self.mounted:
            subprocess.run(["umount", "-l", self.home], check=False)
        if not self.args.keep:
            subprocess.run(["rm", "-rf", self.home], check=False)

    # -- the faults -------------------------------------------------------------------------

    def sigkill(self):
        self.start_daemon()
        self.start_apps()
        for i in range(self.args.kills):
            time.sleep(0.5)
            self.kill_daemon()
            con = self.db()
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            con.close()
            if ok != "ok":
                self.failures.append(f"integrity_check after kill {i + 1}: {ok}")
            self.start_daemon()
        return self.finish()

    def sigstop(self):
        self.start_daemon()
        self.start_apps()
        self.daemon.send_signal(signal.SIGSTOP)
        time.sleep(self.args.pause)
        self.daemon.send_signal(signal.SIGCONT)
        r = self.finish()
        con = self.db()
        approx = con.execute("SELECT count(*) FROM runs WHERE end_approx = 1").fetchone()[0]
        long_crash = con.execute(
            "SELECT count(*) FROM runs WHERE app = 'crashloop' AND uptime_ms > ? ",
            (self.args.pause * 1000 // 2,)).fetchone()[0]
        con.close()
        self.notes.append(f"{approx} run end(s) flagged approximate")
        if long_crash:
            r["failures"].append(f"{long_crash} crash-loop run(s) recorded with the pause as uptime")
            r["ok"] = False
        return r

    def diskfull(self):
        if os.geteuid() != 0:
            raise SkipFault("needs root to mount a tmpfs")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", self.home]).returncode:
            raise SkipFault("cannot mount a tmpfs")
        self.mounted = True
        os.chmod(self.home, 0o700)
        self.start_daemon()
        self.start_apps()
        filler = os.path.join(self.home, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        for size in (65536, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
        os.close(fd)
        log("disk full")
        end = time.monotonic() + 20
        up_while_full = True
        while time.monotonic() < end:
            up_while_full &= self.answers()
            time.sleep(1)
        h = self.ping_health()
        self.notes.append(f"while full: {h.get('held', '?')} row(s) held, daemon up {up_while_full}")
        os.unlink(filler)
        log("space again")
        self.wait("the held rows written", 120, lambda: self.ping_health().get("held", 1) == 0)
        r = self.finish()
        r["up"] = r["up"] and up_while_full
        return r

    def reader(self):
        self.start_daemon()
        self.start_apps()
        con = sqlite3.connect(os.path.join(self.home, "svctl.db"), timeout=60,
                              isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        log("exclusive lock held")
        end = time.monotonic() + self.args.pause
        up = True
        while time.monotonic() < end:
            up &= self.answers()
            time.sleep(1)
        h = self.ping_health()
        self.notes.append(f"while locked: {h.get('held', '?')} row(s) held")
        con.execute("COMMIT")
        con.close()
        self.wait("the held rows written", 120, lambda: self.ping_health().get("held", 1) == 0)
        r = self.finish()
        r["up"] = r["up"] and up
        return r

    def dbdelete(self):
        self.start_daemon()
        self.start_apps()
        db = os.path.join(self.home, "svctl.db")
        os.unlink(db)
        log("database file deleted")
        # The next batch of writes puts it back from the daemon's open copy.
        if self.wait("the database file written again", 60, lambda: os.path.exists(db)):
            said = self.ping_health()["text"]
            if "written again" not in said:
                self.failures.append("ping does not say the file was written again")
        return self.finish()

    def fdlimit(self):
        self.rlimit = 256
        self.start_daemon()
        self.start_apps(fdhog=150)
        up = self.answers()
        con = self.db()
        emfile = con.execute(
            "SELECT count(*) FROM runs WHERE cause = 'spawn_failed' AND error LIKE '%EMFILE%'"
        ).fetchone()[0]
        con.close()
        errored = self.count_status("fdhog", "errored")
        self.notes.append(f"{emfile} spawn_failed EMFILE row(s); fdhog errored: {errored}")
        if not emfile:
            self.failures.append("no spawn failed with EMFILE: the limit was not reached")
        if errored:
            self.failures.append(f"{errored} instance(s) errored on EMFILE instead of retrying")
        # Free descriptors: the other apps keep running normally once the hog is stopped.
        self.svctl("stop", "fdhog", timeout=180, check=False)
        r = self.finish()
        r["up"] = r["up"] and up
        return r

    def connections(self):
        self.start_daemon()
        self.start_apps()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        hello = json.dumps({"type": "hello", "protocol": 1, "client_version": "chaos"}).encode()
        held = []
        for _ in range(2000):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(os.path.join(self.home, "svctl.sock"))
                s.sendall(struct.pack(">I", len(hello)) + hello)
                held.append(s)
            except OSError:
                break
        log(f"{len(held)} connections held")
        time.sleep(1.5)  # they are idle now: the daemon may close the oldest for the CLI
        results = []

        def call():
            try:
                results.append(self.svctl("list", "--json", check=False, timeout=60).returncode)
            except subprocess.TimeoutExpired:
                results.append(-1)

        threads = [threading.Thread(target=call) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = sum(1 for r in results if r != 0)
        self.notes.append(f"{len(held)} idle connections; {failed}/20 CLI calls failed")
        if failed:
            self.failures.append(f"{failed} of 20 CLI calls failed with 2,000 idle connections")
        for s in held:
            s.close()
        return self.finish()


class SkipFault(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faults",
                    default="sigkill,sigstop,diskfull,reader,dbdelete,fdlimit,connections")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "svctl"))
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--pause", type=int, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the homes")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        print(f"chaos: {args.bin} is not built (cargo build)", file=sys.stderr)
        return 2
    results = []
    for fault in args.faults.split(","):
        run = Run(args, fault)
        log(f"fault {fault} in {run.home}")
        try:
            results.append(getattr(run, fault)())
        except SkipFault as e:
            results.append({"fault": fault, "skipped": str(e)})
        except Exception as e:  # a broken run is a failed fault, not a crash of the script
            results.append({"fault": fault, "expected": "-", "recorded": "-", "dropped": "-",
                            "up": False, "ok": False, "failures": [f"{type(e).__name__}: {e}"],
                            "notes": run.notes})
        finally:
            run.cleanup()
        log(f"fault {fault}: {results[-1]}")
    print("| fault | exits expected | recorded | dropped-and-counted | daemon up | result |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "skipped" in r:
            print(f"| {r['fault']} | - | - | - | - | skipped: {r['skipped']} |")
            continue
        verdict = "ok" if r["ok"] else "FAILED: " + "; ".join(r["failures"])
        print(f"| {r['fault']} | {r['expected']} | {r['recorded']} | {r['dropped']} | "
              f"{'yes' if r['up'] else 'NO'} | {verdict} |")
    for r in results:
        for n in r.get("notes", []):
            print(f"- {r['fault']}: {n}")
    return 0 if all(r.get("ok", True) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
