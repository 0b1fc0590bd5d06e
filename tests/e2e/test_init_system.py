# SPDX-License-Identifier: MIT
"""`posthorn init --system` lays out a real installation (INSTALL step 4):
standard paths with the owners and modes INSTALL lists, standard ports,
syslog, and a postmaster account. Run in a private mount namespace with
empty tmpfs over /var/spool, /var/lib and /var/mail, so the host is never
touched."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import POSTHORN

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"),
    reason="needs root and unshare for a private mount namespace")

SCRIPT = r"""
set -e
for d in /var/spool /var/lib /var/mail; do mount -t tmpfs tmpfs $d; done
"$POSTHORN" -c "$ETC" init --system --hostname mx.example.net
"$POSTHORN" -c "$ETC" check
stat -c '%n %U:%G %a' /var/spool/posthorn /var/spool/posthorn/* \
    /var/lib/posthorn /var/mail/vhosts
"$POSTHORN" -c "$ETC" config -x queue_directory data_directory \
    virtual_mailbox_base maillog_file inet_interfaces myhostname mydomain
"$POSTHORN" -c "$ETC" user list
"""


def test_system_layout():
    etc = tempfile.mkdtemp(prefix="posthorn-e2e-sys-", dir="/tmp")
    try:
        os.chmod(etc, 0o755)
        p = subprocess.run(["unshare", "-m", "sh", "-c", SCRIPT],
                           env={**os.environ, "POSTHORN": str(POSTHORN),
                                "ETC": etc + "/etc"},
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        out = p.stdout
        assert "postmaster account postmaster@example.net, password" in out
        for line in ["/var/spool/posthorn root:root 755",
                     "/var/spool/posthorn/incoming posthorn:posthorn 700",
                     "/var/spool/posthorn/queue posthorn:posthorn 700",
                     "/var/spool/posthorn/private posthorn:posthorn 700",
                     "/var/spool/posthorn/public posthorn:posthorn 711",
                     "/var/spool/posthorn/pid root:root 755",
                     "/var/lib/posthorn root:root 755",
                     "/var/mail/vhosts vmail:vmail 700"]:
            assert line in out, out
        for line in ["queue_directory = /var/spool/posthorn",
                     "data_directory = /var/lib/posthorn",
                     "virtual_mailbox_base = /var/mail/vhosts",
                     "maillog_file =", "inet_interfaces = all",
                     "myhostname = mx.example.net", "mydomain = example.net"]:
            assert line + "\n" in out, out
        assert "postmaster@example.net" in out
        master = open(etc + "/etc/master.cf").read()
        for svc in ["smtp inet", "submission inet", "submissions inet",
                    "pop3 inet", "pop3s inet", "imap inet", "imaps inet"]:
            assert "\n" + svc + " " in master
    finally:
        shutil.rmtree(etc, ignore_errors=True)
