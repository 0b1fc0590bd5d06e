# SPDX-License-Identifier: MIT
"""pop3d end to end: poplib against a real instance, then fetchmail and
getmail6 downloading a mailbox of 100 messages.

Messages reach the mailbox by SMTP when the instance runs the delivery
pipeline (smtpd, qmgr, local); until those exist in the tree they are
written into the maildir directly (tmp/ then new/, owned by the mailbox
owner), which the mailbox store picks up like any foreign delivery. Both
ways the bytes a client downloads are compared with the bytes put in.
"""
import base64
import os
import pathlib
import poplib
import pwd
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import DAEMON_DIR, wait_until

CLIENT_TIMEOUT = 20


# ---- mailbox helpers --------------------------------------------------------

def maildir(inst, user=None):
    local, domain = (user or inst.demo_user).split("@")
    return inst.dir / "mail" / domain / local


def _owned_mkdir(path, ref):
    st = os.stat(ref)
    for d in reversed([path, *path.parents]):
        if not d.exists():
            d.mkdir(mode=0o700)
            os.chown(d, st.st_uid, st.st_gid)


_seq = [0]


def put(inst, data, user=None):
    """Delivers data (bytes, LF line ends) by writing a maildir file."""
    md = maildir(inst, user)
    for sub in ("tmp", "new", "cur"):
        _owned_mkdir(md / sub, inst.dir / "mail")
    st = os.stat(inst.dir / "mail")
    _seq[0] += 1
    name = f"{int(time.time())}.M{_seq[0]:07d}P{os.getpid()}.e2e.test"
    tmp = md / "tmp" / name
    tmp.write_bytes(data)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.rename(tmp, md / "new" / name)


def files(inst, user=None):
    md = maildir(inst, user)
    out = []
    for sub in ("new", "cur"):
        if (md / sub).is_dir():
            out += sorted((md / sub).iterdir())
    return out


def msg(n, body=b"hello\n"):
    return (f"From: sender{n}@example.org\nTo: demo@example.test\n"
            f"Subject: message {n}\nMessage-ID: <{n}.e2e@example.org>\n\n"
            ).encode() + body


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---- client helpers ---------------------------------------------------------

def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(inst, mode="stls"):
    if mode == "pop3s":
        return poplib.POP3_SSL("127.0.0.1", inst.ports["pop3s"],
                               context=tls_ctx(), timeout=CLIENT_TIMEOUT)
    p = poplib.POP3("127.0.0.1", inst.ports["pop3"], timeout=CLIENT_TIMEOUT)
    if mode == "stls":
        p.stls(tls_ctx())
    return p


def login(inst, mode="stls", user=None, password=None):
    p = connect(inst, mode)
    p.user(user or inst.demo_user)
    p.pass_(password or inst.demo_password)
    return p


def err(fn, *args):
    """The -ERR line a poplib call got."""
    with pytest.raises(poplib.error_proto) as e:
        fn(*args)
    return e.value.args[0]


def cmd(p, line):
    """One command, its first reply line (no exception on -ERR)."""
    p._putcmd(line)
    return p._getline()[0]


def login_when_free(inst, timeout=10):
    """Logs in as soon as the previous session has let the lock go."""
    def attempt():
        p = connect(inst)
        p.user(inst.demo_user)
        try:
            p.pass_(inst.demo_password)
            return p
        except poplib.error_proto as e:
            p.close()
            assert b"[IN-USE]" in e.args[0], e.args[0]
            return None
    return wait_until(attempt, timeout=timeout, what="mailbox lock released")


@pytest.fixture
def pop_instance(make_instance):
    """An instance with fast login failures (the delay has its own test)."""
    return make_instance(
        setup=lambda i: i.config(pop3d_auth_failure_delay="0"))


# ---- AUTHORIZATION, TLS, logins ----------------------------------------------

def test_greeting_capa_and_stls(pop_instance):
    inst = pop_instance
    p = connect(inst, "plain")
    assert p.getwelcome() == b"+OK Posthorn ready."
    caps = p.capa()
    for c in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
              "STLS"):
        assert c in caps
    assert caps["IMPLEMENTATION"] == ["Posthorn"]
    # pop3d_tls_auth_only (default yes): no login offered in the clear.
    assert "USER" not in caps and "SASL" not in caps
    assert p.stls(tls_ctx()).startswith(b"+OK")
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    assert caps["SASL"] == ["PLAIN"]
    assert err(cmd_raise, p, "STLS") == b"-ERR TLS is already active."
    p.quit()


