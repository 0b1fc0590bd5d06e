#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""pop3_retrieve.py - download a 10,000-message mailbox by POP3 from
Posthorn's pop3d and from Dovecot's, same maildir, same client, same run.

  bench/pop3_retrieve.py BUILD_DIR WORK_DIR [MESSAGES]

Makes a Posthorn instance in WORK_DIR with only the pop3 service, fills
the demo account's maildir (files straight into cur/, as a delivery agent
would have left them after a first session; sizes 1 KB to 200 KB, mean
about 8 KB), and starts a private Dovecot (Debian's dovecot-pop3d, own
config and base_dir in WORK_DIR, passwd-file auth, no TLS, a high port)
whose mail_location is that same maildir.

For each server, one client (this script) does:
  first login    USER/PASS/STAT/QUIT on a mailbox the server has never
                 seen: the server builds its index (Posthorn: LMDB;
                 Dovecot: dovecot.index + dovecot-uidlist)
  retrieve       USER/PASS, LIST, UIDL, then RETR 1..N pipelined 64 deep,
                 timed until the last byte of the last message
  quit           QUIT, which both servers use to set \\Seen on what was
                 retrieved (10,000 renames in cur/); timed apart
and reads the memory of the server process that served the session
(found through its end of the TCP connection): RSS at the end of the
download, its private part (what the session costs beyond shared
libraries), and the peak (VmHWM; Posthorn's includes the 16 MiB scrypt
work space of the password check, which Dovecot does in its separate
auth process and here, with a PLAIN passwd-file, not at all). Retrieve and quit run BENCH_ROUNDS times (default 3;
the median is shown); before each, the \\Seen flags are taken off again,
so every session of both servers starts from the same files.
The downloaded messages of both servers are compared (after undoing the
byte-stuffing): they must be byte-identical.

