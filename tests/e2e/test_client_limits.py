# SPDX-License-Identifier: MIT
"""What the shared per-client tables (common/anvil.h) give pop3d and
imapd: a client that reconnects after each wrong password is slowed more
each time, as one that stays would be, until a right password forgives
it; pop3d_client_address_limit across pop3 and pop3s, refused with
-ERR [SYS/TEMP]; a killed server process gives its slots back.
(smtpd's side: test_smtpd_limits.py, test_smtpd_tls.py.)"""
import os
import poplib
import signal
import time

import pytest

from conftest import wait_until
from imap_helpers import Raw
from smtp_util import server_pid_for
from test_pop3d import connect as pop

TIMEOUT = 30


def pop_refused(inst, mode):
    """The -ERR greeting of a connection that is refused."""
    with pytest.raises(poplib.error_proto) as e:
        pop(inst, mode)
    return e.value.args[0]


def timed_wrong_pop_password(inst):
    """Seconds from PASS to its -ERR, in a new connection."""
    p = pop(inst)
    p.user(inst.demo_user)
    t0 = time.monotonic()
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("wrong")
    took = time.monotonic() - t0
    assert e.value.args[0] == b"-ERR [AUTH] Authentication failed."
    p.close()
    return took


def timed_wrong_imap_login(inst):
    r = Raw(inst.ports["imap"], timeout=TIMEOUT)
    t0 = time.monotonic()
    st, _ = r.cmd('LOGIN %s "wrong"' % inst.demo_user)
    took = time.monotonic() - t0
    assert st == b"NO [AUTHENTICATIONFAILED] Authentication failed.", st
    r.close()
    return took


def test_pop3_reconnecting_after_each_failure_is_slowed(make_instance):
    inst = make_instance(
        setup=lambda i: i.config(pop3d_auth_failure_delay="1s"))
    times = [timed_wrong_pop_password(inst) for _ in range(3)]
    # 1 s, 2 s, 3 s: the address's failures, whatever the session.
    assert times[0] >= 1.0 and times[1] >= 2.0 and times[2] >= 3.0, times
    assert times[0] < 2.0, times
    # A right password forgives the address.
    p = pop(inst)
    p.user(inst.demo_user)
    assert p.pass_(inst.demo_password).startswith(b"+OK")
    p.quit()
    assert timed_wrong_pop_password(inst) < 2.0
    assert "wrong" not in inst.log()


def test_imap_reconnecting_after_each_failure_is_slowed(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        imapd_tls_auth_only="no", imapd_auth_failure_delay="1s"))
    times = [timed_wrong_imap_login(inst) for _ in range(3)]
    assert times[0] >= 1.0 and times[1] >= 2.0 and times[2] >= 3.0, times
    assert times[0] < 2.0, times
    r = Raw(inst.ports["imap"], timeout=TIMEOUT)
    r.login(inst.demo_user, inst.demo_password)
    r.cmd("LOGOUT")
    r.close()
    assert timed_wrong_imap_login(inst) < 2.0


def test_pop3_per_address_limit(make_instance):
    inst = make_instance(
        setup=lambda i: i.config(pop3d_client_address_limit="2"))
    a = pop(inst, "plain")
    b = pop(inst, "pop3s")
    # pop3 and pop3s count together: one family, one table.
    for mode in ("plain", "pop3s"):
        assert pop_refused(inst, mode) == (
            b"-ERR [SYS/TEMP] Too many connections from your address.")
    inst.wait_log(r"warning: too many connections from "
                  r"unknown\[127\.0\.0\.1\]: 3 "
                  r"\(pop3d_client_address_limit = 2\)")
    a.quit()
    # A slot given back is usable again; so is a killed session's.
    c = wait_until(lambda: _try_pop(inst), what="a free slot")
    assert pop_refused(inst, "plain").startswith(b"-ERR [SYS/TEMP]")
    pid = server_pid_for(inst, b.sock, "pop3d")
    assert pid
    os.kill(pid, signal.SIGKILL)
    d = wait_until(lambda: _try_pop(inst), what="the killed session's slot")
    c.quit()
    d.quit()


def _try_pop(inst):
    try:
        return pop(inst, "plain")
    except poplib.error_proto:
        return None


def test_imap_killed_session_gives_its_slots_back(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        imapd_tls_auth_only="no", imapd_client_address_limit="1",
        imapd_client_connection_limit="1"))
    a = Raw(inst.ports["imap"], timeout=TIMEOUT)
    a.login(inst.demo_user, inst.demo_password)
    b = Raw(inst.ports["imap"], timeout=TIMEOUT)
    assert b.greeting.startswith(b"* BYE [LIMIT]"), b.greeting
    b.close()
    pid = server_pid_for(inst, a.sock, "imapd")
    assert pid
    os.kill(pid, signal.SIGKILL)
    # Both of its slots (address and user) are free at once.
    c = wait_until(lambda: _try_imap(inst), what="the killed session's slot")
    c.login(inst.demo_user, inst.demo_password)
    c.cmd("LOGOUT")
    c.close()


def _try_imap(inst):
    r = Raw(inst.ports["imap"], timeout=TIMEOUT)
    if r.greeting.startswith(b"* OK"):
        return r
    r.close()
    return None
