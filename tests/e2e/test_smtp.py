# SPDX-License-Identifier: MIT
"""smtp: the delivery agent, driven directly over private/smtp.

Each test runs its own DNS server and sink SMTP servers on 127.0.0.2 and
127.0.0.3 (smtp_env.py) and plays qmgr: a message file in spool/queue/,
a delivery request, one result per recipient. Asserts what an admin
would check: the result, the reason and DSN code, what the remote
server received, and the log line.
"""
import pytest

from smtp_env import MX1, MX2, SmtpEnv, message
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
