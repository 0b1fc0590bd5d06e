# SPDX-License-Identifier: MIT
"""Mail delivered while IMAP sessions are open: a selected session sees it
at its next command, an IDLE session is told without sending one.

Delivery goes through the local delivery agent (driven as qmgr would, see
test_local.py) and, where the SMTP server is built, through SMTP."""
import re
import smtplib
import time

import pytest

from conftest import DAEMON_DIR, wait_until
from imap_helpers import Raw, imap_instance
from test_local import deliver

BODY = (b"From: Sender <sender@example.org>\n"
        b"To: demo@example.test\n"
        b"Subject: delivered %d\n"
        b"\n"
        b"Hello %d\n")


def body(i):
    return BODY.replace(b"%d", str(i).encode())


def idle_session(inst):
    r = Raw(inst.ports["imap"])
    r.login(inst.demo_user, inst.demo_password)
    st, un = r.cmd("SELECT INBOX")
    r.send("idle IDLE\r\n")
    assert r.line().startswith(b"+ ")
    return r, un


def wait_untagged(r, pattern, timeout=10):
    rx = re.compile(pattern)
    r.sock.settimeout(timeout)
    got = []
    while True:
        ln = r.response_line()
        got.append(ln)
        if rx.match(ln):
            return got


def test_local_delivery_reaches_selected_and_idle_sessions(make_instance):
    inst = imap_instance(make_instance)
    sel = Raw(inst.ports["imap"])
    sel.login(inst.demo_user, inst.demo_password)
    st, un = sel.cmd("SELECT INBOX")
    assert b"* 0 EXISTS" in un
    idle, _ = idle_session(inst)
    res = deliver(inst, ["demo@example.test"], body=body(1))
    assert res[0]["result"] == "sent", res
    # IDLE: told without a command; it looked first, so the message is
    # \Recent there and nowhere else (RFC 3501 2.3.2).
    got = wait_untagged(idle, rb"\* 1 RECENT")
    assert b"* 1 EXISTS" in got
    # The selected session: at its next command.
    st, un = sel.cmd("NOOP")
    assert b"* 1 EXISTS" in un
    assert not any(b"RECENT" in u for u in un)
    st, un = sel.cmd("FETCH 1 (ENVELOPE BODY[TEXT])")
    assert b'"delivered 1"' in un[0]
    assert b"Hello 1\r\n" in un[0]
    deliver(inst, ["demo@example.test"], body=body(2))
    wait_untagged(idle, rb"\* 2 EXISTS")
    idle.send("DONE\r\n")
    st, _ = idle.wait("idle")
    assert st.startswith(b"OK")
    idle.close()
    sel.close()


@pytest.mark.skipif(not (DAEMON_DIR / "smtpd").exists(),
                    reason="smtpd is not built yet")
def test_smtp_delivery_reaches_selected_and_idle_sessions(make_instance):
    inst = imap_instance(make_instance)
    sel = Raw(inst.ports["imap"])
    sel.login(inst.demo_user, inst.demo_password)
    sel.cmd("SELECT INBOX")
    idle, _ = idle_session(inst)
    with smtplib.SMTP("127.0.0.1", inst.ports["smtp"]) as s:
        s.sendmail("sender@example.org", ["demo@example.test"], body(1))
    maildir = inst.dir / "mail" / "example.test" / "demo"
    try:
        wait_until(lambda: any(any(True for _ in (maildir / d).iterdir())
                               for d in ("new", "cur")),
                   timeout=30, what="delivery into the maildir")
    except AssertionError:
        if "status=sent" not in inst.log():
            pytest.skip("qmgr does not schedule deliveries yet")
        raise
    wait_untagged(idle, rb"\* 1 EXISTS", timeout=30)
    st, un = sel.cmd("NOOP")
    assert b"* 1 EXISTS" in un
    st, un = sel.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"delivered 1" in un[0]
    idle.send("DONE\r\n")
    idle.wait("idle")
    idle.close()
    sel.close()
