# SPDX-License-Identifier: MIT
"""Two organisations exchange mail (issue 6, "Done when").

Instance A (alpha.test) runs on 127.0.0.2, instance B (beta.test) on
127.0.0.3, both on the same SMTP port (smtp_tcp_port) and both asking the
test's DNS server, which gives each domain an MX pointing at its
instance. Alice submits on A's submission port to bob@beta.test; the mail
crosses by MX to B and lands in Bob's maildir; Bob's reply comes back.

Needs the whole pipeline: smtpd (submission with AUTH), qmgr scheduling
remote recipients to smtp and local ones to local, and local; the reader
checks over POP3 (Bob) and IMAP (Alice) as well as in the maildir.
"""
import imaplib
import pathlib
import poplib
import smtplib
import ssl

import pytest

from conftest import wait_until
from dnsserver import DNSServer
from smtp_env import MX1, MX2, shared_port, smtp_on_shared_port

def org(make_instance, domain, addr, dns, port, user, password):
    def setup(inst):
        inst.config(myhostname=f"mail.{domain}", mydomain=domain,
                    virtual_mailbox_domains=domain,
                    dns_servers=dns.address, smtp_tcp_port=port,
                    # Each side has a self-signed certificate.
                    smtp_tls_security_level="may")
        smtp_on_shared_port(inst, port)
        inst.run("user", "add", f"{user}@{domain}", input=password + "\n")
    return make_instance(interface=addr, setup=setup)


def maildir_messages(inst, domain, user):
    base = inst.dir / "mail" / domain / user
    out = []
    for sub in ("new", "cur"):
        d = base / sub
        if d.is_dir():
            out += sorted(d.iterdir())
    return out


def submit(inst, user, password, sender, rcpt, subject):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(inst.interface, inst.ports["submission"],
                      timeout=30) as s:
        s.starttls(context=ctx)
        s.login(user, password)
        s.sendmail(sender, [rcpt],
                   f"From: <{sender}>\r\nTo: <{rcpt}>\r\n"
                   f"Subject: {subject}\r\n\r\nHello from {sender}.\r\n")


def pop3_subjects(inst, user, password):
    """What the user's mail client sees: the Subject of each message."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    p = poplib.POP3(inst.interface, inst.ports["pop3"], timeout=30)
    try:
        p.stls(context=ctx)
        p.user(user)
        p.pass_(password)
        out = []
        for i in range(1, p.stat()[0] + 1):
            for line in p.retr(i)[1]:
                if line.startswith(b"Subject: "):
                    out.append(line[9:].decode())
        return out
    finally:
        p.quit()


def imap_subjects(inst, user, password):
    """The Subjects in the user's INBOX, as an IMAP client sees them."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4(inst.interface, inst.ports["imap"], timeout=30)
    try:
        m.starttls(ssl_context=ctx)
        m.login(user, password)
        m.select("INBOX", readonly=True)
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        return [part[1].decode().strip()[len("Subject: "):]
                for part in data if isinstance(part, tuple)]
    finally:
        m.logout()


def test_two_organisations_exchange_mail(make_instance):
    port = shared_port()
    zone = {"alpha.test": {"MX": [(10, "mail.alpha.test")]},
            "mail.alpha.test": {"A": [MX1]},
            "beta.test": {"MX": [(10, "mail.beta.test")]},
            "mail.beta.test": {"A": [MX2]}}
    with DNSServer(zone) as dns:
        a = org(make_instance, "alpha.test", MX1, dns, port, "alice", "pw-a")
        b = org(make_instance, "beta.test", MX2, dns, port, "bob", "pw-b")
        submit(a, "alice@alpha.test", "pw-a", "alice@alpha.test",
               "bob@beta.test", "hello bob")
        msgs = wait_until(lambda: maildir_messages(b, "beta.test", "bob"),
                          timeout=30, what="mail in bob's maildir")
        text = pathlib.Path(msgs[0]).read_bytes()
        assert b"Subject: hello bob" in text
        a.wait_log(r"to=<bob@beta\.test>, relay=mail\.beta\.test"
                   rf"\[127\.0\.0\.3\]:{port}, .*status=sent")
        assert pop3_subjects(b, "bob@beta.test", "pw-b") == ["hello bob"]
        submit(b, "bob@beta.test", "pw-b", "bob@beta.test",
               "alice@alpha.test", "re: hello bob")
        msgs = wait_until(lambda: maildir_messages(a, "alpha.test", "alice"),
                          timeout=30, what="reply in alice's maildir")
        assert b"Subject: re: hello bob" in pathlib.Path(msgs[0]).read_bytes()
        assert imap_subjects(a, "alice@alpha.test", "pw-a") == [
            "re: hello bob"]
