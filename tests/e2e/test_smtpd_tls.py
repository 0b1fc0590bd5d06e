# SPDX-License-Identifier: MIT
"""smtpd STARTTLS, implicit TLS, submission and AUTH: swaks, smtplib with
ssl and msmtp; AUTH only after TLS; 535 and slowed failures; relaying for
authenticated clients only; old TLS refused; plaintext injected after
STARTTLS never executed; passwords never written anywhere."""
import base64
import os
import pathlib
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from conftest import held
from smtp_util import (Raw, queue_show, queued_as, queued_ids, smtp_port,
                       untrusted, wait_queued)

USER = "tls-user@example.test"
PASSWORD = "correct-Horse-battery-42"


@pytest.fixture
def make_instance(make_instance):
    """These tests look at what smtpd queued: nothing may be delivered
    meanwhile (and remote mail must not reach real DNS)."""
    return held(make_instance)


def no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def tls_instance(make_instance):
    def setup(i):
        i.run("user", "add", USER, input=PASSWORD + "\n")
        untrusted(i)
        i.config(smtpd_auth_failure_delay="1s", smtpd_error_sleep_time="0")
    return make_instance(setup=setup)


def swaks(*args):
    return subprocess.run(["swaks", *args], capture_output=True, text=True,
                          timeout=90)


def test_swaks_starttls_on_port_25(tls_instance):
    p = swaks("--server", f"127.0.0.1:{smtp_port(tls_instance)}", "--tls",
              "--to", "demo@example.test", "--from", "a@b.example")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "queued as" in p.stdout
    tls_instance.wait_log(r"Anonymous TLS connection established from "
                          r"unknown\[127\.0\.0\.1\]: TLSv1\.[23] with cipher")
    ids = wait_queued(tls_instance, 1)
    stored = (tls_instance.dir / "spool" / "queue" / ids[0]).read_bytes()
    assert b"with ESMTPS id" in stored and b"(using TLSv1." in stored


def test_submission_swaks_tls_auth(tls_instance):
    port = smtp_port(tls_instance, "submission")
    for mech in ("PLAIN", "LOGIN"):
        p = swaks("--server", f"127.0.0.1:{port}", "--tls", "--auth", mech,
                  "--auth-user", USER, "--auth-password", PASSWORD, "--to",
                  "friend@remote.example", "--from", USER)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "235 2.7.0 Authentication successful" in p.stdout
    ids = wait_queued(tls_instance, 2)
    show = queue_show(tls_instance, ids[0])
    assert f"sasl_username: {USER}" in show
    assert "protocol: ESMTPSA" in show
    tls_instance.wait_log(rf"client=unknown\[127\.0\.0\.1\], sasl_method="
                          rf"(PLAIN|LOGIN), sasl_username={USER}")


def test_smtps_implicit_tls_swaks_and_smtplib(tls_instance):
    port = smtp_port(tls_instance, "smtps")
    p = swaks("--server", f"127.0.0.1:{port}", "--tlsc", "--auth", "PLAIN",
              "--auth-user", USER, "--auth-password", PASSWORD, "--to",
              "friend@remote.example", "--from", USER)
    assert p.returncode == 0, p.stdout + p.stderr
    with smtplib.SMTP_SSL("127.0.0.1", port, context=no_verify(),
                          timeout=30) as s:
        s.ehlo("laptop.example")
        assert "auth" in s.esmtp_features
        s.login(USER, PASSWORD)
        s.sendmail(USER, ["friend@remote.example"],
                   b"Subject: smtps\r\n\r\nhi\r\n")
    wait_queued(tls_instance, 2)


def test_smtplib_starttls_submission(tls_instance):
    port = smtp_port(tls_instance, "submission")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("laptop.example")
        assert "auth" not in s.esmtp_features
        s.starttls(context=no_verify())
        s.ehlo("laptop.example")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        s.login(USER, PASSWORD)
        s.sendmail(USER, ["friend@remote.example"],
                   b"Subject: sub\r\n\r\nhi\r\n")
    wait_queued(tls_instance, 1)


