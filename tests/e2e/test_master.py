# SPDX-License-Identifier: MIT
"""master: supervision, maxproc, restart, reload, stop, and the CLI around it.

Uses the trivial echod service (tests/svc/echod.c), which greets with
"echod PID SERVICE HOSTNAME ARG" so a test can see which process served it.
"""
import os
import pwd
import signal
import socket
import subprocess
import time

import pytest

from conftest import (free_port, port_open, proc_uid, wait_until, POSTHORN)


class Echo:
    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.f = self.sock.makefile("rw", newline="\n")
        self.greeting = self.f.readline().split()

    @property
    def pid(self):
        return int(self.greeting[1])

    def echo(self, text):
        self.f.write(text + "\n")
        self.f.flush()
        return self.f.readline()

    def close(self):
        self.f.close()
        self.sock.close()


def echo_service(inst, maxproc="-", wakeup="-", arg="", port=None):
    port = port or free_port()
    inst.add_service(f"{port} inet n - n {wakeup} {maxproc} echod {arg}")
    return port


def test_start_status_stop_leaves_nothing(make_instance):
    inst = make_instance(start=False)
    port = echo_service(inst, arg="first")
    inst.start()
    wait_until(lambda: port_open("127.0.0.1", port), what="echod port")
    st = inst.run("status")
    assert "is running" in st.stdout
    c = Echo(port)
    assert c.greeting[0] == "echod" and c.greeting[-1] == "first"
    assert c.echo("hello").split() == [str(c.pid), "hello"]
    c.close()
    assert inst.master_pid()

    inst.stop()
    assert not inst.leftover_pids(), "processes left after stop"
    assert not (inst.dir / "spool" / "pid" / "master.pid").exists()
    assert not port_open("127.0.0.1", port)
    st = inst.run("status", check=False)
    assert st.returncode == 1 and "not running" in st.stdout
    assert "terminating" in inst.log()


def test_second_start_is_refused(instance):
    p = instance.run("start", check=False)
    assert p.returncode == 1
    assert "already running" in p.stderr


def test_maxproc_spawns_on_demand_up_to_the_cap(make_instance):
    inst = make_instance(start=False)
    port = echo_service(inst, maxproc=2)
    inst.start()
    wait_until(lambda: port_open("127.0.0.1", port), what="echod port")
    a = Echo(port)
    b = Echo(port)
    assert a.pid != b.pid, "second client should get a second process"
    # A third client waits in the backlog: no third process appears.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(1.0)
    with pytest.raises(socket.timeout):
        s.recv(100)
    assert len(inst.service_pids("echod")) == 2
    a.close()
    # ... and is served by a freed process as soon as one is free.
    s.settimeout(10)
    greeting = s.recv(100).decode().split()
    assert int(greeting[1]) in (a.pid, b.pid)
    s.close()
    b.close()


def test_killed_child_is_restarted_with_a_log_line(make_instance):
    inst = make_instance(start=False)
    # wakeup > 0: master keeps one process running at all times.
    port = echo_service(inst, maxproc=1, wakeup=60)
    inst.start()
    first = wait_until(lambda: inst.service_pids("echod"), what="echod")[0]
    os.kill(first, signal.SIGKILL)
    inst.wait_log(rf"process \S+/echod pid {first} killed by signal 9")
    second = wait_until(
        lambda: [p for p in inst.service_pids("echod") if p != first],
        timeout=15, what="restarted echod")[0]
    c = Echo(port)
    assert c.pid == second
    c.close()


def test_reload_applies_master_cf_changes_and_keeps_connections(make_instance):
    inst = make_instance(start=False)
    keep = echo_service(inst, arg="old")
    gone = echo_service(inst, arg="removed")
    inst.start()
    wait_until(lambda: port_open("127.0.0.1", gone), what="port to remove")
    held = Echo(keep)
    assert held.greeting[-1] == "old"

    text = inst.master_cf.read_text()
    text = text.replace(f"{gone} inet n - n - - echod removed\n", "")
    text = text.replace(f"{keep} inet n - n - - echod old",
                        f"{keep} inet n - n - - echod new")
    added = free_port()
    text += f"{added} inet n - n - - echod added\n"
    inst.master_cf.write_text(text)
    mark = len(inst.log())
    inst.reload()
    inst.wait_log(r"reload", start=mark)

    wait_until(lambda: port_open("127.0.0.1", added), what="added service")
    wait_until(lambda: not port_open("127.0.0.1", gone), what="removal")
    # The established session still works, served by its old process.
    assert held.echo("still here").split() == [str(held.pid), "still", "here"]
    # New clients of the changed service see the new arguments.
    c = wait_until(lambda: (lambda e: e if e.greeting[-1] == "new" else
                            e.close())(Echo(keep)), what="new greeting")
    assert c.pid != held.pid
    c.close()
    held.close()
    assert Echo(added).greeting[-1] == "added"


def test_reload_with_broken_master_cf_keeps_running(make_instance):
    inst = make_instance(start=False)
    port = echo_service(inst)
    inst.start()
    wait_until(lambda: port_open("127.0.0.1", port), what="echod")
    with inst.master_cf.open("a") as f:
        f.write("oops inet n - n - notanumber echod\n")
    inst.reload()
    inst.wait_log(r"reload failed.*master\.cf:\d+")
    assert Echo(port).greeting[0] == "echod"


def test_override_reaches_service(make_instance):
    inst = make_instance(start=False)
    port = free_port()
    inst.add_service(f"{port} inet n - n - - echod")
    inst.add_service("  -o myhostname=override.example.test")
    inst.start()
    wait_until(lambda: port_open("127.0.0.1", port), what="echod")
    assert Echo(port).greeting[3] == "override.example.test"


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_children_run_as_mail_owner(make_instance):
    inst = make_instance(start=False)
    port = echo_service(inst)
    inst.start()
    c = Echo(port)
    assert proc_uid(c.pid) == pwd.getpwnam("posthorn").pw_uid
    assert proc_uid(inst.master_pid()) == 0
    c.close()


def test_check_reports_problems_with_file_and_line(make_instance):
    inst = make_instance(start=False)
    assert inst.run("check").returncode == 0
    lines = inst.main_cf.read_text().count("\n")
    with inst.main_cf.open("a") as f:
        f.write("mesage_size_limit = 100\n")      # misspelled name
        f.write("smtpd_timeout = forever\n")      # bad value
    p = inst.run("check", check=False)
    assert p.returncode == 1
    out = p.stdout + p.stderr
    assert f"main.cf:{lines + 1}:" in out and "mesage_size_limit" in out
    assert f"main.cf:{lines + 2}:" in out and "smtpd_timeout" in out


def test_malformed_config_fails_to_start_with_file_line(make_instance):
    inst = make_instance(start=False)
    with inst.main_cf.open("a") as f:
        f.write("message_size_limit = lots\n")
    p = inst.run("start", check=False)
    assert p.returncode != 0
    assert "main.cf:" in p.stderr and "message_size_limit" in p.stderr
    assert not inst.leftover_pids()


def test_unreadable_config_dir_is_a_clear_error(tmp_path):
    p = subprocess.run([str(POSTHORN), "-c", str(tmp_path / "nowhere"),
                        "start"], capture_output=True, text=True)
    assert p.returncode == 1
    assert "main.cf" in p.stderr


def test_usage_errors_exit_2(instance):
    assert instance.run("frobnicate", check=False).returncode == 2
    assert instance.run("stop", "extra", check=False).returncode == 2
    p = subprocess.run([str(POSTHORN)], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr
