# SPDX-License-Identifier: MIT
"""smtpd: every command and its reply codes, pipelining, log lines.

Reply codes covered here: 214 220 221 250 252 354 421 450 451 452 500 501
502 503 504 550 552 553 554 555 (DATA-related and TLS/AUTH ones live in
test_smtpd_data.py and test_smtpd_tls.py)."""
import os
import re
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import held, wait_until
from smtp_util import (Raw, queue_show, queued_as, queued_ids, smtp_port, transaction,
                       untrusted, wait_queued)


@pytest.fixture
def make_instance(make_instance):
    """These tests look at what smtpd queued: nothing may be delivered
    meanwhile (and remote mail must not reach real DNS)."""
    return held(make_instance)


def test_session_with_smtplib_and_log_lines(instance):
    port = smtp_port(instance)
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        code, banner = s.ehlo("client.example")
        assert code == 250
        feats = banner.decode().splitlines()
        assert feats[0] == "mail.example.test"
        for ext in ("PIPELINING", "SIZE 10240000", "8BITMIME",
                    "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "CHUNKING",
                    "STARTTLS", "VRFY"):
            assert ext in feats, ext
        # AUTH only over TLS (smtpd_tls_auth_only=yes)
        assert not any(f.startswith("AUTH") for f in feats)
        refused = s.sendmail("sender@client.example", ["demo@example.test"],
                             b"Subject: hi\r\n\r\nhello\r\n")
        assert refused == {}
    ids = wait_queued(instance, 1)
    log = instance.wait_log(r"disconnect from unknown\[127\.0\.0\.1\] ehlo=1 "
                            r"mail=1 rcpt=1 data=1 quit=1 commands=5")
    text = instance.log()
    assert re.search(r"posthorn/smtpd\[\d+\]: connect from "
                     r"unknown\[127\.0\.0\.1\]", text)
    assert re.search(rf"posthorn/smtpd\[\d+\]: {ids[0]}: "
                     r"client=unknown\[127\.0\.0\.1\]", text)
    assert log


def test_greeting_helo_quit(instance):
    c = Raw(smtp_port(instance))
    assert c.greeting == (220, ["mail.example.test ESMTP Posthorn"])
    assert c.cmd("HELO client.example") == (250, ["mail.example.test"])
    assert c.cmd("QUIT") == (221, ["2.0.0 Bye"])
    assert c.closed()


def test_commands_are_case_insensitive(instance):
    c = Raw(smtp_port(instance))
    assert c.cmd("eHlO client.example")[0] == 250
    assert c.cmd("mail from:<a@client.example>") == (250, ["2.1.0 Ok"])
    assert c.cmd("Rcpt To:<demo@example.test>") == (250, ["2.1.5 Ok"])
    assert c.cmd("data")[0] == 354
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    code, text = c.reply()
    assert code == 250 and text[0].startswith("2.0.0 Ok: queued as ")
    assert c.cmd("quit")[0] == 221


