#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""deliver.py - end-to-end messages/s from SMTP to maildir, Posthorn beside
Postfix on the same machine in the same run.

    deliver.py BUILD_DIR [SECONDS] [SESSIONS ...]

Both servers get the same job: accept 1 KB messages over SMTP on
loopback and deliver each to one of USERS virtual mailboxes (maildir)
under one virtual uid, with every durability step each one takes by
default (fsync on). Posthorn runs smtpd + qmgr + local from `posthorn
init`; Postfix is Debian's package, run as its own instance
(config_directory, queue_directory and mailboxes in a temporary
directory, its smtpd on a free loopback port; the system's Postfix is
never touched) with the virtual(8) agent and Postfix's defaults
otherwise. For each SESSIONS count (default 10 50), that many clients
send back to back (MAIL, RCPT and DATA pipelined) for SECONDS (default
5); the rate is the messages acknowledged divided by the time until the
last of them is in its maildir. Printed with the ratio and beside the
disk's floor. A benchmark reports; it never fails a build.
"""
import multiprocessing
import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import time

from smtpd_accept import (bench_args, client, free_port, print_floor,
                          wait_port)

USERS = 20
POSTFIX = "/usr/sbin/postfix"


def count_mail(boxes):
    n = 0
    for b in boxes:
        for sub in ("new", "cur"):
            try:
                n += len(os.listdir(b / sub))
            except FileNotFoundError:
                pass
    return n


class Posthorn:
    name = "posthorn"

    def __init__(self, build, base):
        self.cmd = str(pathlib.Path(build) / "sbin" / "posthorn")
        self.inst = pathlib.Path(base) / "posthorn"
        self.port = free_port()
        self.run("init")
        self.run("config", "inet_interfaces=127.0.0.1",
                 "default_process_limit=200",
                 "smtpd_client_connection_count_limit=0")
        for i in range(USERS):
            self.run("user", "add", f"u{i}@example.test", input="pw\n")
        keep = []
        for line in (self.inst / "master.cf").read_text().splitlines():
            f = line.split()
            if f and f[0] == "2525":
                keep.append(line.replace("2525", str(self.port), 1))
            elif f and f[0] in ("qmgr", "local"):
                keep.append(line)
        (self.inst / "master.cf").write_text("\n".join(keep) + "\n")
        self.boxes = [self.inst / "mail" / "example.test" / f"u{i}"
                      for i in range(USERS)]

    def run(self, *args, input=None):
        subprocess.run([self.cmd, "-c", str(self.inst), *args], check=True,
                       capture_output=True, text=True, input=input)

    def start(self):
        self.run("start")
        wait_port(self.port)

    def stop(self):
        subprocess.run([self.cmd, "-c", str(self.inst), "stop"],
                       capture_output=True)


class Postfix:
    name = "postfix"

    def __init__(self, base):
        root = pathlib.Path(base) / "postfix"
        self.conf = root / "conf"
        self.conf.mkdir(parents=True)
        mail = root / "mail"
        mail.mkdir()
        (root / "spool").mkdir()  # postfix start makes what is below
        (root / "data").mkdir()
        pf = pwd.getpwnam("postfix")
        os.chown(root / "data", pf.pw_uid, pf.pw_gid)
        self.log = root / "maillog"
        vmail = pwd.getpwnam("vmail")
        os.chown(mail, vmail.pw_uid, vmail.pw_gid)
        self.port = free_port()
        (self.conf / "vmailbox").write_text("".join(
            f"u{i}@example.test example.test/u{i}/\n" for i in range(USERS)))
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mail.example.test
mydomain = example.test
myorigin = $mydomain
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
default_process_limit = 200
virtual_mailbox_domains = example.test
virtual_mailbox_base = {mail}
virtual_mailbox_maps = texthash:{self.conf}/vmailbox
virtual_uid_maps = static:{vmail.pw_uid}
virtual_gid_maps = static:{vmail.pw_gid}
alias_maps =
alias_database =
smtputf8_enable = no
""")
        # Debian's master.cf, unchrooted (the chroot would need a copy
        # of /etc in the queue), smtpd on our port only.
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
                f[4] = "n"
            out.append(" ".join(f))
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")
        self.boxes = [mail / "example.test" / f"u{i}" for i in range(USERS)]

    def start(self):
        p = subprocess.run([POSTFIX, "-c", str(self.conf), "start"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            # postfix(1) writes to stderr only on a terminal.
            tail = self.log.read_text().splitlines()[-3:] \
                if self.log.exists() else []
            raise RuntimeError("postfix start: " + (p.stderr.strip() or
                                                    " / ".join(tail)))
        wait_port(self.port)

    def stop(self):
        subprocess.run([POSTFIX, "-c", str(self.conf), "stop"],
                       capture_output=True)


def measure(server, sessions, secs):
    """Messages/s from the first SMTP command to the last maildir file."""
    before = count_mail(server.boxes)
    start = multiprocessing.Event()
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(
        target=client, args=(server.port, secs, start, out,
                             f"u{i % USERS}@example.test"))
        for i in range(sessions)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # connected and greeted
    t0 = time.monotonic()
    start.set()
    acked = sum(out.get(timeout=secs + 120) for _ in procs)
    accept_s = time.monotonic() - t0
    for p in procs:
        p.join(timeout=30)
    deadline = time.monotonic() + 300
    while count_mail(server.boxes) - before < acked:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: only "
                               f"{count_mail(server.boxes) - before} of "
                               f"{acked} delivered after 300 s")
        time.sleep(0.01)
    total_s = time.monotonic() - t0
    return acked / total_s, acked, accept_s, total_s


def main():
    args = bench_args("deliver", 5.0)
    if not args:
        print(__doc__)
        return 0
    build, secs, counts, base = args
    servers = []
    try:
        fl = print_floor(base, min(secs, 3))
        servers.append(Posthorn(build, base))
        if os.geteuid() == 0 and os.path.exists(POSTFIX):
            servers.append(Postfix(base))
        else:
            print("postfix: not compared (needs root and Debian's postfix: "
                  "tools/deps.sh bench)")
        for s in servers:
            s.start()
        for n in counts:
            rates = {}
            for s in servers:
                rate, acked, acc, tot = measure(s, n, secs)
                rates[s.name] = rate
                print(f"{s.name:8s} SMTP -> maildir: {rate:7.0f} "
                      f"messages/s, {n} sessions, 1 KB ({acked} messages: "
                      f"accepted in {acc:.1f}s, delivered in {tot:.1f}s; "
                      f"{rate / fl:.2f}x the floor)")
            if len(rates) == 2:
                print(f"ratio posthorn/postfix at {n} sessions: "
                      f"{rates['posthorn'] / rates['postfix']:.2f}")
    except Exception as e:  # a benchmark reports, never fails
        print(f"bench: deliver failed: {e}")
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
