# SPDX-License-Identifier: MIT
"""The whole loop: SMTP or sendmail -> queue -> qmgr -> local -> maildir.

Mail to virtual accounts and to system users arrives byte for byte (the
only additions are local's Return-Path: and Delivered-To: and the
submitting program's Received:), aliases, :include: lists and .forward
files fan out to one copy per mailbox, qmgr logs one Postfix-shaped line
per recipient and "removed" per message, and the queue ends empty.
"""
import os
import re
import smtplib
import subprocess

import pytest

from conftest import SENDMAIL, maildir_files, wait_mail, wait_until

IS_ROOT = os.geteuid() == 0
QID = r"[0-9A-Za-z]{15}"

# Every header a submission program would otherwise add is present, so
# only Received: is added on the way in.
BODY = (b"From: Alice <alice@example.test>\r\n"
        b"To: someone\r\n"
        b"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <delivery-test@example.test>\r\n"
        b"Subject: bytes exact\r\n"
        b"\r\n"
        b"line one\r\n"
        b".leading dot\r\n"
        b"8-bit \xc3\xa4 text\r\n"
        b"trailing space \r\n"
        b"\r\n"
        b"last line\r\n")


def smtp_send(inst, sender, rcpts, data, mail_options=(), rcpt_options=()):
    """One SMTP transaction; returns the queue id from the 250 reply."""
    with smtplib.SMTP("127.0.0.1", inst.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example")
        code, msg = s.mail(sender, list(mail_options))
        assert code == 250, msg
        for r in rcpts:
            code, msg = s.rcpt(r, list(rcpt_options))
            assert code == 250, (r, msg)
        code, msg = s.data(data)
        assert code == 250, msg
        return re.search(rf"queued as ({QID})", msg.decode()).group(1)


def sendmail(inst, *args, data=BODY):
    p = subprocess.run([str(SENDMAIL), "-C", str(inst.dir), *args],
                       input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


def split_delivered(data, sender, rcpt):
    """Checks the lines local and the submission path add, returns the
    rest: Return-Path, Delivered-To, then one Received: field."""
    head = b"Return-Path: <%s>\nDelivered-To: %s\n" % (sender.encode(),
                                                      rcpt.encode())
    assert data.startswith(head), data[:200]
    rest = data[len(head):]
    assert rest.startswith(b"Received: "), rest[:200]
    # The Received: field and its continuation lines.
    lines = rest.split(b"\n")
    k = 1
    while lines[k][:1] in (b" ", b"\t"):
        k += 1
    return b"\n".join(lines[k:])


def lf(data):
    return data.replace(b"\r\n", b"\n")


def queue_empty(inst):
    return inst.run("queue", "list").stdout.strip() == "Mail queue is empty"


def virtual_maildir(inst, user):
    return inst.dir / "mail" / "example.test" / user


def add_account(inst, user):
    inst.run("user", "add", f"{user}@example.test", input="secret-pw\n")


def test_virtual_account_by_smtp_and_by_sendmail(make_instance):
    inst = make_instance()
    md = virtual_maildir(inst, "demo")
    qid = smtp_send(inst, "alice@example.test", ["demo@example.test"], BODY)
    f = wait_mail(md, 1)[0]
    assert split_delivered(f.read_bytes(), "alice@example.test",
                           "demo@example.test") == lf(BODY)
    inst.wait_log(rf"qmgr\[\d+\]: {qid}: to=<demo@example\.test>, "
                  r"relay=local, delay=[\d.]+, delays=[\d.]+/[\d.]+/"
                  r"[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent \(delivered "
                  r"to maildir\)")
    inst.wait_log(rf"qmgr\[\d+\]: {qid}: removed")

    sendmail(inst, "-f", "bob@example.test", "demo@example.test")
    files = wait_mail(md, 2)
    new = [x for x in files if x != f][0]
    assert split_delivered(new.read_bytes(), "bob@example.test",
                           "demo@example.test") == lf(BODY)
    wait_until(lambda: queue_empty(inst), what="an empty queue")
    assert list((inst.dir / "spool" / "queue").iterdir()) == []


@pytest.mark.skipif(not IS_ROOT, reason="system users need root")
def test_system_user_by_smtp_and_by_sendmail(make_instance, sysuser):
    name, home, pw = sysuser("d")
    inst = make_instance()
    rcpt = f"{name}@mail.example.test"
    smtp_send(inst, "alice@example.test", [rcpt], BODY)
    md = home / "Maildir"
    f = wait_mail(md, 1)[0]
    assert split_delivered(f.read_bytes(), "alice@example.test",
                           rcpt) == lf(BODY)
    assert f.stat().st_uid == pw.pw_uid
    sendmail(inst, "-f", "carol@example.test", rcpt)
    files = wait_mail(md, 2)
    new = [x for x in files if x != f][0]
    assert split_delivered(new.read_bytes(), "carol@example.test",
                           rcpt) == lf(BODY)
    assert new.stat().st_uid == pw.pw_uid
    wait_until(lambda: queue_empty(inst), what="an empty queue")


def test_many_recipients_one_message(make_instance):
    """One message to many accounts: every mailbox gets its copy and the
    message is removed once, after the last recipient."""
    users = [f"m{i}" for i in range(30)]

    def setup(inst):
        for u in users:
            add_account(inst, u)
    inst = make_instance(setup=setup)
    qid = smtp_send(inst, "alice@example.test",
                    [f"{u}@example.test" for u in users], BODY)
    for u in users:
        wait_mail(virtual_maildir(inst, u), 1)
    inst.wait_log(rf"{qid}: removed")
    log = inst.log()
    assert len(re.findall(rf"{qid}: to=<m\d+@example\.test>, .*status=sent",
                          log)) == len(users)
    assert len(re.findall(rf"{qid}: removed", log)) == 1


@pytest.mark.skipif(not IS_ROOT, reason=".forward needs a system user")
def test_aliases_include_and_forward_fan_out(make_instance, sysuser):
    name, home, pw = sysuser("a")

    def setup(inst):
        for u in ("bob", "carol", "dave"):
            add_account(inst, u)
        inc = inst.dir / "team.inc"
        inc.write_text("# the team\nbob@example.test\ncarol@example.test\n")
        (inst.dir / "aliases").write_text(
            f"team: demo@example.test, :include:{inc}, {name}@localhost\n")
        inst.run("map", "build", "-a", str(inst.dir / "aliases"))
    inst = make_instance(setup=setup)
    fwd = home / ".forward"
    fwd.write_text(f"\\{name}, dave@example.test\n")
    os.chown(fwd, pw.pw_uid, pw.pw_gid)

    qid = smtp_send(inst, "alice@example.test", ["team@mail.example.test"],
                    BODY)
    boxes = [virtual_maildir(inst, u) for u in ("demo", "bob", "carol",
                                                "dave")] + [home / "Maildir"]
    for md in boxes:
        wait_mail(md, 1)
    inst.wait_log(rf"{qid}: removed")
    wait_until(lambda: queue_empty(inst), what="an empty queue")
    for md in boxes:
        files = maildir_files(md)
        assert len(files) == 1, md  # one copy each, no duplicates
        body = files[0].read_bytes()
        assert body.endswith(lf(BODY).split(b"\n\n", 1)[1]), md
    # What qmgr delivered itself after the expansion names its origin.
    log = inst.log()
    assert re.search(rf"{qid}: to=<team@mail\.example\.test>, relay=local,"
                     r".*status=sent", log)
    for line in re.findall(rf"{qid}: to=<(?!team@)[^>]+>.*", log):
        assert "orig_to=<" in line, line


def test_remote_recipient_waits_for_the_smtp_agent(make_instance):
    """Without an smtp agent in master.cf, remote mail stays deferred
    with the reason, and local mail is unaffected."""
    def no_smtp(inst):
        lines = inst.master_cf.read_text().splitlines(keepends=True)
        inst.master_cf.write_text("".join(
            ln for ln in lines if not ln.startswith("smtp ")))
    inst = make_instance(setup=no_smtp)
    qid = smtp_send(inst, "demo@example.test",
                    ["far@remote.test", "demo@example.test"], BODY)
    wait_mail(virtual_maildir(inst, "demo"), 1)
    inst.wait_log(rf"{qid}: to=<far@remote\.test>, relay=none, .*"
                  r"dsn=4\.3\.0, status=deferred \(delivery temporarily "
                  r"suspended: connect to private/smtp: No such file or "
                  r"directory\)")
    # The listing shows what is left to do, as Postfix's mailq does.
    def rcpts():
        return re.findall(r"^ {47}(\S+@\S+)$",
                          inst.run("queue", "list").stdout, re.M)
    wait_until(lambda: rcpts() == ["far@remote.test"],
               what="only the remote recipient left in the listing")


def test_trivial_transports_answered_by_qmgr(make_instance):
    """discard, retry and error (Postfix's trivial agents) need no
    process: qmgr answers them, with the status code the text leads
    with."""
    def setup(inst):
        inst.config(transport_maps="inline:{ void.test=discard, "
                                   "later.test=retry:4.4.5 try me later }")
    inst = make_instance(setup=setup)
    qid = smtp_send(inst, "demo@example.test",
                    ["x@void.test", "y@later.test"], BODY)
    inst.wait_log(rf"{qid}: to=<x@void\.test>, relay=discard, .*"
                  r"dsn=2\.0\.0, status=sent \(discarded\)")
    inst.wait_log(rf"{qid}: to=<y@later\.test>, relay=retry, .*"
                  r"dsn=4\.4\.5, status=deferred \(try me later\)")
