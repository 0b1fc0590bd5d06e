#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""relay_compare.py - relay throughput, Posthorn beside Postfix in one run.

    relay_compare.py BUILD_DIR [SECONDS] [SESSIONS ...]

The job (issue 6): clients on loopback send 1 KB messages over SMTP for a
remote domain; the server queues each durably and relays it with its SMTP
client to a sink. Both servers relay to the same sink, Postfix's own
smtp-sink (C, fast, never the bottleneck), on 127.0.0.2, through
relayhost = [127.0.0.2]:PORT, so no DNS is involved. Posthorn runs smtpd +
qmgr + smtp from `posthorn init`; Postfix is Debian's package run as its
own instance in a temporary directory (never the system's). For each
SESSIONS count (default 10 50), that many clients send back to back for
SECONDS (default 5); the rate is messages acknowledged divided by the time
until the last of them was relayed ("status=sent" in the server's log).
Printed with the ratio and beside the disk's floor. Never fails a build.
"""
import multiprocessing
import os
import pathlib
import pwd
import re
import shutil
import subprocess
import sys
import time

from smtpd_accept import (bench_args, client, free_port, print_floor,
                          wait_port)

POSTFIX = "/usr/sbin/postfix"
SINK = "/usr/sbin/smtp-sink"
SINK_HOST = "127.0.0.2"
RCPT = "someone@remote.example"


def sent_count(log):
    try:
        return len(re.findall(r"status=sent", log.read_text(errors="replace")))
    except FileNotFoundError:
        return 0


class Posthorn:
    name = "posthorn"

    def __init__(self, build, base, sink_port):
        self.cmd = str(pathlib.Path(build) / "sbin" / "posthorn")
        self.inst = pathlib.Path(base) / "posthorn"
        self.port = free_port()
        self.run("init")
        self.run("config", "inet_interfaces=127.0.0.1",
                 "default_process_limit=200",
                 "smtpd_client_connection_count_limit=0",
                 f"relayhost=[{SINK_HOST}]:{sink_port}",
                 "smtp_tls_security_level=none")
        keep = []
        for line in (self.inst / "master.cf").read_text().splitlines():
            f = line.split()
            if f and f[0] == "2525":
                keep.append(line.replace("2525", str(self.port), 1))
            elif f and f[0] in ("qmgr", "smtp") and f[1] == "unix":
                keep.append(line)
        (self.inst / "master.cf").write_text("\n".join(keep) + "\n")
        self.log = self.inst / "log" / "maillog"

    def run(self, *args):
        subprocess.run([self.cmd, "-c", str(self.inst), *args], check=True,
                       capture_output=True, text=True)

    def start(self):
        self.run("start")
        wait_port(self.port)

    def stop(self):
        subprocess.run([self.cmd, "-c", str(self.inst), "stop"],
                       capture_output=True)


class Postfix:
    name = "postfix"

    def __init__(self, base, sink_port):
        root = pathlib.Path(base) / "postfix"
        self.conf = root / "conf"
        self.conf.mkdir(parents=True)
        (root / "spool").mkdir()
        (root / "data").mkdir()
        pf = pwd.getpwnam("postfix")
        os.chown(root / "data", pf.pw_uid, pf.pw_gid)
        self.log = root / "maillog"
        self.port = free_port()
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mail.example.test
mydomain = example.test
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
default_process_limit = 200
relayhost = [{SINK_HOST}]:{sink_port}
alias_maps =
alias_database =
smtputf8_enable = no
""")
        out = []
        for line in pathlib.Path("/etc/postfix/master.cf").read_text() \
                .splitlines():
            f = line.split()
            if not f or line[0] in "# \t":
                out.append(line)
                continue
            if f[1] == "inet":
                if f[0] != "smtp":
                    continue
                f[0] = f"127.0.0.1:{self.port}"
            if len(f) > 4 and f[4] == "y":
                f[4] = "n"  # no chroot: it would need /etc in the queue
            out.append(" ".join(f))
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")

    def start(self):
        p = subprocess.run([POSTFIX, "-c", str(self.conf), "start"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("postfix start failed: " + p.stderr.strip())
        wait_port(self.port)

    def stop(self):
        subprocess.run([POSTFIX, "-c", str(self.conf), "stop"],
                       capture_output=True)


def measure(server, sessions, secs):
    before = sent_count(server.log)
    start = multiprocessing.Event()
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client,
                                     args=(server.port, secs, start, out,
                                           RCPT))
             for _ in range(sessions)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    start.set()
    acked = sum(out.get(timeout=secs + 120) for _ in procs)
    accept_s = time.monotonic() - t0
    for p in procs:
        p.join(timeout=30)
    deadline = time.monotonic() + 300
    while sent_count(server.log) - before < acked:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: only "
                               f"{sent_count(server.log) - before} of "
                               f"{acked} relayed after 300 s")
        time.sleep(0.05)
    total_s = time.monotonic() - t0
    return acked / total_s, acked, accept_s, total_s


def main():
    args = bench_args("relay_compare", 5.0)
    if not args:
        print(__doc__)
        return 0
    build, secs, counts, base = args
    if not (os.geteuid() == 0 and os.path.exists(POSTFIX) and
            os.path.exists(SINK)):
        print("relay_compare: needs root and Debian's postfix (smtp-sink): "
              "tools/deps.sh bench")
        return 0
    servers, sink = [], None
    try:
        fl = print_floor(base, min(secs, 3))
        sink_port = free_port()
        # -c: count; -u postfix: drop root after binding; backlog 256.
        sink = subprocess.Popen([SINK, "-u", "postfix",
                                 f"{SINK_HOST}:{sink_port}", "256"],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        servers = [Posthorn(build, base, sink_port),
                   Postfix(base, sink_port)]
        for s in servers:
            s.start()
        for n in counts:
            rates = {}
            for s in servers:
                rate, acked, acc, tot = measure(s, n, secs)
                rates[s.name] = rate
                print(f"{s.name:8s} SMTP -> relay -> sink: {rate:7.0f} "
                      f"messages/s, {n} sessions, 1 KB ({acked} messages: "
                      f"accepted in {acc:.1f}s, relayed in {tot:.1f}s; "
                      f"{rate / fl:.2f}x the floor)")
            print(f"ratio posthorn/postfix at {n} sessions: "
                  f"{rates['posthorn'] / rates['postfix']:.2f}")
    except Exception as e:  # a benchmark reports, never fails
        print(f"bench: relay_compare failed: {e}")
    finally:
        for s in servers:
            s.stop()
        if sink:
            sink.terminate()
            sink.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
