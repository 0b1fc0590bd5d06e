# SPDX-License-Identifier: MIT
"""smtpd DATA and BDAT: what lands in the queue, byte for byte; SIZE and
line limits; DSN parameters in the envelope; the SMTP smuggling variants
never produce a second message."""
import re

import pytest

from conftest import held
from smtp_util import (Raw, body_of, queue_show, queued_as, queued_files,
                       queued_ids, smtp_port, transaction, wait_queued)


@pytest.fixture
def make_instance(make_instance):
    """These tests read the queue files smtpd wrote: nothing may be
    delivered meanwhile."""
    return held(make_instance)


def all_8bit_lines():
    """Every byte value except CR and LF, in lines of 64."""
    data = bytes(b for b in range(256) if b not in (10, 13))
    return [data[i:i + 64] for i in range(0, len(data), 64)]


def test_8bitmime_body_byte_exact(instance):
    lines = [b"Subject: 8bit", b"Content-Type: text/plain; charset=latin1",
             b"Content-Transfer-Encoding: 8bit", b""] + all_8bit_lines() + [
             b".leading dot", b"..two dots", b"", b"trailing space ",
             b"\tTab"]
    wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in lines)
    c = Raw(smtp_port(instance))
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<a@b.example> BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(wire + b".\r\n")
    r = c.reply()
    assert r[0] == 250
    qid = queued_as(r)
    stored = queued_files(instance)[qid]
    assert body_of(stored) == b"".join(l + b"\n" for l in lines)
    assert "body: 8bitmime" in queue_show(instance, qid)
    # Received: carries the queue id
    assert re.match(rb"Received: from x\.example \(unknown \[127\.0\.0\.1\]\)"
                    rb"\n\tby mail\.example\.test \(Posthorn\) with ESMTP id "
                    + qid.encode() + rb"\n\tfor <demo@example\.test>; ",
                    stored)


def test_smtputf8_addresses_and_body(instance):
    body = "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße, 日本語\r\n"
    c = Raw(smtp_port(instance))
    c.cmd("EHLO x.example")
    # without SMTPUTF8 a UTF-8 address is refused
    assert c.cmd("MAIL FROM:<jörg@bücher.example>") == (
        553, ["5.6.7 Error: non-ASCII sender address needs SMTPUTF8"])
    assert c.cmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8 "
                 "BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<x@例え.example>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(body.encode() + b".\r\n")
    r = c.reply()
    assert r[0] == 250
    qid = queued_as(r)
    stored = queued_files(instance)[qid]
    assert body_of(stored) == body.replace("\r\n", "\n").encode()
    assert b"with UTF8SMTP id" in stored
    show = queue_show(instance, qid)
    assert "sender: <jörg@bücher.example>" in show
    assert "<x@例え.example>" in show
    assert "smtputf8" in show


def test_dsn_parameters_reach_the_envelope(instance):
    c = Raw(smtp_port(instance))
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ+2B314")[0] == 250
    assert c.cmd("RCPT TO:<demo@example.test> NOTIFY=SUCCESS,FAILURE "
                 "ORCPT=rfc822;demo+2Bx@example.test")[0] == 250
    assert c.cmd("RCPT TO:<postmaster@example.test> NOTIFY=NEVER")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: dsn\r\n\r\nx\r\n.\r\n")
    qid = queued_as(c.reply())
    show = queue_show(instance, qid)
    assert "envid: QQ+2B314" in show
    assert "ret: hdrs" in show
    assert re.search(r"recipient: <demo@example\.test> .*notify=6 "
                     r"orcpt=rfc822;demo\+2Bx@example\.test", show)
    assert re.search(r"recipient: <postmaster@example\.test> .*notify=1",
                     show)


def test_size_limits(make_instance):
    inst = make_instance(setup=lambda i: i.config(message_size_limit="2000"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=2001") == (
        552, ["5.3.4 Message size exceeds fixed limit"])
    inst.wait_log(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                  r"552 5\.3\.4 Message size exceeds fixed limit; "
                  r"from=<a@b\.example> proto=ESMTP helo=<x\.example>")
    # an undeclared size is enforced while streaming
    r = transaction(c, "a@b.example", ["demo@example.test"],
                    b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 0 +
                    (b"y" * 98 + b"\r\n") * 30)
    assert r == (552, ["5.3.4 Error: message file too big"])
    # the session is still in step
    assert c.cmd("NOOP")[0] == 250
    r = transaction(c, "a@b.example", ["demo@example.test"],
                    b"Subject: small\r\n\r\nok\r\n")
    assert r[0] == 250
    assert len(queued_ids(inst)) == 1


def test_line_length_limit(instance):
    c = Raw(smtp_port(instance))
    r = transaction(c, "a@b.example", ["demo@example.test"],
                    b"Subject: long\r\n\r\n" + b"z" * (1 << 20) + b"\r\n")
    assert r == (500, ["5.5.0 Error: line too long"])
    assert c.cmd("NOOP")[0] == 250
    # 998 characters + CRLF is within RFC 5321's 1000
    r = transaction(c, "a@b.example", ["demo@example.test"],
                    b"Subject: ok\r\n\r\n" + b"z" * 998 + b"\r\n")
    assert r[0] == 250


SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n",
           b"\r\n.\n"]