@pytest.mark.skipif(not shutil.which("msmtp"), reason="msmtp not installed")
def test_msmtp_submission(tls_instance, tmp_path):
    port = smtp_port(tls_instance, "submission")
    rc = tmp_path / "msmtprc"
    rc.write_text(f"account default\nhost 127.0.0.1\nport {port}\n"
                  f"tls on\ntls_starttls on\ntls_certcheck off\nauth on\n"
                  f"user {USER}\npassword {PASSWORD}\nfrom {USER}\n")
    rc.chmod(0o600)
    p = subprocess.run(["msmtp", "-C", str(rc), "friend@remote.example"],
                       input=b"Subject: msmtp\r\n\r\nhello\r\n",
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    wait_queued(tls_instance, 1)


def test_auth_refused_before_tls(tls_instance):
    c = Raw(smtp_port(tls_instance, "submission"))
    code, feats = c.cmd("EHLO laptop.example")
    assert code == 250 and not any(f.startswith("AUTH") for f in feats)
    creds = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert c.cmd(f"AUTH PLAIN {creds}") == (
        530, ["5.7.0 Must issue a STARTTLS command first"])
    assert c.cmd("MAIL FROM:<x@b.example>")[0] == 530
    # on port 25 AUTH is not offered before TLS either
    c = Raw(smtp_port(tls_instance))
    c.cmd("EHLO laptop.example")
    assert c.cmd(f"AUTH PLAIN {creds}")[0] == 538


def test_wrong_password_535_and_slowed(tls_instance):
    port = smtp_port(tls_instance, "submission")
    c = Raw(port)
    c.cmd("EHLO laptop.example")
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    c.cmd("EHLO laptop.example")
    times = []
    for _ in range(3):
        bad = base64.b64encode(f"\0{USER}\0wrong".encode()).decode()
        t = time.monotonic()
        assert c.cmd(f"AUTH PLAIN {bad}") == (
            535, ["5.7.8 Error: authentication failed"])
        times.append(time.monotonic() - t)
    # 1 s, 2 s, 3 s (smtpd_auth_failure_delay times the failures so far)
    assert times[0] >= 0.9 and times[1] >= 1.9 and times[2] >= 2.9, times
    # a new session from the same address does not start from zero
    c2 = Raw(port)
    c2.cmd("EHLO laptop.example")
    c2.cmd("STARTTLS")
    c2.starttls()
    c2.cmd("EHLO laptop.example")
    bad = base64.b64encode(f"\0{USER}\0wrong".encode()).decode()
    t = time.monotonic()
    assert c2.cmd(f"AUTH PLAIN {bad}")[0] == 535
    assert time.monotonic() - t >= 3.9
    good = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert c2.cmd(f"AUTH PLAIN {good}")[0] == 235
    assert c2.cmd(f"AUTH PLAIN {good}")[0] == 503
    tls_instance.wait_log(r"warning: unknown\[127\.0\.0\.1\]: SASL PLAIN "
                          r"authentication failed")


def test_relay_needs_authentication(tls_instance):
    port = smtp_port(tls_instance)
    c = Raw(port)
    c.cmd("EHLO x.example")
    c.cmd("STARTTLS")
    c.starttls()
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<friend@remote.example>")[0] == 554
    c.cmd("RSET")
    creds = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert c.cmd(f"AUTH PLAIN {creds}")[0] == 235
    c.cmd(f"MAIL FROM:<{USER}>")
    assert c.cmd("RCPT TO:<friend@remote.example>")[0] == 250
    # submission refuses unauthenticated mail even to local users
    s = Raw(smtp_port(tls_instance, "submission"))
    s.cmd("EHLO x.example")
    s.cmd("STARTTLS")
    s.starttls()
    s.cmd("EHLO x.example")
    s.cmd("MAIL FROM:<a@b.example>")
    assert s.cmd("RCPT TO:<demo@example.test>")[0] == 554


def test_sender_login_maps(make_instance):
    def setup(i):
        i.run("user", "add", USER, input=PASSWORD + "\n")
        i.config(smtpd_sender_login_maps=(
            f"inline:{{ boss@example.test={USER}, {USER}={USER} }}"))
    inst = make_instance(setup=setup)
    c = Raw(smtp_port(inst, "submission"))
    c.cmd("EHLO x.example")
    c.cmd("STARTTLS")
    c.starttls()
    c.cmd("EHLO x.example")
    creds = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert c.cmd(f"AUTH PLAIN {creds}")[0] == 235
    assert c.cmd(f"MAIL FROM:<{USER}>")[0] == 250
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<boss@example.test>")[0] == 250
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<demo@example.test>") == (
        553, [f"5.7.1 <demo@example.test>: Sender address rejected: not "
              f"owned by user {USER}"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_versions_refused(tls_instance):
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx = no_verify()
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = version
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            pytest.skip("this OpenSSL cannot even offer old TLS")
        c = Raw(smtp_port(tls_instance))
        c.cmd("EHLO x.example")
        assert c.cmd("STARTTLS")[0] == 220
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            c.sock = ctx.wrap_socket(c.sock)
            c.cmd("EHLO x.example")
    # implicit TLS too
    ctx = no_verify()
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    import socket
    raw = socket.create_connection(("127.0.0.1",
                                    smtp_port(tls_instance, "smtps")), 10)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        ctx.wrap_socket(raw).recv(100)
    # refused by the server, not by the client's own library
    tls_instance.wait_log(r"SSL_accept error from unknown\[127\.0\.0\.1\]: "
                          r"TLS handshake failed: .*unsupported protocol")


def test_plaintext_injected_after_starttls_not_executed(tls_instance):
    c = Raw(smtp_port(tls_instance))
    c.cmd("EHLO x.example")
    # STARTTLS and a command in one packet: the command must be dropped
    c.send("STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\n")
    assert c.reply()[0] == 220
    c.starttls()
    assert c.cmd("EHLO x.example")[0] == 250
    assert c.cmd("RCPT TO:<demo@example.test>") == (
        503, ["5.5.1 Error: need MAIL command"])
    tls_instance.wait_log(r"warning: unknown\[127\.0\.0\.1\]: discarded \d+ "
                          r"bytes of plaintext sent after STARTTLS")
    # and STARTTLS resets the session: no HELO, no transaction
    assert c.cmd("STARTTLS")[0] == 554


def test_passwords_never_written(tls_instance):
    port = smtp_port(tls_instance, "submission")
    good = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    bad = base64.b64encode(f"\0{USER}\0{PASSWORD}x".encode()).decode()
    c = Raw(port)
    c.cmd("EHLO x.example")
    c.cmd("STARTTLS")
    c.starttls()
    c.cmd("EHLO x.example")
    assert c.cmd(f"AUTH PLAIN {bad}")[0] == 535
    assert c.cmd("AUTH LOGIN")[0] == 334
    assert c.cmd(base64.b64encode(USER.encode()).decode())[0] == 334
    assert c.cmd(base64.b64encode(PASSWORD.encode()).decode())[0] == 235
    c.cmd(f"MAIL FROM:<{USER}>")
    c.cmd("RCPT TO:<friend@remote.example>")
    c.cmd("DATA")
    c.send(b"Subject: secret test\r\n\r\nnothing here\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    p = swaks("--server", f"127.0.0.1:{port}", "--tls", "--auth", "LOGIN",
              "--auth-user", USER, "--auth-password", PASSWORD + "y",
              "--to", "x@remote.example", "--from", USER)
    assert p.returncode != 0
    needles = [PASSWORD.encode(), good.encode(), bad.encode(),
               base64.b64encode(PASSWORD.encode())]
    for path in pathlib.Path(tls_instance.dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for n in needles:
                assert n not in data, f"secret found in {path}"


def test_auth_protocol_errors(tls_instance):
    c = Raw(smtp_port(tls_instance, "submission"))
    c.cmd("EHLO x.example")
    c.cmd("STARTTLS")
    c.starttls()
    c.cmd("EHLO x.example")
    assert c.cmd("AUTH CRAM-MD5") == (
        504, ["5.5.4 Unrecognized authentication type"])
    assert c.cmd("AUTH") == (501, ["5.5.4 Syntax: AUTH mechanism"])
    assert c.cmd("AUTH PLAIN")[0] == 334
    assert c.cmd("*") == (501, ["5.0.0 Authentication aborted"])
    assert c.cmd("AUTH PLAIN !!notbase64")[0] == 501
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("AUTH PLAIN") == (
        503, ["5.5.1 Error: MAIL transaction in progress"])