def cmd_raise(p, line):
    return p._shortcmd(line)


def test_plaintext_login_refused_before_tls(pop_instance):
    p = connect(pop_instance, "plain")
    refusal = (b"-ERR [AUTH] Plaintext authentication disallowed on "
               b"non-secure connections; use STLS first.")
    assert err(p.user, pop_instance.demo_user) == refusal
    assert err(p.pass_, "x") == refusal
    assert err(cmd_raise, p, "AUTH PLAIN") == refusal
    assert err(cmd_raise, p, "APOP a b") == refusal
    assert p.quit() == b"+OK Bye."


def test_plaintext_login_when_allowed(make_instance):
    inst = make_instance(setup=lambda i: i.config(pop3d_tls_auth_only="no"))
    p = connect(inst, "plain")
    assert "USER" in p.capa()
    p.user(inst.demo_user)
    assert p.pass_(inst.demo_password).startswith(b"+OK Logged in")
    p.quit()
    log = inst.log()
    assert f"login: user=<{inst.demo_user}>, method=USER, rip=127.0.0.1, " \
           f"lip=127.0.0.1\n" in log


def test_pop3s(pop_instance):
    inst = pop_instance
    put(inst, msg(1))
    p = connect(inst, "pop3s")
    assert p.getwelcome() == b"+OK Posthorn ready."
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    assert err(cmd_raise, p, "STLS") == b"-ERR TLS is already active."
    p.user(inst.demo_user)
    p.pass_(inst.demo_password)
    assert p.stat() == (1, len(crlf(msg(1))))
    p.quit()
    inst.wait_log(r"Anonymous TLS connection established from "
                  r"unknown\[127\.0\.0\.1\]: TLSv1\.[23] with cipher")
    inst.wait_log(rf"login: user=<{inst.demo_user}>, method=USER, "
                  r"rip=127\.0\.0\.1, lip=127\.0\.0\.1, TLS")


def test_stls_discards_pipelined_plaintext(pop_instance):
    """Bytes sent after STLS in the clear must not count as TLS input
    (CVE-2011-0411): the injected USER is gone, so PASS has no USER."""
    inst = pop_instance
    s = socket.create_connection(("127.0.0.1", inst.ports["pop3"]),
                                 timeout=CLIENT_TIMEOUT)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"STLS\r\nUSER " + inst.demo_user.encode() + b"\r\n")
    assert f.readline() == b"+OK Begin TLS negotiation.\r\n"
    t = tls_ctx().wrap_socket(s)
    t.sendall(b"PASS " + inst.demo_password.encode() + b"\r\n")
    tf = t.makefile("rb")
    assert tf.readline() == b"-ERR Send USER first.\r\n"
    t.sendall(b"QUIT\r\n")
    assert tf.readline() == b"+OK Bye.\r\n"
    t.close()
    inst.wait_log(r"discarding \d+ bytes of plaintext pipelined after STLS")


def test_bad_password(pop_instance):
    inst = pop_instance
    p = connect(inst)
    p.user(inst.demo_user)
    assert err(p.pass_, "wrong") == b"-ERR [AUTH] Authentication failed."
    p.user("nobody@example.test")
    assert err(p.pass_, inst.demo_password) == \
        b"-ERR [AUTH] Authentication failed."
    # A failed PASS forgets the USER.
    assert err(p.pass_, inst.demo_password) == b"-ERR Send USER first."
    p.user(inst.demo_user)
    assert p.pass_(inst.demo_password).startswith(b"+OK")
    p.quit()
    inst.wait_log(rf"authentication failed: user=<{inst.demo_user}>, "
                  r"method=USER, rip=127\.0\.0\.1, lip=127\.0\.0\.1, TLS, "
                  r"attempt=1")
    inst.wait_log(r"authentication failed: user=<nobody@example\.test>, "
                  r".*attempt=2")
    assert "wrong" not in inst.log()
    assert inst.demo_password not in inst.log()


