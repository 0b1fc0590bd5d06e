# SPDX-License-Identifier: MIT
"""Log lines have Postfix's shape, so Postfix's log tools read them: the
Debian pflogsumm, pointed at an instance's maillog, counts what a user
did to the instance (received, delivered, rejected, bounced)."""
import re
import smtplib
import subprocess

import pytest

from conftest import wait_until


def pflogsumm(inst):
    p = subprocess.run(["pflogsumm", "--syslog-name=posthorn",
                        str(inst.log_path)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def total(report, what):
    m = re.search(rf"^\s*(\d+)\s+{what}\s*$", report, re.M)
    assert m, f"no '{what}' line in:\n{report}"
    return int(m.group(1))


def test_pflogsumm_reads_our_log(instance):
    with smtplib.SMTP("127.0.0.1", instance.ports["smtp"], timeout=30) as s:
        for i in range(3):
            s.sendmail("sender@outside.example", ["demo@example.test"],
                       f"Subject: {i}\r\n\r\nhello {i}\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("sender@outside.example", ["nobody@example.test"],
                       "Subject: x\r\n\r\nx\r\n")
    wait_until(lambda: len(re.findall(r"status=sent", instance.log())) >= 3,
               timeout=30, what="3 deliveries")
    report = pflogsumm(instance)
    assert total(report, "received") == 3
    assert total(report, "delivered") == 3
    assert total(report, "rejected \\(\\d+%\\)") == 1
    assert re.search(r"example\.test\s*$", report, re.M)