def smuggle_payload(end):
    return (b"Subject: first\r\n\r\nfirst body" + end +
            b"MAIL FROM:<evil@attacker.example>\r\n"
            b"RCPT TO:<demo@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nsecond\r\n")


@pytest.mark.parametrize("end", SMUGGLE, ids=lambda e: repr(e))
def test_smuggling_never_splits_a_second_message(instance, end):
    c = Raw(smtp_port(instance))
    r = transaction(c, "a@b.example", ["demo@example.test"],
                    smuggle_payload(end))
    assert r[0] == 250
    # nothing more follows: the "commands" were content
    assert c.cmd("QUIT")[0] == 221
    files = queued_files(instance)
    assert len(files) == 1
    stored = list(files.values())[0]
    assert b"MAIL FROM:<evil@attacker.example>" in stored
    assert b"Subject: smuggled" in stored
    instance.wait_log(r"bare <(LF|CR)> received from unknown\[127\.0\.0\.1\]"
                      r" \(normalized\)")


@pytest.mark.parametrize("end", SMUGGLE, ids=lambda e: repr(e))
def test_smuggling_rejected_in_reject_mode(make_instance, end):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_forbid_bare_newline="reject",
        smtpd_forbid_bare_newline_exclusions=""))
    c = Raw(smtp_port(inst))
    code, text = transaction(c, "a@b.example", ["demo@example.test"],
                             smuggle_payload(end))
    assert code == 550 and text[0].startswith("5.5.2 Error: bare <")
    assert c.cmd("QUIT")[0] == 221
    assert queued_ids(inst) == []


def test_bare_lf_command_in_reject_mode(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_forbid_bare_newline="reject",
        smtpd_forbid_bare_newline_exclusions=""))
    c = Raw(smtp_port(inst))
    c.send(b"EHLO x.example\n")
    assert c.reply() == (500, ["5.5.2 Error: bare <LF> received"])
    assert c.cmd("EHLO x.example")[0] == 250


def test_bdat_chunks(instance):
    c = Raw(smtp_port(instance))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<demo@example.test>")
    part1 = b"Subject: chunked\r\n\r\n.dot stays\r\nsplit CR"
    part2 = b"\r\nend\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert c.reply() == (250, ["2.0.0 Ok: %d bytes" % len(part1)])
    # pipelined: the last chunk and the next command in one write
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2 + b"NOOP\r\n")
    r = c.reply()
    assert r[0] == 250 and "queued as" in r[1][0]
    assert c.reply()[0] == 250
    stored = queued_files(instance)[queued_as(r)]
    assert body_of(stored) == b"Subject: chunked\n\n.dot stays\nsplit CR\nend\n"
    # BDAT without a transaction: the chunk is skipped, the session stays
    # in step
    c.send(b"BDAT 5\r\nRSET\r")
    assert c.reply() == (503, ["5.5.1 Error: need MAIL command"])
    assert c.cmd("NOOP")[0] == 250
    # BDAT with a malformed count
    assert c.cmd("BDAT x")[0] == 501
    # DATA after BDAT in one transaction is refused
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<demo@example.test>")
    c.send(b"BDAT 3\r\nabc")
    assert c.reply()[0] == 250
    assert c.cmd("DATA") == (503, ["5.5.1 Error: BDAT in progress"])
    c.send(b"BDAT 0 LAST\r\n")
    assert c.reply()[0] == 250
    assert len(queued_ids(instance)) == 2


def test_bdat_too_big_closes(make_instance):
    inst = make_instance(setup=lambda i: i.config(message_size_limit="1024"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<demo@example.test>")
    c.send(b"BDAT 600\r\n" + b"x" * 600)
    assert c.reply()[0] == 250
    c.send(b"BDAT 600 LAST\r\n" + b"x" * 600)
    assert c.reply() == (552, ["5.3.4 Error: message file too big"])
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("BDAT 5000")[0] == 552
    assert c.closed()
    assert queued_ids(inst) == []


def test_empty_message_and_dot_lines(instance):
    c = Raw(smtp_port(instance))
    r = transaction(c, "a@b.example", ["demo@example.test"], b"")
    assert r[0] == 250
    assert body_of(queued_files(instance)[queued_as(r)]) == b""
    r = transaction(c, "a@b.example", ["demo@example.test"],
                    b"..\r\n...\r\n.x\r\n")
    assert body_of(queued_files(instance)[queued_as(r)]) == b".\n..\nx\n"
