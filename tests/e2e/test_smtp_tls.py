# SPDX-License-Identifier: MIT
"""smtp and TLS: session resumption and smtp_tls_policy_maps.

Driven like test_smtp.py (its fixtures, its DNS server and sinks): the
test plays qmgr on private/smtp. A sink that offers STARTTLS keeps one
server context, which issues session tickets, and records per connection
whether the client resumed (ssl.SSLSocket.session_reused).
"""
import pytest

from conftest import wait_until
from smtp_env import MX1, MX2
from test_smtp import ZONE, cert, env  # noqa: F401 (fixtures)

ONE_MX = {"remote.test": {"MX": [(10, "mx1.remote.test")]},
          "mx1.remote.test": {"A": [MX1]}}


def deliver_twice(e, sink, nexthop="remote.test"):
    """Two messages on one qmgr connection (so one smtp process), on two
    SMTP connections: the cached one is closed in between."""
    c = e.connect()
    try:
        res, _ = e.deliver(["bob@remote.test"], nexthop, conn=c)
        assert res[0]["result"] == "sent", res
        wait_until(lambda: sink.sessions and sink.sessions[0]["closed"],
                   timeout=10, what="first session closed")
        res, qid = e.deliver(["bob@remote.test"], nexthop, conn=c)
        assert res[0]["result"] == "sent", res
    finally:
        c.close()
    assert len(sink.sessions) == 2
    return qid


# ---- session resumption ------------------------------------------------

@pytest.mark.parametrize("protocols,version", [(">=TLSv1.2", "TLSv1.3"),
                                               ("TLSv1.2", "TLSv1.2")])
def test_second_connection_resumes_the_session(env, cert, protocols,
                                               version):
    e = env(ONE_MX, smtp_connection_cache_time_limit="1s",
            smtp_tls_protocols=protocols)
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    deliver_twice(e, s1)
    first, second = s1.sessions
    assert first["tls"] and first["tls_version"] == version
    assert not first["tls_reused"]
    assert second["tls"] and second["tls_reused"]
    assert all(t["tls"] for t in s1.messages())
    # Postfix's line, once without and once with the reuse noted.
    line = (r"(?m)Untrusted TLS connection established to "
            rf"mx1\.remote\.test\[127\.0\.0\.2\]:{e.port}: "
            rf"{version.replace('.', '[.]')} with cipher \S+ "
            r"\(\d+/\d+ bits\)")
    e.inst.wait_log(line + "$")
    e.inst.wait_log(line + ", session reused$")


def test_no_resumption_when_the_cache_timeout_is_0(env, cert):
    e = env(ONE_MX, smtp_connection_cache_time_limit="1s",
            smtp_tls_session_cache_timeout="0")
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    deliver_twice(e, s1)
    assert [s["tls_reused"] for s in s1.sessions] == [False, False]
    assert "session reused" not in e.inst.log()


def test_a_session_is_not_offered_to_another_server(env, cert):
    zone = dict(ZONE)
    zone["other.test"] = {"MX": [(10, "mx2.remote.test")]}
    e = env(zone)
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    s2 = e.sink(MX2, name="mx2.remote.test", starttls=cert)
    c = e.connect()
    try:
        res, _ = e.deliver(["bob@remote.test"], "remote.test", conn=c)
        assert res[0]["result"] == "sent", res
        res, _ = e.deliver(["bob@other.test"], "other.test", conn=c)
        assert res[0]["result"] == "sent", res
    finally:
        c.close()
    assert not s1.sessions[0]["tls_reused"]
    assert not s2.sessions[0]["tls_reused"]


# ---- smtp_tls_policy_maps ----------------------------------------------

POLICY_ZONE = {
    "secure.test": {"MX": [(10, "mx1.remote.test")]},
    "open.test": {"MX": [(10, "mx2.remote.test")]},
    "remote.test": {"MX": [(10, "mx1.remote.test")]},
    "sub.remote.test": {"MX": [(10, "mx1.remote.test")]},
    "mx1.remote.test": {"A": [MX1]},
    "mx2.remote.test": {"A": [MX2]},
}