def test_reply_codes_of_basic_commands(instance):
    c = Raw(smtp_port(instance))
    assert c.cmd("FOO bar") == (500, ["5.5.2 Error: command not recognized"])
    assert c.cmd("TURN")[0] == 502
    assert c.cmd("EHLO") == (501, ["5.5.4 Syntax: EHLO hostname"])
    assert c.cmd("HELO a b")[0] == 501
    assert c.cmd("RCPT TO:<demo@example.test>") == (
        503, ["5.5.1 Error: need MAIL command"])
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.cmd("NOOP anything") == (250, ["2.0.0 Ok"])
    assert c.cmd("RSET") == (250, ["2.0.0 Ok"])
    assert c.cmd("RSET now")[0] == 501
    code, text = c.cmd("HELP")
    assert code == 214 and "Commands:" in text[0]
    assert c.cmd("VRFY demo@example.test") == (252, ["2.0.0 <demo@example.test>"])
    assert c.cmd("VRFY root")[0] == 252
    assert c.cmd("VRFY nosuchuser@example.test")[0] == 550
    assert c.cmd("EXPN postmaster")[0] == 252
    assert c.cmd("MAIL FROM:a@client.example")[0] == 553
    assert c.cmd("MAIL FROM <a@client.example>") == (
        501, ["5.5.4 Syntax: MAIL FROM:<address>"])
    assert c.cmd("MAIL FROM:<a@@client.example>")[0:1] == (553,)
    assert c.cmd("MAIL FROM:<a@client.example> FOO=1") == (
        555, ["5.5.4 Unsupported option: FOO"])
    assert c.cmd("MAIL FROM:<a@client.example> SIZE=x")[0] == 501
    assert c.cmd("MAIL FROM:<a@client.example> SIZE=999999999") == (
        552, ["5.3.4 Message size exceeds fixed limit"])
    assert c.cmd("MAIL FROM:<a@client.example>")[0] == 250
    assert c.cmd("MAIL FROM:<a@client.example>") == (
        503, ["5.5.1 Error: nested MAIL command"])
    assert c.cmd("DATA") == (503, ["5.5.1 Error: need RCPT command"])
    assert c.cmd("RCPT TO:demo@example.test")[0] == 553
    assert c.cmd("RCPT TO:<nosuch@example.test>")[0] == 550
    assert c.cmd("DATA") == (554, ["5.5.1 Error: no valid recipients"])
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("QUIT")[0] == 221


def test_unknown_user_550_and_reject_log_line(instance):
    c = Raw(smtp_port(instance))
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@client.example>")
    code, text = c.cmd("RCPT TO:<nosuch@example.test>")
    assert code == 550
    assert text == ["5.1.1 <nosuch@example.test>: Recipient address "
                    "rejected: User unknown in virtual mailbox table"]
    code, text = c.cmd("RCPT TO:<nosuch@localhost>")
    assert (code, text) == (550, [
        "5.1.1 <nosuch@localhost>: Recipient address rejected: User "
        "unknown in local recipient table"])
    c.cmd("QUIT")
    instance.wait_log(
        r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1 "
        r"<nosuch@example\.test>: Recipient address rejected: User unknown "
        r"in virtual mailbox table; from=<a@client\.example> "
        r"to=<nosuch@example\.test> proto=ESMTP helo=<client\.example>")
    instance.wait_log(r"rcpt=0/2")