def test_login_failures_slowed(make_instance):
    inst = make_instance(
        setup=lambda i: i.config(pop3d_auth_failure_delay="1s"))
    p = connect(inst)
    times = []
    for _ in range(2):
        p.user(inst.demo_user)
        t0 = time.monotonic()
        err(p.pass_, "wrong")
        times.append(time.monotonic() - t0)
    p.quit()
    assert times[0] >= 1.0 and times[1] >= 2.0, times


def test_auth_plain(pop_instance):
    inst = pop_instance
    ir = base64.b64encode(b"\0" + inst.demo_user.encode() + b"\0" +
                          inst.demo_password.encode()).decode()
    p = connect(inst)
    # AUTH without a mechanism lists them.
    assert p._longcmd("AUTH")[1] == [b"PLAIN"]
    assert err(cmd_raise, p, "AUTH CRAM-MD5") == \
        b"-ERR Unsupported authentication mechanism."
    # Continuation, cancelled.
    assert cmd(p, "AUTH PLAIN") == b"+ "
    assert cmd(p, "*") == b"-ERR Authentication cancelled."
    # Bad base64, wrong password.
    assert cmd(p, "AUTH PLAIN") == b"+ "
    assert cmd(p, "!!!") == b"-ERR Invalid AUTH data."
    bad = base64.b64encode(b"\0" + inst.demo_user.encode() + b"\0x").decode()
    assert cmd(p, "AUTH PLAIN " + bad) == \
        b"-ERR [AUTH] Authentication failed."
    # Continuation, then success.
    assert cmd(p, "AUTH PLAIN") == b"+ "
    assert cmd(p, ir).startswith(b"+OK Logged in")
    p.quit()
    # Initial response (RFC 5034 4).
    p = connect(inst)
    assert cmd(p, "AUTH PLAIN " + ir).startswith(b"+OK Logged in")
    assert p.stat() == (0, 0)
    p.quit()
    inst.wait_log(rf"login: user=<{inst.demo_user}>, method=PLAIN, "
                  r"rip=127\.0\.0\.1, lip=127\.0\.0\.1, TLS")


# ---- TRANSACTION ---------------------------------------------------------------

def test_every_command_and_reply(pop_instance):
    inst = pop_instance
    bodies = [msg(1, b"line\n.starts with a dot\n..two\n"),
              msg(2, b"a\nb\nc\nd\n"),
              msg(3, b"")]
    for b in bodies:
        put(inst, b)
    sizes = [len(crlf(b)) for b in bodies]
    p = login(inst)
    # Wrong state.
    assert err(p.user, "x") == \
        b"-ERR USER is not allowed in the TRANSACTION state."
    assert p.stat() == (3, sum(sizes))
    resp, lines, _ = p.list()
    assert resp == f"+OK 3 messages ({sum(sizes)} octets)".encode()
    assert lines == [f"{i + 1} {s}".encode() for i, s in enumerate(sizes)]
    assert p.list(2) == f"+OK 2 {sizes[1]}".encode()
    assert err(p.list, 4) == b"-ERR No such message."
    assert err(p.list, 0) == b"-ERR No such message."
    assert err(p.list, "x") == b"-ERR Invalid message number."
    assert err(cmd_raise, p, "LIST 1 2") == b"-ERR Too many arguments."
    assert err(cmd_raise, p, "RETR") == b"-ERR Missing argument."
    # RETR: byte-stuffing undone by poplib; size as LIST said.
    resp, lines, octets = p.retr(1)
    assert resp == f"+OK {sizes[0]} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == crlf(bodies[0])
    assert octets == sizes[0]
    # Case does not matter (RFC 1939 3).
    assert cmd(p, "noop") == b"+OK Still here."
    # TOP: header, empty line, n lines.
    resp, lines, _ = p.top(2, 2)
    assert resp == b"+OK Top of message follows."
    assert lines[-3:] == [b"", b"a", b"b"]
    assert p.top(2, 0)[1][-1] == b""
    assert len(p.top(2, 100)[1]) == len(crlf(bodies[1]).split(b"\r\n")) - 1
    assert err(p.top, 2, "x") == b"-ERR Invalid number of lines."
    # UIDL.
    uidl = p.uidl()[1]
    assert len(uidl) == 3 and len({u.split()[1] for u in uidl}) == 3
    assert p.uidl(2).split()[1:] == uidl[1].split()
    # DELE and its effects.
    assert p.dele(2) == b"+OK Message 2 deleted."
    assert err(p.dele, 2) == b"-ERR Message 2 is deleted."
    assert err(p.retr, 2) == b"-ERR Message 2 is deleted."
    assert err(p.list, 2) == b"-ERR Message 2 is deleted."
    assert err(p.uidl, 2) == b"-ERR Message 2 is deleted."
    assert p.stat() == (2, sizes[0] + sizes[2])
    assert [l.split()[0] for l in p.list()[1]] == [b"1", b"3"]
    # RSET unmarks.
    assert p.rset() == f"+OK Maildrop has 3 messages ({sum(sizes)} " \
                       f"octets).".encode()
    assert p.stat() == (3, sum(sizes))
    assert err(cmd_raise, p, "XTND XMIT") == b"-ERR Unknown command."
    assert p.quit() == b"+OK Logging out (3 messages left)."
    inst.wait_log(rf"logout: user=<{inst.demo_user}>, rip=127\.0\.0\.1, "
                  r"lip=127\.0\.0\.1, top=3, retr=1, del=0, msgs=3, "
                  rf"size={sum(sizes)}, sent=\d+, reason=QUIT")
    # Postfix's shape: per command ok/total when some failed.
    inst.wait_log(r"disconnect from unknown\[127\.0\.0\.1\] user=1/2 pass=1 "
                  r"stls=1 capa=1 quit=1 stat=3 list=3/8 retr=1/3 dele=1/2 "
                  r"noop=1 rset=1 top=3/4 uidl=2/3 unknown=0/1 "
                  r"commands=20/32\n")


