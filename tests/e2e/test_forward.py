# SPDX-License-Identifier: MIT
"""Forwarded copies carry Delivered-To, which ends forwarding loops.

When local expands an alias into an address it does not deliver itself,
qmgr adds that address to the same message, remembering the address
whose expansion produced it; the copy the smtp agent sends for it has a
"Delivered-To: <that address>" on top (Postfix's local does the same), so
a loop between two hosts ends at its first return: local bounces a
message that already has a Delivered-To for an address it expands
(5.4.6), instead of the message going round until hopcount_limit.

Two instances as in test_two_orgs.py: one.test on 127.0.0.2, two.test on
127.0.0.3, the test's DNS server pointing each domain's MX at its
instance; and one instance with a sink SMTP server for byte-exact checks.
"""
import email
import email.policy
import re
import smtplib

import pytest

from conftest import maildir_files, wait_mail, wait_until
from dnsserver import DNSServer
from sink import Sink
from smtp_env import MX1, MX2, shared_port, smtp_on_shared_port
from test_delivery import BODY, queue_empty, smtp_send
from test_local import build_aliases

DEMO = "demo@example.test"


def demo_maildir(inst):
    return inst.dir / "mail" / "example.test" / "demo"


def org(make_instance, domain, addr, dns, port, aliases):
    """An instance for domain on addr: the domain is a mydestination
    domain with the given aliases; SMTP on the shared port."""
    def setup(inst):
        inst.config(myhostname=f"mail.{domain}", mydomain=domain,
                    mydestination=f"{domain}, mail.{domain}, localhost",
                    # The demo account (the tests' sender) stays local.
                    virtual_mailbox_domains="example.test",
                    dns_servers=dns.address, smtp_tcp_port=port,
                    smtp_tls_security_level="may")
        smtp_on_shared_port(inst, port)
        build_aliases(inst, aliases)
    return make_instance(interface=addr, setup=setup)