def test_vrfy_disabled_502(make_instance):
    inst = make_instance(setup=lambda i: i.config(disable_vrfy_command="yes"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    assert c.cmd("VRFY demo@example.test") == (
        502, ["5.5.1 VRFY command is disabled"])
    assert c.cmd("EXPN demo@example.test")[0] == 502


def test_helo_required_503(make_instance):
    inst = make_instance(setup=lambda i: i.config(smtpd_helo_required="yes"))
    c = Raw(smtp_port(inst))
    assert c.cmd("MAIL FROM:<a@b.example>") == (
        503, ["5.5.1 Error: send HELO/EHLO first"])


def test_recipient_limit_452(make_instance):
    inst = make_instance(setup=lambda i: i.config(smtpd_recipient_limit="2"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<postmaster@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<abuse@example.test>") == (
        452, ["4.5.3 Error: too many recipients"])


def test_defer_unauth_destination_450(make_instance):
    def setup(i):
        untrusted(i)
        i.config(smtpd_relay_restrictions="defer_unauth_destination")
    inst = make_instance(setup=setup)
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<x@remote.example>") == (
        450, ["4.7.1 <x@remote.example>: Relay access denied"])
    assert c.cmd("RCPT TO:<demo@example.test>")[0] == 250


def test_non_fqdn_recipient_504(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_recipient_restrictions="reject_non_fqdn_recipient",
        mydestination="localhost"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    code, text = c.cmd("RCPT TO:<root@localhost>")
    assert code == 504 and text[0].startswith("5.5.2 ")


def test_queue_unwritable_451(instance):
    incoming = instance.dir / "spool" / "incoming"
    os.chmod(incoming, 0)
    try:
        c = Raw(smtp_port(instance))
        c.cmd("EHLO x.example")
        c.cmd("MAIL FROM:<a@b.example>")
        code, text = c.cmd("RCPT TO:<demo@example.test>")
        if os.geteuid() == 0 and code == 250:
            pytest.skip("daemons run as root here: permissions do not bind")
        assert (code, text) == (451, ["4.3.0 Error: queue file write error"])
    finally:
        os.chmod(incoming, 0o700)


def test_pipelining_replies_in_order(instance):
    c = Raw(smtp_port(instance))
    assert c.cmd("EHLO client.example")[0] == 250
    c.send("MAIL FROM:<p@client.example>\r\n"
           "RCPT TO:<demo@example.test>\r\n"
           "RCPT TO:<nosuch@example.test>\r\n"
           "RCPT TO:<postmaster@example.test>\r\n"
           "DATA\r\n")
    codes = [r[0] for r in c.replies(5)]
    assert codes == [250, 250, 550, 250, 354]
    c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\nMAIL FROM:<q@client.example>"
           "\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n")
    r = c.replies(4)
    assert [x[0] for x in r] == [250, 250, 250, 354]
    c.send("Subject: second\r\n\r\nbody2\r\n.\r\nQUIT\r\n")
    assert [x[0] for x in c.replies(2)] == [250, 221]
    wait_queued(instance, 2)


def test_pipelined_replies_come_in_one_batch(instance):
    """RFC 2920: the server does not flush after each reply of a batch."""
    c = Raw(smtp_port(instance))
    c.cmd("EHLO client.example")
    c.send("MAIL FROM:<p@client.example>\r\nRCPT TO:<demo@example.test>\r\n"
           "RSET\r\nNOOP\r\n")
    time.sleep(0.3)
    data = c.sock.recv(65536)
    # all four replies arrived together
    assert data.count(b"\r\n") == 4, data


def test_too_many_errors_421(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_hard_error_limit="3", smtpd_error_sleep_time="0"))
    c = Raw(smtp_port(inst))
    for _ in range(3):
        assert c.cmd("BOGUS")[0] == 500
    assert c.reply() == (421, ["4.7.0 mail.example.test Error: too many errors"])
    assert c.closed()
    inst.wait_log(r"too many errors after UNKNOWN from unknown\[127\.0\.0\.1\]")


def test_timeout_421(make_instance):
    inst = make_instance(setup=lambda i: i.config(smtpd_timeout="2s"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.sock.settimeout(10)
    t = time.monotonic()
    assert c.reply() == (421, ["4.4.2 mail.example.test Error: timeout exceeded"])
    assert 1.5 < time.monotonic() - t < 6
    inst.wait_log(r"timeout after EHLO from unknown\[127\.0\.0\.1\]")


def test_shutdown_421(instance):
    c = Raw(smtp_port(instance))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    instance.stop()
    c.sock.settimeout(20)
    assert c.reply()[0:1] == (421,)
    assert c.closed()


def test_http_client_dropped(instance):
    c = Raw(smtp_port(instance))
    assert c.cmd("GET / HTTP/1.0")[0] == 521
    assert c.closed()
    instance.wait_log(r"warning: non-SMTP command from unknown\[127\.0\.0\.1\]")


def test_swaks_session(instance):
    p = subprocess.run(["swaks", "--server",
                        f"127.0.0.1:{smtp_port(instance)}", "--to",
                        "demo@example.test", "--from", "s@client.example",
                        "--ehlo", "swaks.example"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "250 2.0.0 Ok: queued as" in p.stdout
    wait_queued(instance, 1)


def test_postmaster_always_accepted(make_instance):
    inst = make_instance(setup=untrusted)
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    for r in ("<Postmaster>", "<postmaster@example.test>",
              "<POSTMASTER@localhost>", "<postmaster@mail.example.test>",
              "<postmaster@localhost.example.test>"):
        assert c.cmd(f"RCPT TO:{r}")[0] == 250, r
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: pm\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    assert code == 250
    qid = queued_as((code, text))
    show = queue_show(inst, qid)
    assert "<Postmaster@mail.example.test>" in show