def test_keep_mode_and_uidl_stability(pop_instance):
    inst = pop_instance
    for i in range(5):
        put(inst, msg(i))
    p = login(inst)
    first = p.uidl()[1]
    for i in range(1, 6):
        p.retr(i)
    p.quit()
    p = login_when_free(inst)
    assert p.stat()[0] == 5
    assert p.uidl()[1] == first
    p.quit()
    # Downloaded and kept: IMAP clients see it as read (\Seen -> S).
    wait_until(lambda: all(f.name.endswith(":2,S") for f in files(inst)),
               what="\\Seen on retrieved messages")
    # A new message gets a new id; the old ones keep theirs.
    put(inst, msg(99))
    p = login_when_free(inst)
    now = p.uidl()[1]
    assert now[:5] == first and now[5] not in first
    p.quit()


def test_delete_mode(pop_instance):
    inst = pop_instance
    for i in range(4):
        put(inst, msg(i))
    p = login(inst)
    for i in range(1, 5):
        p.retr(i)
        p.dele(i)
    assert p.quit() == b"+OK Logging out (maildrop empty)."
    wait_until(lambda: not files(inst), what="maildir emptied")
    p = login_when_free(inst)
    assert p.stat() == (0, 0)
    assert p.uidl()[1] == []
    p.quit()
    inst.wait_log(r"logout: .* retr=4, del=4, msgs=4, .*reason=QUIT")


def test_mail_during_session_waits_for_next(pop_instance):
    inst = pop_instance
    put(inst, msg(1))
    p = login(inst)
    assert p.stat()[0] == 1
    put(inst, msg(2))
    assert p.stat()[0] == 1
    assert err(p.retr, 2) == b"-ERR No such message."
    p.dele(1)
    p.quit()
    p = login_when_free(inst)
    assert p.stat() == (1, len(crlf(msg(2))))
    assert b"Subject: message 2" in p.retr(1)[1]
    p.quit()


def test_locked_mailbox(pop_instance):
    inst = pop_instance
    put(inst, msg(1))
    a = login(inst)
    b = connect(inst)
    b.user(inst.demo_user)
    assert err(b.pass_, inst.demo_password) == \
        b"-ERR [IN-USE] Mailbox is locked by another POP3 session."
    # Still in AUTHORIZATION: it may try again once the lock is free.
    assert err(b.stat) == \
        b"-ERR STAT is not allowed in the AUTHORIZATION state."
    a.quit()
    wait_until(lambda: _try_login(b, inst), what="login")
    assert b.stat()[0] == 1
    b.quit()
    inst.wait_log(rf"login refused, mailbox in use: user=<{inst.demo_user}>")


def _try_login(p, inst):
    p.user(inst.demo_user)
    try:
        p.pass_(inst.demo_password)
        return True
    except poplib.error_proto:
        return False