Plaintext POP3 on loopback: TLS would time OpenSSL on both sides, not the
servers. Prints figures; exits 0 even when something fails (bench rule).
"""
import hashlib
import os
import pathlib
import random
import re
import shutil
import socket
import subprocess
import sys
import time

PIPELINE = 64


# ---- the mailbox --------------------------------------------------------------

def make_messages(n, seed=1939):
    rnd = random.Random(seed)
    line = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, "
            b"sed do eiusmod\n")
    for i in range(n):
        r = rnd.random()
        size = (rnd.randint(1000, 4000) if r < 0.70 else
                rnd.randint(4000, 40000) if r < 0.97 else
                rnd.randint(40000, 200000))
        head = (f"Return-Path: <sender{i % 97}@example.org>\n"
                f"Received: from client.example.org (client.example.org "
                f"[192.0.2.{i % 250 + 1}])\n\tby mail.example.test "
                f"(Posthorn) with ESMTPS id B{i:08d}\n\tfor "
                f"<demo@example.test>; Mon, 1 Jan 2024 00:00:00 +0000\n"
                f"From: Sender {i % 97} <sender{i % 97}@example.org>\n"
                f"To: demo@example.test\nSubject: benchmark message {i}\n"
                f"Message-ID: <bench.{i}@example.org>\n"
                f"Date: Mon, 1 Jan 2024 00:00:00 +0000\n\n").encode()
        body = bytearray()
        while len(head) + len(body) < size:
            body += line
            if rnd.random() < 0.02:
                body += b".a line that needs byte-stuffing\n"
        yield head + bytes(body)


def fill_maildir(md, n, uid, gid):
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
        os.chown(md / sub, uid, gid)
    os.chown(md, uid, gid)
    total = 0
    t = 1700000000
    for i, m in enumerate(make_messages(n)):
        p = md / "cur" / f"{t + i}.M{i:06d}P1.bench.example:2,"
        p.write_bytes(m)
        os.chown(p, uid, gid)
        total += len(m)
    return total


def unseen_again(md):
    """Takes \\Seen (S) off every file, so the next server starts from
    the same state as the first."""
    for p in (md / "cur").iterdir():
        name = p.name
        if ":2," in name:
            base, flags = name.split(":2,", 1)
            if "S" in flags:
                p.rename(md / "cur" / (base + ":2," + flags.replace("S", "")))


# ---- a small pipelining POP3 client ----------------------------------------------

class Pop:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.greeting = self.line()

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("server closed the connection")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self.fill()

    def multi(self):
        """A multi-line response after its +OK line: the raw bytes up to
        and without the terminator (still byte-stuffed)."""
        start = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return b""
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 5]
                return out
            start = max(0, len(self.buf) - 4)
            self.fill()

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n")
        r = self.line()
        if not r.startswith(b"+OK"):
            raise RuntimeError(f"{c.split()[0]}: {r!r}")
        return r

    def login(self, user, password):
        self.cmd(f"USER {user}")
        self.cmd(f"PASS {password}")

    def retr_all(self, n, keep):
        sent = got = 0
        while got < n:
            batch = []
            while sent < n and sent - got < PIPELINE:
                sent += 1
                batch.append(f"RETR {sent}\r\n")
            if batch:
                self.s.sendall("".join(batch).encode())
            r = self.line()
            if not r.startswith(b"+OK"):
                raise RuntimeError(f"RETR {got + 1}: {r!r}")
            body = self.multi()
            got += 1
            if keep is not None:
                keep.append(body)

    def close(self):
        self.s.close()


def unstuff(raw):
    if raw.startswith(b".."):
        raw = raw[1:]
    return raw.replace(b"\r\n..", b"\r\n.")


# ---- process figures ----------------------------------------------------------------

def server_pid(server_port, client):
    cport = client.s.getsockname()[1]
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established",
         f"( sport = :{server_port} and dport = :{cport} )"],
        capture_output=True, text=True).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


def rss_kb(pid):
    """(peak RSS, RSS now, private now) in KiB. Private memory (USS) is
    what this session costs beyond the libraries every process shares."""
    peak = now = private = 0
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text() \
                .splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                now = int(line.split()[1])
        for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text() \
                .splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1])
    except OSError:
        pass
    return peak, now, private


def proc_name(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


# ---- one server's run ------------------------------------------------------------------

def session(port, user, password, n, keep):
    """One timed download session; returns (retrieve s, quit s, RSS)."""
    c = Pop(port)
    t0 = time.monotonic()
    c.login(user, password)
    pid = server_pid(port, c)
    c.s.sendall(b"LIST\r\n")
    c.line()
    c.multi()
    c.s.sendall(b"UIDL\r\n")
    c.line()
    c.multi()
    c.retr_all(n, keep)
    retrieve = time.monotonic() - t0
    rss = rss_kb(pid) if pid else (0, 0, 0)
    name = proc_name(pid) if pid else "?"
    t1 = time.monotonic()
    c.cmd("QUIT")
    c.close()
    return retrieve, time.monotonic() - t1, rss, name


def run_server(name, port, user, password, n, md, keep, rounds):
    res = {"name": name}
    t0 = time.monotonic()
    c = Pop(port)
    c.login(user, password)
    st = c.cmd("STAT")
    c.cmd("QUIT")
    c.close()
    res["first"] = time.monotonic() - t0
    count = int(st.split()[1])
    if count != n:
        raise RuntimeError(f"{name}: STAT says {count} messages, not {n}")
    times, quits = [], []
    res["rss_peak"] = res["rss_now"] = res["private"] = 0
    for i in range(rounds):
        time.sleep(0.2)  # the previous session's process finishes
        unseen_again(md)
        r, q, (peak, now, private), res["proc"] = session(
            port, user, password, n, keep if i == 0 else None)
        times.append(r)
        quits.append(q)
        res["rss_peak"] = max(res["rss_peak"], peak)
        res["rss_now"] = max(res["rss_now"], now)
        res["private"] = max(res["private"], private)
    res["retrieve"] = sorted(times)[len(times) // 2]
    res["quit"] = sorted(quits)[len(quits) // 2]
    return res


# ---- the two servers ------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def posthorn_up(build, work):
    posthorn = build / "sbin" / "posthorn"
    inst = work / "posthorn"
    out = subprocess.run([str(posthorn), "-c", str(inst), "init"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"demo account (\S+), password (\S+)", out)
    user, password = m.group(1), m.group(2)
    port = free_port()
    (inst / "master.cf").write_text(
        f"{port} inet n - n - - pop3d\n")
    subprocess.run([str(posthorn), "-c", str(inst), "config",
                    "inet_interfaces=127.0.0.1", "pop3d_tls_auth_only=no",
                    "pop3d_auth_failure_delay=0"],
                   check=True, capture_output=True)
    subprocess.run([str(posthorn), "-c", str(inst), "start"], check=True,
                   capture_output=True)
    local, domain = user.split("@")
    return inst, port, user, password, inst / "mail" / domain / local


def posthorn_down(build, inst):
    subprocess.run([str(build / "sbin" / "posthorn"), "-c", str(inst),
                    "stop"], capture_output=True)


def dovecot_up(work, maildir, user, password, uid, gid):
    d = work / "dovecot"
    for sub in ("run", "state", "home"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.chown(d / "home", uid, gid)
    port = free_port()
    (d / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
    conf = d / "dovecot.conf"
    conf.write_text(f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home
}}
mail_location = maildir:{maildir}
pop3_uidl_format = %08Xu%08Xv
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
""")
    # Its children inherit stdout/stderr: no pipes, or run() waits for
    # them forever.
    subprocess.run(["/usr/sbin/dovecot", "-c", str(conf)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return conf, port


def dovecot_down(conf):
    pidfile = pathlib.Path(conf).parent / "run" / "master.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 15)
        for _ in range(100):
            if not pathlib.Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
    except (OSError, ValueError):
        pass


def dovecot_version():
    try:
        return subprocess.run(["/usr/sbin/dovecot", "--version"],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def show(r, n, total):
    mb = total / 1e6
    print(f"{r['name']:<17} first login {r['first']:5.2f} s  "
          f"retrieve {r['retrieve']:5.2f} s ({n / r['retrieve']:6.0f} msg/s, "
          f"{mb / r['retrieve']:5.1f} MB/s)  quit {r['quit']:4.2f} s  "
          f"RSS {r['rss_now'] / 1024:4.1f} MiB (private "
          f"{r['private'] / 1024:4.1f}, peak {r['rss_peak'] / 1024:4.1f}) "
          f"[{r['proc']}]")


def read_floor(md):
    """Reading every message file once (page cache warm): the least any
    server must do, and what this client's parsing costs on top shows
    in both servers' figures alike."""
    t0 = time.monotonic()
    total = 0
    for p in (md / "cur").iterdir():
        fd = os.open(p, os.O_RDONLY)
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            total += len(b)
        os.close(fd)
    return time.monotonic() - t0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 0
    build = pathlib.Path(sys.argv[1])
    work = pathlib.Path(sys.argv[2]) / "pop3"
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    work.mkdir(parents=True)
    os.chmod(work, 0o755)
    inst = conf = None
    try:
        inst, pport, user, password, md = posthorn_up(build, work)
        st = os.stat(inst / "mail")
        t0 = time.monotonic()
        total = fill_maildir(md, n, st.st_uid, st.st_gid)
        print(f"mailbox: {n} messages, {total / 1e6:.1f} MB, written in "
              f"{time.monotonic() - t0:.1f} s; filesystem "
              + subprocess.run(["df", "-T", str(work)], capture_output=True,
                               text=True).stdout.splitlines()[1].split()[1])
        print(f"floor: reading the {n} files once: "
              f"{read_floor(md):.2f} s")
        mine, theirs = [], []
        r = run_server("posthorn pop3d", pport, user, password, n, md,
                       mine, rounds)
        show(r, n, total)
        posthorn_down(build, inst)
        inst = None
        ver = dovecot_version()
        if not ver:
            print("dovecot: not installed (tools/deps.sh bench); "
                  "no comparison")
            return 0
        conf, dport = dovecot_up(work, md, user, password, st.st_uid,
                                 st.st_gid)
        r = run_server(f"dovecot {ver.split()[0]}", dport, user, password,
                       n, md, theirs, rounds)
        show(r, n, total)
        a = hashlib.sha256(b"".join(unstuff(x) for x in mine)).hexdigest()
        b = hashlib.sha256(b"".join(unstuff(x) for x in theirs)).hexdigest()
        print("downloads identical" if a == b else
              "downloads DIFFER between the servers")
    except Exception as e:  # a benchmark reports, it never fails the build
        print(f"bench: pop3_retrieve: {e}")
    finally:
        if inst:
            posthorn_down(build, inst)
        if conf:
            dovecot_down(conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
