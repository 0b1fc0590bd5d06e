# SPDX-License-Identifier: MIT
"""Bounces, DSNs and retries, checked from the sender's mailbox.

A report is parsed with Python's email package and checked against RFC
3464/6522: multipart/report; report-type=delivery-status with a text
part, a message/delivery-status part (per-message and per-recipient
fields) and the original (headers, or the whole message with RET=FULL),
sent with the null sender. NOTIFY decides which notices go out; a bounce
that cannot be delivered goes to postmaster, and one that cannot reach
postmaster either is dropped with a log line: nothing loops.
Temporary failures come from a delivery agent played by the test
(fake_agent.py), reached through transport_maps.
"""
import email
import email.policy
import re
import time

import pytest

from conftest import maildir_files, wait_mail, wait_until
from fake_agent import FakeAgent, every
from test_delivery import BODY, queue_empty, sendmail, smtp_send

DEMO = "demo@example.test"


def demo_maildir(inst):
    return inst.dir / "mail" / "example.test" / "demo"


def parse(path):
    return email.message_from_bytes(path.read_bytes(),
                                    policy=email.policy.compat32)


def report_parts(msg, return_path="<>"):
    """Checks the multipart/report structure; returns (text, per-message
    fields, per-recipient field blocks, original part)."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Return-Path"] == return_path
    assert msg["Auto-Submitted"] == "auto-replied"
    parts = msg.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    text, status, orig = parts
    assert text.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    assert len(blocks) >= 2
    return text.get_payload(), blocks[0], blocks[1:], orig


def test_missing_user_bounce_reaches_the_sender(make_instance):
    inst = make_instance()
    sendmail(inst, "-f", DEMO, "nosuch@example.test")
    f = wait_mail(demo_maildir(inst), 1)[0]
    msg = parse(f)
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["To"] == f"<{DEMO}>"
    assert msg["From"].startswith("MAILER-DAEMON@mail.example.test")
    text, per_msg, rcpts, orig = report_parts(msg)
    assert "<nosuch@example.test>: unknown user" in text
    assert per_msg["Reporting-MTA"] == "dns; mail.example.test"
    assert per_msg["Arrival-Date"]
    email.utils.parsedate_to_datetime(per_msg["Arrival-Date"])
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; nosuch@example.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Diagnostic-Code"].startswith("x-unix; unknown user")
    # Without RET=FULL: the original's header block only.
    assert orig.get_content_type() == "text/rfc822-headers"
    hdrs = orig.get_payload()
    assert "Subject: bytes exact" in hdrs and "line one" not in hdrs
    inst.wait_log(r"status=bounced \(unknown user")
    inst.wait_log(r": sender non-delivery notification: [0-9A-Za-z]{15}")
    wait_until(lambda: queue_empty(inst), what="an empty queue")


def test_ret_full_envid_orcpt_and_notify_by_smtp(make_instance):
    def setup(inst):
        inst.config(transport_maps="inline:{ nowhere.test=error:5.1.2 "
                                   "no such domain here }")
    inst = make_instance(setup=setup)
    smtp_send(inst, DEMO, ["gone@nowhere.test"], BODY,
              mail_options=["RET=FULL", "ENVID=env+2Bid-42"],
              rcpt_options=["NOTIFY=FAILURE",
                            "ORCPT=rfc822;first+2Bext@example.test"])
    f = wait_mail(demo_maildir(inst), 1)[0]
    text, per_msg, rcpts, orig = report_parts(parse(f))
    assert per_msg["Original-Envelope-Id"] == "env+id-42"
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; gone@nowhere.test"
    assert r["Original-Recipient"] == "rfc822; first+ext@example.test"
    # The error transport's text may lead with the status to report.
    assert r["Status"] == "5.1.2"
    assert r["Diagnostic-Code"] == "x-unix; no such domain here"
    # RET=FULL: the whole original, byte for byte after the Received:.
    assert orig.get_content_type() == "message/rfc822"
    raw = f.read_bytes()
    body = BODY.replace(b"\r\n", b"\n")
    assert body in raw

    # NOTIFY=NEVER: bounced, and nobody is told.
    smtp_send(inst, DEMO, ["again@nowhere.test"], BODY,
              rcpt_options=["NOTIFY=NEVER"])
    inst.wait_log(r"to=<again@nowhere\.test>, .*status=bounced")
    # NOTIFY=SUCCESS: a delivery report for the delivered recipient.
    qid = smtp_send(inst, DEMO, [DEMO], BODY,
                    rcpt_options=["NOTIFY=SUCCESS"])
    inst.wait_log(rf"{qid}: sender delivery status notification: ")
    files = wait_mail(demo_maildir(inst), 3)
    subjects = sorted(parse(x)["Subject"] for x in files)
    assert subjects == ["Successful Mail Delivery Report",
                        "Undelivered Mail Returned to Sender", "bytes exact"]
    ok = [x for x in files
          if parse(x)["Subject"] == "Successful Mail Delivery Report"][0]
    _, _, rcpts, orig = report_parts(parse(ok))
    assert rcpts[0]["Action"] == "delivered"
    assert rcpts[0]["Status"] == "2.0.0"
    assert orig.get_content_type() == "text/rfc822-headers"
    wait_until(lambda: queue_empty(inst), what="an empty queue")
    # No notice for NOTIFY=NEVER.
    assert len(maildir_files(demo_maildir(inst))) == 3


def test_bounce_of_a_bounce_goes_to_postmaster(make_instance):
    inst = make_instance()
    # A null-sender message that cannot be delivered: there is nobody
    # to return it to, so postmaster (demo, by the virtual alias) gets
    # the double bounce from double-bounce@.
    sendmail(inst, "-f", "", "nosuch@example.test")
    f = wait_mail(demo_maildir(inst), 1)[0]
    msg = parse(f)
    assert msg["Subject"] == "Postmaster Copy: Undelivered Mail"
    text, _, rcpts, orig = report_parts(
        msg, return_path="<double-bounce@example.test>")
    assert "for the sender <>" in text
    assert rcpts[0]["Final-Recipient"] == "rfc822; nosuch@example.test"
    assert orig.get_content_type() == "text/rfc822-headers"
    inst.wait_log(r": postmaster non-delivery notification: ")
    wait_until(lambda: queue_empty(inst), what="an empty queue")


def test_undeliverable_double_bounce_is_dropped(make_instance):
    def setup(inst):
        inst.config(bounce_notice_recipient="nobody-here@example.test")
    inst = make_instance(setup=setup)
    sendmail(inst, "-f", "", "nosuch@example.test")
    inst.wait_log(r"undeliverable postmaster notification discarded")
    wait_until(lambda: queue_empty(inst), what="an empty queue")
    time.sleep(1)
    log = inst.log()
    # Exactly one bounce, one double bounce, then nothing more.
    assert len(re.findall(r"postmaster non-delivery notification",
                          log)) == 1
    assert len(re.findall(r"status=bounced", log)) == 2


def retry_config(lifetime):
    def setup(inst):
        inst.config(transport_maps="inline:{ slow.test=fake: }",
                    minimal_backoff_time="1s", maximal_backoff_time="4s",
                    queue_run_delay="1s", maximal_queue_lifetime=lifetime)
    return setup


def test_temp_failure_retried_with_growing_delays_then_returned(
        make_instance):
    inst = make_instance(setup=retry_config("14s"))
    agent = FakeAgent(inst, "fake", every("defer", dsn="4.4.1",
                                          reason="try again later"))
    try:
        start = time.monotonic()
        sendmail(inst, "-f", DEMO, "someone@slow.test")
        inst.wait_log(r"status=expired, returned to sender", timeout=40)
        f = wait_mail(demo_maildir(inst), 1)[0]
        times = [t - start for t in agent.times()]
    finally:
        agent.close()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) >= 4, times
    # 1, 2, 4, 4 ... seconds, give or take the one-second scan.
    assert gaps[0] < 2.6, gaps
    assert max(gaps) >= 3.0, gaps
    assert all(g < 5.6 for g in gaps), gaps
    assert gaps[1] >= gaps[0] - 0.6 and gaps[2] >= gaps[1] - 0.6, gaps
    # Returned close to the lifetime, not a backoff later.
    assert 13 <= times[-1] <= 17, times
    text, per_msg, rcpts, orig = report_parts(parse(f))
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; someone@slow.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.1"
    assert r["Remote-MTA"] == "dns; fake.test"
    assert "try again later" in r["Diagnostic-Code"]
    assert r["Last-Attempt-Date"]
    log = inst.log()
    assert len(re.findall(r"to=<someone@slow\.test>, relay=fake\.test, "
                          r".*dsn=4\.4\.1, status=deferred \(try again "
                          r"later\)", log)) == len(times)
    wait_until(lambda: queue_empty(inst), what="an empty queue")


def test_delay_warning_once_then_delivery(make_instance):
    state = {"ok": False}

    def policy(req):
        res = "sent" if state["ok"] else "defer"
        return [{"result": res, "reason": "busy" if res == "defer"
                 else "delivered"} for _ in req["rcpts"]]

    def setup(inst):
        retry_config("1h")(inst)
        inst.config(delay_warning_time="2s")
    inst = make_instance(setup=setup)
    agent = FakeAgent(inst, "fake", policy)
    try:
        sendmail(inst, "-f", DEMO, "late@slow.test")
        f = wait_mail(demo_maildir(inst), 1, timeout=20)[0]
        msg = parse(f)
        assert msg["Subject"] == "Delayed Mail (still being retried)"
        _, _, rcpts, orig = report_parts(msg)
        assert rcpts[0]["Action"] == "delayed"
        assert rcpts[0]["Status"].startswith("4.")
        assert rcpts[0]["Will-Retry-Until"]
        assert orig.get_content_type() == "text/rfc822-headers"
        time.sleep(5)  # more deferrals, no second warning
        state["ok"] = True
        qid = re.search(r"([0-9A-Za-z]{15}): sender delay notification",
                        inst.log()).group(1)
        inst.wait_log(rf"{qid}: to=<late@slow\.test>, .*status=sent",
                      timeout=20)
    finally:
        agent.close()
    assert len(re.findall(r"sender delay notification", inst.log())) == 1
    wait_until(lambda: queue_empty(inst), what="an empty queue")


def test_agent_crash_and_bad_reply_defer_then_deliver(make_instance):
    calls = []

    def policy(req):
        calls.append(req)
        if len(calls) == 1:
            return "crash"
        if len(calls) == 2:
            return [{"result": "nonsense"} for _ in req["rcpts"]]
        return [{"result": "sent"} for _ in req["rcpts"]]
    inst = make_instance(setup=retry_config("1h"))
    agent = FakeAgent(inst, "fake", policy)
    try:
        sendmail(inst, "-f", DEMO, "a@slow.test", "b@slow.test")
        inst.wait_log(r"to=<a@slow\.test>, relay=none, .*status=deferred "
                      r"\(lost connection with private/fake while "
                      r"delivering")
        inst.wait_log(r"malformed reply from private/fake: unknown result")
        inst.wait_log(r"to=<b@slow\.test>, relay=fake\.test, .*"
                      r"status=sent", timeout=20)
    finally:
        agent.close()
    # Both recipients travelled in one request every time.
    assert all(len(c["rcpts"]) == 2 for c in calls)
    assert calls[0]["nexthop"] == "slow.test"
    assert calls[0]["transport"] == "fake"
    assert calls[0]["queue_file"] == "queue/" + calls[0]["queue_id"]
    wait_until(lambda: queue_empty(inst), what="an empty queue")


@pytest.mark.parametrize("lifetime", ["0"])
def test_zero_lifetime_returns_at_first_failure(make_instance, lifetime):
    inst = make_instance(setup=retry_config(lifetime))
    agent = FakeAgent(inst, "fake", every("defer"))
    try:
        sendmail(inst, "-f", DEMO, "x@slow.test")
        f = wait_mail(demo_maildir(inst), 1)[0]
    finally:
        agent.close()
    assert len(agent.times()) == 1
    _, _, rcpts, _ = report_parts(parse(f))
    assert rcpts[0]["Action"] == "failed"