def test_dropped_connection_changes_nothing(pop_instance):
    inst = pop_instance
    for i in range(3):
        put(inst, msg(i))
    before = sorted(f.name.split(":")[0] for f in files(inst))
    p = login(inst)
    for i in range(1, 4):
        p.dele(i)
    p.close()  # no QUIT: RFC 1939 6, no UPDATE state
    p = login_when_free(inst)
    assert p.stat()[0] == 3
    p.quit()
    assert sorted(f.name.split(":")[0] for f in files(inst)) == before
    inst.wait_log(r"logout: .* del=0, msgs=3, .*reason=lost connection")


def test_message_removed_by_another_client(pop_instance):
    """Another client (an IMAP expunge, a maildir tool) removes a message
    during the session: RETR says so, the rest of the session goes on."""
    inst = pop_instance
    put(inst, msg(1))
    put(inst, msg(2))
    p = login(inst)
    files(inst)[0].unlink()
    assert err(p.retr, 1) == b"-ERR Message was removed by another client."
    assert p.retr(2)[0].startswith(b"+OK")
    p.dele(1)
    assert p.quit() == b"+OK Logging out (1 messages left)."


def test_stop_ends_sessions_without_update(pop_instance):
    """posthorn stop: a session waiting for a command is told and closed,
    and its marks are not applied (no QUIT, no UPDATE state)."""
    inst = pop_instance
    put(inst, msg(1))
    p = login(inst)
    p.dele(1)
    inst.stop()
    assert p._getline()[0] == b"-ERR [SYS/TEMP] Server shutting down."
    assert len(files(inst)) == 1


def test_pipelining(pop_instance):
    inst = pop_instance
    for i in range(3):
        put(inst, msg(i, b".x\n" * 50))
    p = connect(inst, "pop3s")
    p.sock.sendall(
        f"USER {inst.demo_user}\r\nPASS {inst.demo_password}\r\n"
        "STAT\r\nLIST\r\nRETR 1\r\nTOP 2 3\r\nUIDL\r\nDELE 3\r\n"
        "RETR 2\r\nQUIT\r\n".encode())
    assert p._getresp().startswith(b"+OK")
    assert p._getresp().startswith(b"+OK Logged in, 3 messages")
    assert p._getresp().startswith(b"+OK 3 ")
    assert len(p._getlongresp()[1]) == 3
    assert p._getlongresp()[1][-50:] == [b".x"] * 50
    assert p._getlongresp()[1][-3:] == [b".x"] * 3
    assert len(p._getlongresp()[1]) == 3
    assert p._getresp() == b"+OK Message 3 deleted."
    assert p._getlongresp()[1][-1] == b".x"
    assert p._getresp() == b"+OK Logging out (2 messages left)."
    p.close()
    wait_until(lambda: len(files(inst)) == 2, what="one message removed")


def test_error_limit_closes_session(pop_instance):
    inst = pop_instance
    p = connect(inst)
    for _ in range(19):
        assert cmd(p, "BOGUS") == b"-ERR Unknown command."
    assert cmd(p, "BOGUS") == b"-ERR Unknown command."
    assert p._getline()[0] == b"-ERR Too many errors, closing connection."
    with pytest.raises((poplib.error_proto, OSError)):
        p._getline()
    inst.wait_log(r"too many errors after UNKNOWN from unknown\[127\.0\.0\.1\]")


def test_line_length_limit(pop_instance):
    p = connect(pop_instance)
    assert cmd(p, "NOOP " + "x" * 2000) == b"-ERR Line too long."
    assert p.capa()
    p.quit()


def test_expire_and_login_delay_advertised(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        pop3d_expire="0", pop3d_login_delay="900",
        pop3d_auth_failure_delay="0"))
    put(inst, msg(1))
    put(inst, msg(2))
    p = connect(inst)
    caps = p.capa()
    assert caps["EXPIRE"] == ["0"] and caps["LOGIN-DELAY"] == ["900"]
    p.user(inst.demo_user)
    p.pass_(inst.demo_password)
    p.retr(1)          # EXPIRE 0: retrieved messages go at QUIT
    p.top(2, 0)        # TOP is not a retrieval
    assert p.quit() == b"+OK Logging out (1 messages left)."
    wait_until(lambda: len(files(inst)) == 1, what="retrieved one removed")


