#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""smtpd_accept.py - messages/s accepted into the queue over SMTP.

    smtpd_accept.py BUILD_DIR [SECONDS] [SESSIONS ...]

Makes a Posthorn instance under $BENCH_DIR (default /tmp) with only smtpd
and qmgr, then for each SESSIONS count (default 10 50) runs that many
client processes for SECONDS (default 3), each keeping one SMTP session
open and sending 1 KB messages back to back (MAIL, RCPT and DATA
pipelined, RFC 2920). A message counts once smtpd answered "250 2.0.0 Ok:
queued as", which it does only after qmgr made the file and its index
entry durable (fsync on: qmgr's group commit). Printed beside the disk's
floor: fsync'd 1 KB file creates/s of one writer in the same directory.
A benchmark reports; it never fails a build.
"""
import multiprocessing
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MESSAGE = (b"From: bench@client.example\r\nTo: demo@example.test\r\n"
           b"Subject: bench\r\n\r\n" + (b"x" * 70 + b"\r\n") * 13)
MESSAGE = MESSAGE[:1024 - 2] + b"\r\n"


def floor(directory, secs):
    """fsync'd 1 KB creates/s of a single writer."""
    d = pathlib.Path(directory) / "floor"
    d.mkdir()
    data = b"x" * 1024
    n = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        fd = os.open(d / f"f{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        n += 1
    dfd = os.open(d, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    shutil.rmtree(d)
    return n / secs


def reply(sock, buf):
    """Reads one reply; returns (code, rest of buffer)."""
    while True:
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), buf


def client(port, secs, start, out, rcpt="demo@example.test"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    buf = b""
    code, buf = reply(sock, buf)
    sock.sendall(b"EHLO bench.example\r\n")
    code, buf = reply(sock, buf)
    start.wait()
    end = time.monotonic() + secs
    n = 0
    envelope = (b"MAIL FROM:<bench@client.example>\r\n"
                b"RCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n")
    while time.monotonic() < end:
        sock.sendall(envelope)
        codes = []
        for _ in range(3):
            code, buf = reply(sock, buf)
            codes.append(code)
        if codes != [250, 250, 354]:
            raise RuntimeError(f"envelope: {codes}")
        sock.sendall(MESSAGE + b".\r\n")
        code, buf = reply(sock, buf)
        if code != 250:
            raise RuntimeError(f"DATA: {code}")
        n += 1
    sock.sendall(b"QUIT\r\n")
    sock.close()
    out.put(n)


def wait_port(port, timeout=20):
    """Waits until something listens on a loopback port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_instance(build, base):
    posthorn = str(pathlib.Path(build) / "sbin" / "posthorn")
    inst = pathlib.Path(base) / "inst"
    subprocess.run([posthorn, "-c", str(inst), "init"], check=True,
                   capture_output=True)
    subprocess.run([posthorn, "-c", str(inst), "config",
                    "inet_interfaces=127.0.0.1", "default_process_limit=200",
                    "smtpd_client_connection_count_limit=0"],
                   check=True, capture_output=True)
    port = free_port()
    lines = []
    for line in (inst / "master.cf").read_text().splitlines():
        f = line.split()
        if f and f[0] == "2525":
            lines.append(line.replace("2525", str(port), 1))
        elif f and f[0] == "qmgr":
            lines.append(line)
    (inst / "master.cf").write_text("\n".join(lines) + "\n")
    subprocess.run([posthorn, "-c", str(inst), "start"], check=True,
                   capture_output=True)
    wait_port(port)
    return posthorn, inst, port


def run(port, sessions, secs):
    start = multiprocessing.Event()
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client,
                                     args=(port, secs, start, out))
             for _ in range(sessions)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # every session connected and greeted
    t = time.monotonic()
    start.set()
    total = sum(out.get(timeout=secs + 120) for _ in procs)
    elapsed = time.monotonic() - t
    for p in procs:
        p.join(timeout=30)
    return total / elapsed


def bench_args(name, default_secs):
    """BUILD_DIR [SECONDS] [SESSIONS ...] from the command line, and a
    fresh directory under $BENCH_DIR; None when there are no arguments."""
    if len(sys.argv) < 2:
        return None
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else default_secs
    counts = [int(a) for a in sys.argv[3:]] or [10, 50]
    base = tempfile.mkdtemp(prefix=f"posthorn-{name}-bench.",
                            dir=os.environ.get("BENCH_DIR", "/tmp"))
    os.chmod(base, 0o755)
    return sys.argv[1], secs, counts, base


def print_floor(base, secs):
    fl = floor(base, secs)
    print(f"disk floor: {fl:8.0f} fsync'd 1 KB creates/s (one writer)")
    return fl


def main():
    args = bench_args("smtpd", 3.0)
    if not args:
        print(__doc__)
        return 0
    build, secs, counts, base = args
    posthorn = inst = None
    try:
        fl = print_floor(base, secs)
        posthorn, inst, port = make_instance(build, base)
        for n in counts:
            rate = run(port, n, secs)
            print(f"smtpd accept: {rate:8.0f} messages/s, {n} sessions, "
                  f"1 KB, fsync on ({rate / fl:.2f}x the floor)")
        queued = len(os.listdir(inst / "spool" / "queue"))
        print(f"({queued} messages in the queue afterwards)")
    except Exception as e:  # a benchmark reports, never fails
        print(f"bench: smtpd_accept failed: {e}")
    finally:
        if posthorn:
            subprocess.run([posthorn, "-c", str(inst), "stop"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
