# SPDX-License-Identifier: MIT
"""smtpd names its clients the way Postfix does: a PTR name counts only
when a forward lookup of that name gives the client's address back;
otherwise the client is "unknown". Lookups go to dns_servers (the test's
own DNS server), never to the host's resolver."""
import smtplib

from dnsserver import DNSServer


def connect_line(inst, start):
    return inst.wait_log(r"smtpd\[\d+\]: connect from (\S+)\[127\.0\.0\.1\]",
                         start=start).group(1)


def greet(inst):
    with smtplib.SMTP("127.0.0.1", inst.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example.test")


def test_verified_name_unverified_name_and_no_name(make_instance):
    zone = {"1.0.0.127.in-addr.arpa": {"PTR": ["client.example.test"]},
            "client.example.test": {"A": ["127.0.0.1"]}}
    with DNSServer(zone) as dns:
        inst = make_instance(setup=lambda i: i.config(
            smtpd_peername_lookup="yes", dns_servers=dns.address))
        mark = len(inst.log())
        greet(inst)
        assert connect_line(inst, mark) == "client.example.test"

        # The name points elsewhere: not verified.
        dns.zone["client.example.test"] = {"A": ["127.0.0.9"]}
        mark = len(inst.log())
        greet(inst)
        assert connect_line(inst, mark) == "unknown"

        # No PTR at all.
        del dns.zone["1.0.0.127.in-addr.arpa"]
        mark = len(inst.log())
        greet(inst)
        assert connect_line(inst, mark) == "unknown"
        assert ("1.0.0.127.in-addr.arpa", "PTR") in dns.queries