def test_large_message_exact_bytes(pop_instance):
    inst = pop_instance
    body = b"".join(b"%06d " % i + b"x" * 70 + b"\n" for i in range(30000))
    body += b".\n..\nlast line without newline"
    put(inst, msg(1, body))
    p = login(inst)
    size = int(p.list(1).split()[2])
    resp, lines, octets = p.retr(1)
    got = b"\r\n".join(lines) + b"\r\n"
    want = crlf(msg(1, body)) + b"\r\n"   # the terminator's CRLF
    assert got == want
    assert size == len(crlf(msg(1, body)))
    p.quit()


# ---- fetchmail and getmail6 ---------------------------------------------------

def pipeline_delivers(inst, timeout=5):
    """True when a message sent by SMTP reaches a mailbox (smtpd, qmgr
    and local all built and qmgr scheduling deliveries): a probe goes to
    an account of its own, so the demo mailbox stays as the test wants."""
    if not all((DAEMON_DIR / d).exists() for d in ("smtpd", "qmgr",
                                                    "local")) \
            or "smtp" not in inst.ports:
        return False
    probe = "probe@example.test"
    inst.run("user", "add", probe, input="probe-password\n")
    with smtplib.SMTP("127.0.0.1", inst.ports["smtp"],
                      timeout=CLIENT_TIMEOUT) as s:
        s.sendmail("sender@example.org", [probe],
                   b"Subject: probe\r\n\r\nprobe\r\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if files(inst, probe):
            return True
        time.sleep(0.1)
    return False


def hundred_messages():
    out = []
    for i in range(100):
        body = b"".join(b"line %d of message %d\n" % (j, i)
                        for j in range(i % 17 + 1))
        if i % 5 == 0:
            body += b".a line starting with a dot\n.\n"
        if i % 7 == 0:
            body += "8-bit: Grüße, naïve café\n".encode()
        if i == 42:
            body += b"y" * 900 + b"\n" + b"z\n" * 3000
        head = (f"From: Sender {i} <s{i}@example.org>\n"
                f"To: demo@example.test\nSubject: batch {i}\n"
                f"Message-ID: <batch.{i}@example.org>\n"
                f"Date: Mon, 01 Jan 2024 00:{i % 60:02d}:00 +0000\n")
        if i % 7 == 0:
            head += ("MIME-Version: 1.0\nContent-Type: text/plain; "
                     "charset=utf-8\nContent-Transfer-Encoding: 8bit\n")
        out.append(head.encode() + b"\n" + body)
    return out


def deliver_hundred(inst):
    """Returns the 100 messages after putting them in the demo mailbox:
    by SMTP when the pipeline delivers, else written into the maildir
    (said on stdout: `pytest -s` shows which)."""
    msgs = hundred_messages()
    by_smtp = pipeline_delivers(inst)
    print("100 messages delivered " + (
        "by SMTP" if by_smtp else
        "into the maildir directly (no SMTP delivery yet)"))
    if by_smtp:
        with smtplib.SMTP("127.0.0.1", inst.ports["smtp"],
                          timeout=CLIENT_TIMEOUT) as s:
            for m in msgs:
                s.sendmail("sender@example.org", [inst.demo_user],
                           crlf(m))
        wait_until(lambda: len(files(inst)) == 100, timeout=60,
                   what="100 messages delivered")
    else:
        for m in msgs:
            put(inst, m)
    return msgs


TRACE = (b"received:", b"return-path:", b"delivered-to:", b"x-original-to:",
         b"status:", b"x-status:", b"x-getmail-retrieved-from-mailbox:")


def strip_trace(data):
    """Removes header fields added on the way (trace fields and the
    retrievers' own), wherever in the header they are."""
    data = data.replace(b"\r\n", b"\n")
    head, sep, body = data.partition(b"\n\n")
    kept, skip = [], False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                kept.append(line)
            continue
        skip = line.lower().startswith(TRACE)
        if not skip:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def by_message_id(blobs):
    out = {}
    for b in blobs:
        for line in b.split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                out[line.split(b":", 1)[1].strip()] = b
                break
    return out


def check_downloads(sent, got):
    assert len(got) == 100, f"{len(got)} messages downloaded"
    want = by_message_id(sent)
    have = by_message_id([strip_trace(g) for g in got])
    assert set(have) == set(want)
    for k in want:
        assert have[k] == want[k], f"{k!r} differs"


def read_maildir(d):
    return [f.read_bytes() for sub in ("new", "cur")
            for f in sorted((d / sub).iterdir())]


@pytest.mark.skipif(shutil.which("fetchmail") is None,
                    reason="fetchmail not installed (tools/deps.sh test)")
def test_fetchmail_downloads_100(pop_instance, tmp_path):
    inst = pop_instance
    sent = deliver_hundred(inst)
    out = tmp_path / "out"
    out.mkdir()
    saver = tmp_path / "save.py"
    saver.write_text(
        "import sys, os, uuid\n"
        "data = sys.stdin.buffer.read()\n"
        f"open(os.path.join({str(out)!r}, uuid.uuid4().hex), 'wb')"
        ".write(data)\n")
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"set no syslog\n"
        f"poll 127.0.0.1 service {inst.ports['pop3']} protocol pop3 uidl\n"
        f"  user '{inst.demo_user}' password '{inst.demo_password}'\n"
        f"  sslproto tls1.2+ no sslcertck\n"
        f"  mda '/usr/bin/python3 {saver}'\n")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))

    def run(*args):
        return subprocess.run(["fetchmail", "-f", str(rc), "-v", *args],
                              env=env, capture_output=True, text=True,
                              timeout=120)
    # Keep mode: everything once, then nothing new (UIDL remembered).
    r = run("--keep")
    assert r.returncode == 0, r.stdout + r.stderr
    check_downloads(sent, [f.read_bytes() for f in out.iterdir()])
    assert len(files(inst)) == 100
    r = run("--keep")
    assert r.returncode == 1, r.stdout + r.stderr   # 1: no new mail
    assert len(list(out.iterdir())) == 100
    # Delete mode: fetch all again and remove them from the server.
    for f in out.iterdir():
        f.unlink()
    r = run("--all", "--nokeep")
    assert r.returncode == 0, r.stdout + r.stderr
    check_downloads(sent, [f.read_bytes() for f in out.iterdir()])
    wait_until(lambda: not files(inst), what="server mailbox emptied")


