#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""imap_fetch.py - imapd beside Dovecot on the same large mailbox

    bench/imap_fetch.py BUILD_DIR TMPDIR [COUNT ...]     (default 10000 100000)

For each COUNT: a Posthorn instance gets COUNT messages in the demo
account's INBOX (bench/imap_fill, through the mailbox store, FETCH cache
built at delivery); a private Dovecot (Debian dovecot-imapd, passwd-file
auth, its index in the temp dir) serves the same maildir on another port.
Over one connection each, timed from command to tagged OK:

    SELECT INBOX
    FETCH 1:* (FLAGS ENVELOPE)
    FETCH 1:* BODY.PEEK[]          (every message, whole)

The first round is reported apart ("cold": Posthorn moves new/ to cur/,
Dovecot builds its index and header cache); then the best of three warm
rounds. The client only reads until the tagged reply, so it measures the
servers, not a response parser. Reports; never fails the build.
"""
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n = 0
        self.read_until(None)

    def read_until(self, tag):
        """Reads to the tagged line (or the greeting); returns
        (bytes read, the last line)."""
        total = 0
        tail = b""
        want = tag.encode() + b" " if tag else b"* "
        while True:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("server closed the connection")
            total += len(d)
            tail = (tail + d)[-8192:]
            if not tail.endswith(b"\r\n"):
                continue
            nl = tail.rfind(b"\r\n", 0, len(tail) - 2)
            last = tail[nl + 2 if nl >= 0 else 0:]
            if last.startswith(want):
                return total, last

    def cmd(self, text):
        self.n += 1
        tag = "b%d" % self.n
        t0 = time.perf_counter()
        self.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        size, last = self.read_until(tag)
        dt = time.perf_counter() - t0
        if not last.startswith(tag.encode() + b" OK"):
            raise RuntimeError("%s: %r" % (text, last))
        return dt, size

    def close(self):
        try:
            self.cmd("LOGOUT")
        except Exception:
            pass
        self.s.close()


STEPS = [("SELECT", "SELECT INBOX"),
         ("FETCH 1:* (FLAGS ENVELOPE)", "FETCH 1:* (FLAGS ENVELOPE)"),
         ("FETCH 1:* BODY.PEEK[]", "FETCH 1:* BODY.PEEK[]")]


def measure(port, user, password):
    """{step: (cold seconds, best warm seconds, bytes)}."""
    rounds = []
    for r in range(4):
        c = Client(port)
        c.cmd('LOGIN "%s" "%s"' % (user, password))
        rounds.append([c.cmd(cmd) for _, cmd in STEPS])
        c.close()
    out = {}
    for i, (name, _) in enumerate(STEPS):
        cold = rounds[0][i][0]
        warm = min(r[i][0] for r in rounds[1:])
        out[name] = (cold, warm, rounds[1][i][1])
    return out


def posthorn(build, tmp, count):
    inst = os.path.join(tmp, "posthorn-%d" % count)
    ph = os.path.join(build, "sbin", "posthorn")
    p = subprocess.run([ph, "-c", inst, "init"], capture_output=True,
                       text=True, check=True)
    m = re.search(r"demo account (\S+), password (\S+)", p.stdout)
    user, password = m.group(1), m.group(2)
    port = free_port()
    # Only imapd, on a free port: nothing else of the instance is needed.
    with open(os.path.join(inst, "master.cf"), "w") as f:
        f.write("%d inet n - n - - imapd\n" % port)
    subprocess.run([ph, "-c", inst, "config", "imapd_tls_auth_only=no",
                    "imapd_auth_failure_delay=0"], check=True,
                   capture_output=True)
    maildir = os.path.join(inst, "mail", "example.test", "demo")
    t0 = time.perf_counter()
    subprocess.run([os.path.join(tmp, "imap_fill"), maildir, str(count)],
                   check=True, capture_output=True)
    fill = time.perf_counter() - t0
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "vmail:vmail",
                        os.path.join(inst, "mail")], check=True)
    subprocess.run([ph, "-c", inst, "start"], check=True,
                   capture_output=True)
    wait_port(port)
    return inst, port, user, password, maildir, fill


DOVECOT_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{maildir}:INDEX={d}/index:CONTROL={d}/control
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def dovecot(tmp, maildir, user, password, count):
    if not shutil.which("dovecot"):
        return None
    if os.geteuid() != 0:
        print("dovecot: skipped (needs root to run as the mailbox owner)")
        return None
    d = os.path.join(tmp, "dovecot-%d" % count)
    os.makedirs(d)
    pw = pwd.getpwnam("vmail")
    for sub in ("index", "control", "home"):
        os.makedirs(os.path.join(d, sub))
        os.chown(os.path.join(d, sub), pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o755)
    with open(os.path.join(d, "passwd"), "w") as f:
        f.write("%s:{PLAIN}%s::::::\n" % (user, password))
    port = free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(DOVECOT_CONF.format(d=d, maildir=maildir, uid=pw.pw_uid,
                                    gid=pw.pw_gid, port=port))
    subprocess.run(["dovecot", "-c", conf], check=True)
    wait_port(port)
    return conf, port


def show(name, res, count):
    for step, (cold, warm, size) in res.items():
        print("  %-9s %-28s cold %8.3f s   warm %8.3f s  %9.0f msg/s  "
              "%7.1f MB" % (name, step, cold, warm, count / warm,
                            size / 1e6))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return
    build, tmp = sys.argv[1], sys.argv[2]
    counts = [int(c) for c in sys.argv[3:]] or [10000, 100000]
    for count in counts:
        inst, port, user, password, maildir, fill = posthorn(build, tmp,
                                                              count)
        print("%d messages (%.0f MB), filled in %.1f s" % (
            count, sum(e.stat().st_size for e in
                       os.scandir(os.path.join(maildir, "new"))) / 1e6,
            fill))
        try:
            show("posthorn", measure(port, user, password), count)
            dv = dovecot(tmp, maildir, user, password, count)
            if dv:
                conf, dport = dv
                try:
                    show("dovecot", measure(dport, user, password), count)
                finally:
                    subprocess.run(["dovecot", "-c", conf, "stop"],
                                   capture_output=True)
        finally:
            subprocess.run([os.path.join(build, "sbin", "posthorn"), "-c",
                            inst, "stop"], capture_output=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a benchmark reports, it never fails a build
        print("imap_fetch: %s" % e)
