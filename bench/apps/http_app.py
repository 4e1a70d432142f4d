#!/usr/bin/env python3
"""Tiny HTTP app for the reload workload (w9). Standard library only.

    http_app.py            version from $APP_VERSION (default "v0")

Answers every request with 200 and the body "VERSION PID\n", one request per connection
(HTTP/1.0 style, `Connection: close`).

Socket: with socket activation (LISTEN_FDS set and LISTEN_PID = this pid, as svctl's
`listen:` passes it) it accepts on fd 3; otherwise it binds 127.0.0.1:$PORT itself.

Readiness: once the socket accepts, it prints one line "ready VERSION PID PORT" on stdout
(flushed). svctl waits for it with `ready_log_line: "^ready "`; PM2 and supervisord have no
way to wait for it (a Python app cannot send PM2's `process.send('ready')`).

Graceful stop: on SIGTERM or SIGINT (svctl's and PM2's default stop signal is SIGINT,
supervisord's SIGTERM) it stops accepting, finishes the request in hand, and exits 0. The
accept loop waits in select() with a 50 ms tick, so a stop never cuts an accepted connection.
"""
import os
import select
import signal
import socket
import sys

VERSION = os.environ.get('APP_VERSION', 'v0')
stopping = False


def on_stop(signum, frame):
    global stopping
    stopping = True


def listener():
    fds = os.environ.get('LISTEN_FDS')
    pid = os.environ.get('LISTEN_PID')
    if fds and int(fds) >= 1 and (not pid or int(pid) == os.getpid()):
        s = socket.socket(fileno=3)
        return s, 'fd3:%d' % s.getsockname()[1]
    port = int(os.environ['PORT'])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', port))
    s.listen(128)
    return s, str(port)


def handle(conn):
    conn.settimeout(5)
    data = b''
    while b'\r\n\r\n' not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    body = ('%s %d\n' % (VERSION, os.getpid())).encode()
    conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n'
                 b'Connection: close\r\n\r\n%s' % (len(body), body))


def main():
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    ls, where = listener()
    ls.setblocking(False)
    print('ready %s %d %s' % (VERSION, os.getpid(), where), flush=True)
    while not stopping:
        try:
            r, _, _ = select.select([ls], [], [], 0.05)
        except InterruptedError:
            continue
        if not r or stopping:
            continue
        try:
            conn, _ = ls.accept()
        except (BlockingIOError, InterruptedError):
            continue       # another instance on the shared socket took it
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()
    print('stopped %s %d' % (VERSION, os.getpid()), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