@pytest.mark.skipif(shutil.which("getmail") is None,
                    reason="getmail6 not installed (tools/deps.sh test)")
def test_getmail_downloads_100(pop_instance, tmp_path):
    inst = pop_instance
    sent = deliver_hundred(inst)
    # getmail refuses to deliver as root: as root, it delivers as an
    # unprivileged user (the destination's `user`) into a directory
    # that user can reach.
    dest = inst.dir.parent / "getmail-Maildir"
    deliver_as = "nobody" if os.getuid() == 0 else None

    def make_dest():
        shutil.rmtree(dest, ignore_errors=True)
        for sub in ("cur", "new", "tmp"):
            (dest / sub).mkdir(parents=True)
        if deliver_as:
            pw = pwd.getpwnam(deliver_as)
            for d in (dest, dest / "cur", dest / "new", dest / "tmp"):
                os.chown(d, pw.pw_uid, pw.pw_gid)
    make_dest()
    gdir = tmp_path / "getmail"
    gdir.mkdir()

    def rc(delete, read_all=False):
        (gdir / "getmailrc").write_text(
            "[retriever]\n"
            "type = SimplePOP3SSLRetriever\n"
            "server = 127.0.0.1\n"
            f"port = {inst.ports['pop3s']}\n"
            f"username = {inst.demo_user}\n"
            f"password = {inst.demo_password}\n"
            "[destination]\n"
            "type = Maildir\n"
            f"path = {dest}/\n"
            + (f"user = {deliver_as}\n" if deliver_as else "") +
            "[options]\n"
            f"read_all = {'true' if read_all else 'false'}\n"
            f"delete = {'true' if delete else 'false'}\n"
            "verbose = 1\n")

    def run():
        return subprocess.run(
            ["getmail", f"--getmaildir={gdir}", "--rcfile=getmailrc"],
            capture_output=True, text=True, timeout=120)
    rc(False)
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    check_downloads(sent, read_maildir(dest))
    r = run()   # keep mode: UIDLs known, nothing new
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(read_maildir(dest)) == 100
    # Delete mode: everything again, removed from the server.
    make_dest()
    rc(True, read_all=True)
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    check_downloads(sent, read_maildir(dest))
    wait_until(lambda: not files(inst), what="server mailbox emptied")
