# SPDX-License-Identifier: MIT
"""smtp: the delivery agent, driven directly over private/smtp.

Each test runs its own DNS server and sink SMTP servers on 127.0.0.2 and
127.0.0.3 (smtp_env.py) and plays qmgr: a message file in spool/queue/,
a delivery request, one result per recipient. Asserts what an admin
would check: the result, the reason and DSN code, what the remote
server received, and the log line.
"""
import email
import email.policy

import pytest

from conftest import wait_until
from smtp_env import MX1, MX2, SmtpEnv, make_cert, message
from sink import unstuff

ZONE = {
    "remote.test": {"MX": [(10, "mx1.remote.test"), (20, "mx2.remote.test")]},
    "mx1.remote.test": {"A": [MX1]},
    "mx2.remote.test": {"A": [MX2]},
}


@pytest.fixture
def env(make_instance):
    envs = []

    def factory(zone=ZONE, **config):
        e = SmtpEnv(make_instance, zone, **config)
        envs.append(e)
        return e

    yield factory
    for e in envs:
        e.close()


def test_preferred_mx_gets_the_mail(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    s2 = e.sink(MX2, name="mx2.remote.test")
    body = message(body=b"Hello.\n.leading dot\n..two dots\nend\n")
    res, qid = e.deliver(["bob@remote.test"], "remote.test", body=body)
    assert res[0]["result"] == "sent", res
    assert res[0]["dsn"] == "2.0.0"
    assert res[0]["relay"] == f"mx1.remote.test[{MX1}]:{e.port}"
    assert res[0]["reason"].startswith("250 2.0.0 Ok: queued as")
    assert len(s1.messages()) == 1 and not s2.messages()
    tx = s1.messages()[0]
    assert tx["mail"].startswith("MAIL FROM:<alice@example.test>")
    assert tx["rcpts"] == ["RCPT TO:<bob@remote.test>"]
    # LF became CRLF, leading dots were doubled.
    assert tx["data"] == body.replace(b"\n", b"\r\n").replace(
        b"\r\n.", b"\r\n..")
    assert unstuff(tx["data"]) == body.replace(b"\n", b"\r\n")
    e.inst.wait_log(rf"{qid}: to=<bob@remote\.test>, "
                    rf"relay=mx1\.remote\.test\[127\.0\.0\.2\]:{e.port}, "
                    rf"delay=[0-9.]+, dsn=2\.0\.0, status=sent \(250 ")


def test_falls_back_when_preferred_mx_is_down(env):
    e = env()
    s2 = e.sink(MX2, name="mx2.remote.test")  # nothing listens on MX1
    res, qid = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert res[0]["relay"] == f"mx2.remote.test[{MX2}]:{e.port}"
    assert len(s2.messages()) == 1
    e.inst.wait_log(rf"{qid}: connect to mx1\.remote\.test\[127\.0\.0\.2\]:"
                    rf"{e.port}: Connection refused")


def test_421_greeting_moves_on_to_the_next_mx(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                greeting="421 4.3.2 mx1.remote.test busy")
    s2 = e.sink(MX2, name="mx2.remote.test")
    res, qid = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert not s1.transactions and len(s2.messages()) == 1
    e.inst.wait_log(rf"{qid}: host mx1\.remote\.test\[127\.0\.0\.2\] "
                    r"refused to talk to me: 421 4\.3\.2")


def test_all_mx_down_defers_with_the_last_reason(env):
    e = env()
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.4.1"
    assert res[0]["reason"] == (f"connect to mx2.remote.test[{MX2}]:"
                                f"{e.port}: Connection refused")


def test_implicit_mx(env):
    e = env({"plain.test": {"A": [MX2]}})
    s2 = e.sink(MX2, name="plain.test")
    res, _ = e.deliver(["bob@plain.test"], "plain.test")
    assert res[0]["result"] == "sent", res
    assert res[0]["relay"] == f"plain.test[{MX2}]:{e.port}"
    assert len(s2.messages()) == 1
    assert e.dns.asked("plain.test", "MX") and e.dns.asked("plain.test", "A")


def test_null_mx_bounces(env):
    e = env({"nomail.test": {"MX": [(0, ".")]}})
    res, qid = e.deliver(["bob@nomail.test"], "nomail.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.1.10"
    assert res[0]["relay"] == "none"
    assert "does not accept mail (nullMX)" in res[0]["reason"]
    e.inst.wait_log(rf"{qid}: to=<bob@nomail\.test>, relay=none, "
                    r"delay=[0-9.]+, dsn=5\.1\.10, status=bounced")


def test_nxdomain_bounces(env):
    e = env({})
    res, _ = e.deliver(["bob@nosuch.test"], "nosuch.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.1.2"
    assert res[0]["reason"] == ("Host or domain name not found. Name "
                                "service error for name=nosuch.test "
                                "type=MX: Host not found")


def test_servfail_defers(env):
    e = env({"broken.test": "SERVFAIL"})
    res, _ = e.deliver(["bob@broken.test"], "broken.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.4.3"
    assert "try again" in res[0]["reason"]


def test_dns_timeout_defers(env):
    e = env({"slow.test": "TIMEOUT"}, smtp_dns_timeout="1s")
    res, _ = e.deliver(["bob@slow.test"], "slow.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.4.3"


def test_4xx_defers_and_a_retry_succeeds(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    s1 = e.sink(MX1, name="mx1.remote.test",
                final_replies=["451 4.3.0 Temporary local problem"])
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.3.0"
    assert res[0]["reason"] == (
        f"host mx1.remote.test[{MX1}] said: 451 4.3.0 Temporary local "
        "problem (in reply to end of DATA command)")
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert len(s1.messages()) == 1


def test_rcpt_4xx_is_tried_at_the_backup_mx(env):
    e = env()
    e.sink(MX1, name="mx1.remote.test",
           rcpt_reply="450 4.2.0 <bob@remote.test>: mailbox busy")
    s2 = e.sink(MX2, name="mx2.remote.test")
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert len(s2.messages()) == 1


def test_5xx_bounces_only_the_rejected_recipient(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test", rcpt_reply={
        "nobody@remote.test":
            "550 5.1.1 <nobody@remote.test>: Recipient address rejected"})
    res, _ = e.deliver(["bob@remote.test", "nobody@remote.test"],
                       "remote.test")
    assert res[0]["result"] == "sent", res
    assert res[1]["result"] == "bounce"
    assert res[1]["dsn"] == "5.1.1"
    assert res[1]["reason"] == (
        f"host mx1.remote.test[{MX1}] said: 550 5.1.1 <nobody@remote.test>:"
        " Recipient address rejected (in reply to RCPT TO command)")
    assert res[1]["relay"] == f"mx1.remote.test[{MX1}]:{e.port}"
    assert len(s1.messages()) == 1


def test_mail_from_5xx_bounces_all(env):
    e = env()
    e.sink(MX1, name="mx1.remote.test",
           mail_reply="553 5.7.1 <alice@example.test>: Sender rejected")
    res, _ = e.deliver(["bob@remote.test", "carol@remote.test"],
                       "remote.test")
    assert [r["result"] for r in res] == ["bounce", "bounce"], res
    assert all(r["dsn"] == "5.7.1" for r in res)
    assert "(in reply to MAIL FROM command)" in res[0]["reason"]


def test_data_5xx_bounces(env):
    e = env()
    e.sink(MX1, name="mx1.remote.test",
           final_replies=["554 5.7.1 Message rejected as spam"])
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.7.1"
    assert "(in reply to end of DATA command)" in res[0]["reason"]


def test_several_recipients_travel_in_one_pipelined_transaction(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    rcpts = ["bob@remote.test", "carol@remote.test", "dave@remote.test"]
    res, _ = e.deliver(rcpts, "remote.test")
    assert [r["result"] for r in res] == ["sent"] * 3, res
    assert len(s1.transactions) == 1
    tx = s1.transactions[0]
    assert tx["rcpts"] == [f"RCPT TO:<{r}>" for r in rcpts]
    # PIPELINING: MAIL, RCPTs and DATA arrived before the first reply
    # was read, so the server saw them as one burst; the session's
    # command log shows no EHLO in between.
    cmds = s1.sessions[0]["commands"]
    i = cmds.index(tx["mail"])
    assert cmds[i:i + 5] == [tx["mail"]] + tx["rcpts"] + ["DATA"]


def test_without_pipelining_commands_go_one_by_one(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["8BITMIME", "ENHANCEDSTATUSCODES"],
                rcpt_reply={"nobody@remote.test": "550 5.1.1 unknown"})
    res, _ = e.deliver(["nobody@remote.test"], "remote.test")
    assert res[0]["result"] == "bounce", res
    # All recipients refused: no DATA.
    assert "DATA" not in s1.sessions[0]["commands"]


def test_helo_fallback(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                ehlo_reply="502 5.5.2 Error: command not recognized")
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    cmds = s1.sessions[0]["commands"]
    assert cmds[0].startswith("EHLO ") and cmds[1].startswith("HELO ")
    # No ESMTP: no SIZE= on MAIL FROM.
    assert s1.messages()[0]["mail"] == "MAIL FROM:<alice@example.test>"


def test_size_limit_of_the_server_bounces(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", "SIZE 100"])
    res, _ = e.deliver(["bob@remote.test"], "remote.test",
                       body=message(body=b"x" * 200 + b"\n"))
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.3.4"
    assert "exceeds size limit 100 of server" in res[0]["reason"]
    assert not s1.transactions


def test_size_is_announced(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    body = message(body=b"a\nb\n")
    e.deliver(["bob@remote.test"], "remote.test", body=body)
    crlf_size = len(body) + body.count(b"\n")
    assert f"SIZE={crlf_size}" in s1.messages()[0]["mail"]


def test_smtputf8_needed_and_absent_bounces(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    s1 = e.sink(MX1, name="mx1.remote.test")
    res, _ = e.deliver(["bøb@remote.test"], "remote.test", smtputf8="1")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.6.7"
    assert "SMTPUTF8 is required, but was not offered" in res[0]["reason"]
    assert not s1.transactions


def test_smtputf8_offered_is_used(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", "8BITMIME", "SMTPUTF8"])
    res, _ = e.deliver(["bøb@remote.test"], "remote.test", smtputf8="1")
    assert res[0]["result"] == "sent", res
    assert s1.messages()[0]["mail"].endswith(" SMTPUTF8")


def test_dsn_parameters_are_passed_on(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    res, _ = e.deliver([{"rcpt": "bob@remote.test",
                         "orcpt": "rfc822;Bob+x=y@remote.test",
                         "notify": "SUCCESS,FAILURE"}], "remote.test",
                       ret="HDRS", envid="id 42")
    assert res[0]["result"] == "sent", res
    tx = s1.messages()[0]
    assert "RET=HDRS" in tx["mail"] and "ENVID=id+2042" in tx["mail"]
    assert tx["rcpts"] == ["RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,FAILURE"
                           " ORCPT=rfc822;Bob+2Bx+3Dy@remote.test"]


def test_dsn_parameters_are_dropped_without_dsn_support(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", "8BITMIME"])
    e.deliver([{"rcpt": "bob@remote.test", "orcpt": "rfc822;bob@remote.test",
                "notify": "NEVER"}], "remote.test", ret="FULL")
    tx = s1.messages()[0]
    assert tx["mail"] == "MAIL FROM:<alice@example.test>"
    assert tx["rcpts"] == ["RCPT TO:<bob@remote.test>"]


# ---- STARTTLS ----------------------------------------------------------

@pytest.fixture
def cert(tmp_path):
    return make_cert(tmp_path, ["mx1.remote.test", "relay.remote.test"])


def test_starttls_may_with_a_self_signed_sink(env, cert):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    res, qid = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert s1.messages()[0]["tls"]
    cmds = s1.sessions[0]["commands"]
    assert cmds[1] == "STARTTLS" and cmds[2].startswith("EHLO ")
    e.inst.wait_log(r"Untrusted TLS connection established to "
                    rf"mx1\.remote\.test\[127\.0\.0\.2\]:{e.port}: "
                    r"TLSv1\.3 with cipher \S+")


def test_starttls_verify_fails_with_a_self_signed_sink(env, cert):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}},
            smtp_tls_security_level="verify")
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.5"
    assert not s1.transactions


def test_starttls_verify_succeeds_with_the_sink_cert_as_cafile(env, cert):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}},
            smtp_tls_security_level="verify", smtp_tls_CAfile=cert[0])
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert s1.messages()[0]["tls"]
    e.inst.wait_log(r"Verified TLS connection established to "
                    rf"mx1\.remote\.test\[127\.0\.0\.2\]:{e.port}: TLSv1\.3")


def test_encrypt_without_starttls_defers(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}},
            smtp_tls_security_level="encrypt")
    s1 = e.sink(MX1, name="mx1.remote.test")
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.4"
    assert res[0]["reason"] == ("TLS is required, but was not offered by "
                                f"host mx1.remote.test[{MX1}]")
    assert not s1.transactions


def test_level_none_never_starts_tls(env, cert):
    e = env(smtp_tls_security_level="none")
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    e.deliver(["bob@remote.test"], "remote.test")
    assert not s1.messages()[0]["tls"]
    assert "STARTTLS" not in s1.sessions[0]["commands"]


# ---- 8-bit content -----------------------------------------------------

def test_8bit_body_to_a_7bit_sink_arrives_as_quoted_printable(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", "SIZE 1000000"])
    text = "Grüße aus Köln — ça va?\n.dot line\ntrailing space \n"
    body = message(body=text.encode(), extra_headers=(
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n"))
    res, _ = e.deliver(["bob@remote.test"], "remote.test", body=body,
                       body_type="8BITMIME")
    assert res[0]["result"] == "sent", res
    tx = s1.messages()[0]
    assert "BODY=8BITMIME" not in tx["mail"]
    raw = unstuff(tx["data"])
    assert all(b < 128 for b in raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    # Hard line breaks are CRLF on the wire (RFC 2045 6.7 rule 4).
    assert msg.get_content().replace("\r\n", "\n") == text
    assert msg["Subject"] == "test"


def test_8bit_multipart_converts_only_the_8bit_part(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test", extensions=["PIPELINING"])
    body = (b"MIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"XX\"\n"
            b"Content-Transfer-Encoding: 8bit\n"
            b"\n"
            b"preamble\n"
            b"--XX\n"
            b"Content-Type: text/plain; charset=us-ascii\n"
            b"\n"
            b"plain ascii part\n"
            b"--XX\n"
            b"Content-Type: text/plain; charset=iso-8859-1\n"
            b"Content-Transfer-Encoding: 8bit\n"
            b"\n"
            b"caf\xe9\n"
            b"--XX--\n")
    res, _ = e.deliver(["bob@remote.test"], "remote.test",
                       body=b"Subject: mp\n" + body)
    assert res[0]["result"] == "sent", res
    raw = unstuff(s1.messages()[0]["data"])
    assert all(b < 128 for b in raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Content-Transfer-Encoding"] == "7bit"
    parts = list(msg.iter_parts())
    # The line end before a delimiter belongs to it (RFC 2046 5.1.1).
    assert parts[0].get_content() == "plain ascii part"
    assert parts[1]["Content-Transfer-Encoding"] == "quoted-printable"
    assert parts[1].get_content() == "café"
    assert b"Content-Type: text/plain; charset=us-ascii\r\n\r\nplain ascii" \
        b" part\r\n--XX" in raw


def test_8bit_header_to_a_7bit_sink_bounces(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    s1 = e.sink(MX1, name="mx1.remote.test", extensions=["PIPELINING"])
    res, _ = e.deliver(["bob@remote.test"], "remote.test",
                       body=message(subject="Grüße", body=b"x\xc3\xa4\n"))
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.6.3"
    assert not s1.transactions


def test_8bit_body_to_an_8bitmime_sink_is_sent_as_is(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    body = message(body="Grüße\n".encode())
    res, _ = e.deliver(["bob@remote.test"], "remote.test", body=body)
    assert res[0]["result"] == "sent", res
    tx = s1.messages()[0]
    assert "BODY=8BITMIME" in tx["mail"]
    assert tx["data"] == body.replace(b"\n", b"\r\n")


# ---- relayhost and AUTH -----------------------------------------------

def test_relayhost_with_auth(env, cert):
    e = env({"relay.remote.test": {"A": [MX2],
                                   "MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}},
            smtp_sasl_auth_enable="yes")
    nexthop = f"[relay.remote.test]:{e.port}"
    e.inst.config(smtp_sasl_password_maps="inline:{ %s=alice:s3cret }"
                  % nexthop)
    s2 = e.sink(MX2, name="relay.remote.test", starttls=cert,
                auth={"alice": "s3cret"})
    res, _ = e.deliver(["bob@elsewhere.test"], nexthop)
    assert res[0]["result"] == "sent", res
    assert res[0]["relay"] == f"relay.remote.test[{MX2}]:{e.port}"
    tx = s2.messages()[0]
    assert tx["tls"] and tx["auth"] == ("PLAIN", "alice")
    # [host] means no MX lookup.
    assert not e.dns.asked("relay.remote.test", "MX")
    assert "s3cret" not in e.inst.log()


def test_relayhost_auth_login_and_wrong_password(env):
    e = env({"relay.remote.test": {"A": [MX2]}}, smtp_sasl_auth_enable="yes")
    e.inst.config(smtp_sasl_password_maps="inline:{ relay.remote.test="
                  "alice:wrong }")
    s2 = e.sink(MX2, name="relay.remote.test", auth={"alice": "s3cret"})
    res, _ = e.deliver(["bob@elsewhere.test"], "[relay.remote.test]")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.8"
    assert "SASL authentication failed" in res[0]["reason"]
    assert not s2.transactions


# ---- connection reuse -------------------------------------------------

def test_connection_is_reused_for_the_same_nexthop(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    c = e.connect()
    try:
        for _ in range(3):
            res, _ = e.deliver(["bob@remote.test"], "remote.test", conn=c)
            assert res[0]["result"] == "sent", res
    finally:
        c.close()
    assert len(s1.messages()) == 3
    assert len(s1.sessions) == 1
    assert s1.sessions[0]["commands"].count("RSET") == 2


def test_idle_cached_connection_is_closed(env):
    e = env(smtp_connection_cache_time_limit="1s")
    s1 = e.sink(MX1, name="mx1.remote.test")
    c = e.connect()
    try:
        e.deliver(["bob@remote.test"], "remote.test", conn=c)
        wait_until(lambda: s1.sessions[0]["closed"], timeout=5,
                   what="cached session closed")
        assert s1.sessions[0]["commands"][-1] == "QUIT"
        e.deliver(["bob@remote.test"], "remote.test", conn=c)
    finally:
        c.close()
    assert len(s1.sessions) == 2


def test_another_nexthop_gets_a_new_connection(env):
    zone = dict(ZONE)
    zone["other.test"] = {"MX": [(10, "mx1.remote.test")]}
    e = env(zone)
    s1 = e.sink(MX1, name="mx1.remote.test")
    c = e.connect()
    try:
        e.deliver(["bob@remote.test"], "remote.test", conn=c)
        e.deliver(["bob@other.test"], "other.test", conn=c)
    finally:
        c.close()
    assert len(s1.sessions) == 2
    assert s1.sessions[0]["commands"][-1] == "QUIT"


# ---- loops --------------------------------------------------------------

def test_mx_pointing_at_myself_loops_back(env):
    e = env({"loop.test": {"MX": [(10, "me.loop.test")]},
             "me.loop.test": {"A": ["127.0.0.1"]}})
    res, _ = e.deliver(["bob@loop.test"], "loop.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.4.6"
    assert res[0]["reason"] == "mail for loop.test loops back to myself"


def test_mx_named_like_myhostname_loops_back(env):
    e = env({"loop.test": {"MX": [(10, "mail.example.test")]},
             "mail.example.test": {"A": [MX1]}})
    res, _ = e.deliver(["bob@loop.test"], "loop.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["reason"] == "mail for loop.test loops back to myself"


def test_backup_mx_that_is_me_only_uses_better_hosts(env):
    e = env({"loop.test": {"MX": [(10, "mx1.remote.test"),
                                  (20, "mail.example.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    s1 = e.sink(MX1, name="mx1.remote.test")
    res, _ = e.deliver(["bob@loop.test"], "loop.test")
    assert res[0]["result"] == "sent", res
    assert len(s1.messages()) == 1


def test_server_greeting_with_my_name_loops_back(env):
    e = env()
    e.sink(MX1, name="mail.example.test")
    res, qid = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.4.6"
    e.inst.wait_log(r"greeted me with my own hostname mail\.example\.test")


# ---- forwarded copies (delivered_to) -----------------------------------

CHAIN = "a@one.test\nx@one.test"
CHAIN_LINES = b"Delivered-To: a@one.test\r\nDelivered-To: x@one.test\r\n"


def test_forwarded_copy_carries_its_delivered_to_by_data(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    body = message(body=b".dot line\nend\n")
    res, _ = e.deliver(["bob@remote.test", "carl@remote.test"],
                       "remote.test", body=body, delivered_to=CHAIN)
    assert [r["result"] for r in res] == ["sent", "sent"], res
    tx = s1.messages()[0]
    # On top, in the chain's order; the message itself as ever
    # (CRLF, dot-stuffed); SIZE= counts the lines.
    assert tx["data"] == CHAIN_LINES + body.replace(b"\n", b"\r\n") \
        .replace(b"\r\n.dot", b"\r\n..dot")
    crlf_size = len(body) + body.count(b"\n")
    assert f"SIZE={crlf_size + len(CHAIN_LINES)}" in tx["mail"]


def test_forwarded_copy_carries_its_delivered_to_by_bdat(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", "8BITMIME", "CHUNKING",
                            "BINARYMIME", "SIZE 1000000"])
    body = message(body=b"\x00\x01binary\r\n.\n\xff")
    res, _ = e.deliver(["bob@remote.test"], "remote.test", body=body,
                       body_type="BINARYMIME", delivered_to=CHAIN)
    assert res[0]["result"] == "sent", res
    tx = s1.messages()[0]
    assert tx["bdat"] and tx["data"] == CHAIN_LINES + body


def test_delivered_to_counts_toward_the_server_size_limit(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    body = message()
    crlf_size = len(body) + body.count(b"\n")
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", f"SIZE {crlf_size}"])
    res, _ = e.deliver(["bob@remote.test"], "remote.test", body=body,
                       delivered_to="a@one.test")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.3.4"
    assert not s1.transactions
    res, _ = e.deliver(["bob@remote.test"], "remote.test", body=body)
    assert res[0]["result"] == "sent", res


def test_8bit_delivered_to_only_in_an_smtputf8_transaction(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test")
    chain = "b\u00f8b@one.test\na@one.test"
    e.deliver(["bob@remote.test"], "remote.test", delivered_to=chain)
    assert s1.messages()[0]["data"].startswith(
        b"Delivered-To: a@one.test\r\nReceived: ")
    s2 = e.sink(MX2, name="mx2.remote.test",
                extensions=["PIPELINING", "8BITMIME", "SMTPUTF8"])
    e.deliver(["bob@remote.test"], "[127.0.0.3]", delivered_to=chain,
              smtputf8="1")
    assert s2.messages()[0]["data"].startswith(
        "Delivered-To: b\u00f8b@one.test\r\n".encode() +
        b"Delivered-To: a@one.test\r\nReceived: ")


def test_malformed_delivered_to_closes_the_connection(env):
    e = env()
    c = e.connect()
    try:
        qid = e.put_message(message())
        c.send(e.request(qid, message(), ["bob@remote.test"], "remote.test",
                         delivered_to="a@one.test\r\nX-Injected: yes"))
        with pytest.raises(EOFError):
            c.recv()
    finally:
        c.close()
    e.inst.wait_log(r"malformed request from qmgr: malformed delivered_to")


# ---- the request itself ------------------------------------------------

def test_missing_queue_file_defers_the_request(env):
    e = env()
    c = e.connect()
    try:
        req = e.request("NOSUCHFILE", b"", ["bob@remote.test"],
                        "remote.test")
        reply = c.call(req)
    finally:
        c.close()
    assert reply[0] == ("status", "defer"), reply


def test_malformed_request_closes_the_connection(env):
    e = env()
    c = e.connect()
    try:
        req = e.request("Q1", b"", ["bob@remote.test"], "remote.test")
        req = [a for a in req if a[0] != "sender"]
        c.send(req)
        with pytest.raises(EOFError):
            c.recv()
    finally:
        c.close()
    e.inst.wait_log(r"malformed request from qmgr: missing attribute sender")


# ---- failures in mid-session ------------------------------------------

def test_tls_failure_at_level_may_retries_in_plaintext(env, cert):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert,
                starttls_broken=True)
    res, qid = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert len(s1.sessions) == 2
    assert "STARTTLS" not in s1.sessions[1]["commands"]
    assert not s1.messages()[0]["tls"]
    e.inst.wait_log(rf"{qid}: mx1\.remote\.test\[127\.0\.0\.2\]:{e.port}: "
                    r"trying again without TLS")


def test_timeout_after_the_dot_defers(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}},
            smtp_data_done_timeout="1s")
    e.sink(MX1, name="mx1.remote.test", final_delay=3)
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.4.2"
    assert res[0]["reason"] == (
        f"conversation with mx1.remote.test[{MX1}] timed out while sending "
        "end of data -- message may be sent more than once")


def test_lost_connection_after_the_dot_tries_the_next_mx(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test", drop_after_data=True)
    s2 = e.sink(MX2, name="mx2.remote.test")
    res, qid = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert s1.transactions and len(s2.messages()) == 1
    e.inst.wait_log(rf"{qid}: lost connection with mx1\.remote\.test"
                    r"\[127\.0\.0\.2\] while sending end of data")


def test_many_recipients_are_pipelined_in_groups(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test", rcpt_reply=lambda a: (
        "550 5.1.1 unknown" if a.startswith("x7") else "250 2.1.5 Ok"))
    # 80 recipients: three groups of pipelined commands.
    rcpts = [f"x{i}@remote.test" for i in range(80)]
    res, _ = e.deliver(rcpts, "remote.test")
    bounced = {r["rcpt_id"] for r in res if r["result"] == "bounce"}
    assert bounced == {f"id{i}" for i in range(80)
                       if str(i).startswith("7")}
    assert all(r["result"] == "sent" for r in res
               if r["rcpt_id"] not in bounced)
    assert len(s1.messages()) == 1
    assert len(s1.messages()[0]["rcpts"]) == 80


def test_binarymime_goes_by_bdat(env):
    e = env()
    s1 = e.sink(MX1, name="mx1.remote.test",
                extensions=["PIPELINING", "8BITMIME", "CHUNKING",
                            "BINARYMIME"])
    body = message(body=b"\x00\x01binary\r\n.\n\xff")
    res, _ = e.deliver(["bob@remote.test"], "remote.test", body=body,
                       body_type="BINARYMIME")
    assert res[0]["result"] == "sent", res
    tx = s1.messages()[0]
    assert tx["bdat"] and tx["data"] == body
    assert "BODY=BINARYMIME" in tx["mail"]


def test_binarymime_without_chunking_bounces(env):
    e = env({"remote.test": {"MX": [(10, "mx1.remote.test")]},
             "mx1.remote.test": {"A": [MX1]}})
    e.sink(MX1, name="mx1.remote.test")
    res, _ = e.deliver(["bob@remote.test"], "remote.test",
                       body=message(), body_type="BINARYMIME")
    assert res[0]["result"] == "bounce", res
    assert res[0]["dsn"] == "5.6.3"


def test_more_recipients_than_a_reply_can_carry_is_an_error(env):
    e = env()
    c = e.connect()
    try:
        qid = e.put_message(message())
        reply = c.call(e.request(qid, message(),
                                 [f"x{i}@remote.test" for i in range(90)],
                                 "remote.test"))
    finally:
        c.close()
    assert reply[0] == ("status", "error"), reply
    assert "at most 80 recipients" in reply[1][1]