def test_policy_encrypt_defers_without_starttls_while_may_sends(env):
    e = env(POLICY_ZONE,
            smtp_tls_policy_maps="inline:{ secure.test=encrypt }")
    s1 = e.sink(MX1, name="mx1.remote.test")
    s2 = e.sink(MX2, name="mx2.remote.test")
    res, qid = e.deliver(["bob@secure.test"], "secure.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.4"
    assert res[0]["reason"] == ("TLS is required, but was not offered by "
                                f"host mx1.remote.test[{MX1}]")
    assert not s1.transactions
    e.inst.wait_log(rf"{qid}: to=<bob@secure\.test>, .*dsn=4\.7\.4, "
                    r"status=deferred \(TLS is required")
    # Another destination keeps smtp_tls_security_level (may): clear.
    res, _ = e.deliver(["bob@open.test"], "open.test")
    assert res[0]["result"] == "sent", res
    assert not s2.messages()[0]["tls"]


def test_policy_none_overrides_a_required_default(env, cert):
    e = env(POLICY_ZONE, smtp_tls_security_level="encrypt",
            smtp_tls_policy_maps="inline:{ open.test=none }")
    s2 = e.sink(MX2, name="mx2.remote.test", starttls=cert)
    res, _ = e.deliver(["bob@open.test"], "open.test")
    assert res[0]["result"] == "sent", res
    assert "STARTTLS" not in s2.sessions[0]["commands"]


def test_policy_verify_with_a_failing_match_defers(env, cert):
    # The certificate names mx1.remote.test, not the domain.
    e = env(POLICY_ZONE, smtp_tls_CAfile=cert[0],
            smtp_tls_policy_maps="inline:{ remote.test=verify "
                                 "match=nexthop }")
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.5"
    assert res[0]["reason"] == ("Server certificate not verified (hostname "
                                "mismatch, expected remote.test)")
    assert not s1.transactions


@pytest.mark.parametrize("policy", ["verify", "verify match=hostname",
                                    "secure match=.remote.test",
                                    "secure match=nexthop:dot-nexthop:"
                                    "hostname"])
def test_policy_verify_and_secure_with_matching_names(env, cert, policy):
    e = env(POLICY_ZONE, smtp_tls_CAfile=cert[0],
            smtp_tls_policy_maps=f"inline:{{ remote.test={policy} }}")
    s1 = e.sink(MX1, name="mx1.remote.test", starttls=cert)
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert s1.messages()[0]["tls"]
    e.inst.wait_log(r"Verified TLS connection established to "
                    rf"mx1\.remote\.test\[127\.0\.0\.2\]:{e.port}: ")


def test_policy_secure_default_wants_the_domain(env, cert):
    # secure without match=: nexthop or a subdomain; mx1.remote.test is
    # a subdomain of remote.test but not of secure.test.
    e = env(POLICY_ZONE, smtp_tls_CAfile=cert[0],
            smtp_tls_policy_maps="inline:{ .test=secure }")
    e.sink(MX1, name="mx1.remote.test", starttls=cert)
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    res, _ = e.deliver(["bob@secure.test"], "secure.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["reason"] == ("Server certificate not verified (hostname "
                                "mismatch, expected secure.test or "
                                ".secure.test)")


def test_policy_from_an_lmdb_table_with_parent_domains(env, cert, tmp_path):
    table = tmp_path / "tls_policy"
    table.write_text("# Postfix syntax\n"
                     ".remote.test   encrypt\n"
                     "remote.test    may\n"
                     "open.test      dane-only\n")
    e = env(POLICY_ZONE, smtp_tls_policy_maps=f"lmdb:{table}")
    e.inst.run("map", "build", str(table))
    s1 = e.sink(MX1, name="mx1.remote.test")
    # sub.remote.test finds .remote.test: encrypt, and no STARTTLS.
    res, _ = e.deliver(["bob@sub.remote.test"], "sub.remote.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.4"
    # remote.test itself is may.
    res, _ = e.deliver(["bob@remote.test"], "remote.test")
    assert res[0]["result"] == "sent", res
    assert len(s1.messages()) == 1
    # A level Posthorn does not have defers: never less than asked for.
    res, qid = e.deliver(["bob@open.test"], "open.test")
    assert res[0]["result"] == "defer", res
    assert res[0]["dsn"] == "4.7.5"
    assert res[0]["reason"].startswith("client TLS configuration problem: "
                                       "invalid TLS policy for open.test")
    e.inst.wait_log(rf"{qid}: smtp_tls_policy_maps: invalid TLS policy "
                    r"for open\.test: unknown or unsupported TLS level "
                    r"\"dane-only\"")