def send(inst, sender, rcpts, data):
    """One SMTP transaction with an instance on its own interface."""
    with smtplib.SMTP(inst.interface, inst.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example")
        s.sendmail(sender, rcpts, data)


def sent_lines(inst, rcpt):
    """qmgr's log lines for rcpt delivered (the smtp agent logs too)."""
    return re.findall(rf"/qmgr\[\d+\]: \w+: to=<{re.escape(rcpt)}>, "
                      r".*status=sent.*", inst.log())


def test_forwarding_loop_between_two_hosts_ends_at_first_return(
        make_instance):
    port = shared_port()
    zone = {"one.test": {"MX": [(10, "mail.one.test")]},
            "mail.one.test": {"A": [MX1]},
            "two.test": {"MX": [(10, "mail.two.test")]},
            "mail.two.test": {"A": [MX2]}}
    with DNSServer(zone) as dns:
        one = org(make_instance, "one.test", MX1, dns, port,
                  "a: b@two.test\n")
        two = org(make_instance, "two.test", MX2, dns, port,
                  "b: a@one.test\n")
        send(one, DEMO, ["a@one.test"],
             b"From: <demo@example.test>\r\nTo: <a@one.test>\r\n"
             b"Subject: round trip\r\n\r\nAround we go.\r\n")
        # The original sender (demo, a virtual account on one) is told.
        f = wait_mail(demo_maildir(one), 1, timeout=60)[0]
        msg = email.message_from_bytes(f.read_bytes(),
                                       policy=email.policy.compat32)
        assert msg["Subject"] == "Undelivered Mail Returned to Sender"
        status = msg.get_payload()[1].get_payload()
        rcpt = status[1]
        assert rcpt["Final-Recipient"] == "rfc822; a@one.test"
        assert rcpt["Action"] == "failed"
        assert rcpt["Status"] == "5.4.6"
        assert "mail forwarding loop for a@one.test" in \
            rcpt["Diagnostic-Code"]
        one.wait_log(r"to=<a@one\.test>, relay=local, .*dsn=5\.4\.6, "
                     r"status=bounced \(mail forwarding loop for "
                     r"a@one\.test\)")
        # The message that came back, as returned in the report: two's
        # Delivered-To on top, and below two's Received: the one the
        # forwarded copy carried when it reached two.
        hdrs = msg.get_payload()[2].get_payload()
        if not isinstance(hdrs, str):
            hdrs = hdrs[0].as_string()
        dt = re.findall(r"^Delivered-To: (.*)$", hdrs, re.M)
        assert dt == ["b@two.test", "a@one.test"], hdrs
        by_two = hdrs.index("by mail.two.test")
        assert by_two < hdrs.index("Delivered-To: a@one.test")
        assert hdrs.index("Delivered-To: b@two.test") < by_two
        assert len(re.findall(r"by mail\.two\.test", hdrs)) == 1
        assert len(re.findall(r"by mail\.one\.test", hdrs)) == 2
        # Exactly one round trip: one sent to two once, two back once.
        for inst in (one, two):
            wait_until(lambda: queue_empty(inst), timeout=30,
                       what="an empty queue")
        assert len(sent_lines(one, "b@two.test")) == 1
        assert len(sent_lines(two, "a@one.test")) == 1
        assert "orig_to=<a@one.test>" in sent_lines(one, "b@two.test")[0]
        assert len(maildir_files(demo_maildir(one))) == 1


# A body that dot-stuffing and the 8-bit downgrade both have to handle.
BODY8 = (b"From: Alice <alice@example.test>\r\n"
         b"To: someone\r\n"
         b"Subject: forwarded\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: 8bit\r\n"
         b"\r\n"
         b"line one\r\n"
         b".leading dot\r\n"
         b"8-bit \xc3\xa4 text\r\n"
         b"trailing space \r\n")


@pytest.mark.parametrize("eightbit", [True, False],
                         ids=["8bitmime", "downgraded"])
def test_forwarded_copy_has_one_delivered_to_and_is_otherwise_exact(
        make_instance, eightbit):
    port = shared_port()
    zone = {"remote.test": {"MX": [(10, "mx1.remote.test")]},
            "mx1.remote.test": {"A": [MX1]}}
    ext = ["PIPELINING", "SIZE 10240000", "ENHANCEDSTATUSCODES", "DSN"]
    if eightbit:
        ext.append("8BITMIME")
    with DNSServer(zone) as dns, \
            Sink(MX1, port, name="mx1.remote.test", extensions=ext) as sink:
        def setup(inst):
            inst.config(dns_servers=dns.address, smtp_tcp_port=port,
                        smtp_connect_timeout="5s", smtp_dns_timeout="2s")
            build_aliases(inst, "fwd: far@remote.test\n")
        inst = make_instance(setup=setup)
        # One message: a copy sent as is, and one forwarded by the alias.
        qid = smtp_send(inst, DEMO,
                        ["near@remote.test", "fwd@mail.example.test"],
                        BODY8)
        wait_until(lambda: len(sink.messages()) == 2, timeout=30,
                   what="both copies at the sink")
        inst.wait_log(rf"{qid}: removed")
        by_rcpt = {t["rcpts"][0].split(">")[0][len("RCPT TO:<"):]: t
                   for t in sink.messages()}
        direct, fwd = by_rcpt["near@remote.test"], by_rcpt["far@remote.test"]
        assert len(direct["rcpts"]) == 1 and len(fwd["rcpts"]) == 1
        head = b"Delivered-To: fwd@mail.example.test\r\n"
        assert fwd["data"] == head + direct["data"]
        assert fwd["data"].count(b"Delivered-To:") == 1
        assert b"Delivered-To" not in direct["data"]
        # Dot-stuffing and the conversion are the same in both.
        assert b"\r\n..leading dot\r\n" in direct["data"]
        if eightbit:
            assert "BODY=8BITMIME" in fwd["mail"]
            assert b"8-bit \xc3\xa4 text" in direct["data"]
        else:
            assert all(b < 128 for b in fwd["data"])
            assert b"quoted-printable" in direct["data"]

        # SIZE= counts the added line.
        def size(tx):
            return int(re.search(r"SIZE=(\d+)", tx["mail"]).group(1))
        assert size(fwd) == size(direct) + len(head)
        inst.wait_log(rf"{qid}: to=<far@remote\.test>, "
                      r"orig_to=<fwd@mail\.example\.test>, "
                      r"relay=mx1\.remote\.test.*status=sent")
