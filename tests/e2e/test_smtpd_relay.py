# SPDX-License-Identifier: MIT
"""smtpd relay control and recipient validation at RCPT time.

The client is made an outsider (mynetworks without loopback) so the
open-relay tricks meet the rules an Internet client meets."""
import pytest

from conftest import held
from smtp_util import Raw, smtp_port, untrusted

RELAY_DENIED = 554


@pytest.fixture
def make_instance(make_instance):
    """These tests look at what smtpd queued: nothing may be delivered
    meanwhile (and remote mail must not reach real DNS)."""
    return held(make_instance)


def rcpt_codes(inst, rcpts, sender="a@b.example"):
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    out = {r: c.cmd(f"RCPT TO:{r}") for r in rcpts}
    c.cmd("QUIT")
    return out


@pytest.fixture
def outside(make_instance):
    def setup(i):
        untrusted(i)
        i.config(smtpd_error_sleep_time="0", relay_domains="relay.example")
    return make_instance(setup=setup)


def test_open_relay_tricks_refused(outside):
    tricks = [
        "<someone@remote.example>",
        "<user%remote.example@example.test>",
        "<user%remote.example@localhost>",
        '<"user@remote.example"@example.test>',
        '<"user@remote.example"@localhost>',
        "<@example.test,@localhost:user@remote.example>",
        "<@localhost:user@remote.example>",
        "<user@[192.0.2.55]>",
        "<user@[IPv6:2001:db8::1]>",
        "<remote.example!user@relay.example>",
        "<user@remote.example.>",
    ]
    codes = rcpt_codes(outside, tricks)
    for r, (code, text) in codes.items():
        assert code in (RELAY_DENIED, 553), (r, code, text)
        if code == RELAY_DENIED:
            assert text[0].endswith("Relay access denied"), (r, text)
    log = outside.log()
    assert "Relay access denied; from=<a@b.example> to=<someone@remote.example>" \
        in log


def test_our_destinations_accepted_from_outside(outside):
    ok = [
        "<demo@example.test>",          # virtual account
        "<DEMO@Example.Test>",          # case
        "<demo+tag@example.test>",      # recipient_delimiter
        "<abuse@example.test>",         # virtual alias -> account
        "<root@localhost>",             # system user via aliases/passwd
        "<root@[127.0.0.1]>",           # our own address literal
        "<postmaster@mail.example.test>",
        "<anyone@relay.example>",       # relay_domains
        "<anyone@sub.relay.example>",   # and its subdomains
        "<@a.example,@b.example:demo@example.test>",  # route dropped
    ]
    codes = rcpt_codes(outside, ok)
    for r, (code, text) in codes.items():
        assert code == 250, (r, code, text)


def test_unknown_users_get_550_at_rcpt(outside):
    bad = ["<nosuch@example.test>", "<nosuch+x@example.test>",
           "<nosuchuser123@localhost>", "<nosuch@[127.0.0.1]>"]
    for r, (code, text) in rcpt_codes(outside, bad).items():
        assert code == 550 and text[0].startswith("5.1.1 "), (r, text)


def test_alias_to_nothing_is_unknown(make_instance):
    def setup(i):
        with open(i.dir / "virtual", "a") as f:
            f.write("ghost@example.test nobody-here@example.test\n"
                    "fwd@example.test someone@far.example\n"
                    "loop1@example.test loop2@example.test\n"
                    "loop2@example.test loop1@example.test\n")
        i.run("map", "build", str(i.dir / "virtual"))
    inst = make_instance(setup=setup)
    codes = rcpt_codes(inst, ["<ghost@example.test>", "<fwd@example.test>",
                              "<loop1@example.test>"])
    assert codes["<ghost@example.test>"][0] == 550
    assert codes["<fwd@example.test>"][0] == 250
    assert codes["<loop1@example.test>"][0] == 550


def test_mynetworks_relays(instance):
    codes = rcpt_codes(instance, ["<someone@remote.example>",
                                  "<x@[192.0.2.1]>"])
    assert all(c[0] == 250 for c in codes.values()), codes


def test_default_config_is_not_an_open_relay(make_instance):
    """Whatever the restriction lists say, relaying needs a permit."""
    def setup(i):
        untrusted(i)
        i.config(smtpd_relay_restrictions="", smtpd_recipient_restrictions="")
    inst = make_instance(setup=setup)
    codes = rcpt_codes(inst, ["<someone@remote.example>",
                              "<demo@example.test>"])
    assert codes["<someone@remote.example>"][0] == RELAY_DENIED
    assert codes["<demo@example.test>"][0] == 250


def test_unknown_restriction_defers(make_instance):
    def setup(i):
        untrusted(i)
        i.config(smtpd_recipient_restrictions="reject_unknown_recipient_domain")
    inst = make_instance(setup=setup)
    codes = rcpt_codes(inst, ["<demo@example.test>"])
    assert codes["<demo@example.test>"] == (
        451, ["4.3.5 Server configuration error"])
    inst.wait_log(r"unsupported restriction \"reject_unknown_recipient_domain\"")


def test_access_tables(make_instance):
    def setup(i):
        untrusted(i)
        i.config(smtpd_relay_restrictions=(
            "permit_mynetworks, "
            "check_recipient_access inline:{ vip@partner.example=OK }, "
            "reject_unauth_destination"),
            smtpd_recipient_restrictions=(
            "check_sender_access inline:{ spammer@bad.example=REJECT }, "
            "check_recipient_access inline:{ demo@example.test=550 5.7.1 "
            "go away }"))
    inst = make_instance(setup=setup)
    codes = rcpt_codes(inst, ["<demo@example.test>", "<vip@partner.example>",
                              "<abuse@example.test>"])
    assert codes["<demo@example.test>"] == (
        550, ["5.7.1 <demo@example.test>: Recipient address rejected: go away"])
    assert codes["<vip@partner.example>"][0] == 250  # explicit OK relays
    assert codes["<abuse@example.test>"][0] == 250
    codes = rcpt_codes(inst, ["<abuse@example.test>"],
                       sender="spammer@bad.example")
    assert codes["<abuse@example.test>"][0] == 554


def test_sender_login_maps_without_auth(make_instance):
    inst = make_instance(setup=lambda i: i.config(
        smtpd_sender_login_maps="inline:{ demo@example.test=demo@example.test }"))
    c = Raw(smtp_port(inst))
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<demo@example.test>") == (
        553, ["5.7.1 <demo@example.test>: Sender address rejected: not "
              "logged in"])
    assert c.cmd("MAIL FROM:<other@b.example>")[0] == 250
