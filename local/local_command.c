/* SPDX-License-Identifier: MIT */
/*
 * local_command.c - delivery to "|command": the message on the command's
 * standard input, run by local_command_shell -c as the target's owner,
 * within command_time_limit
 *
 * The child drops root for good (setgroups, setgid, setuid) before it
 * execs, gets a fixed environment (HOME, USER, LOGNAME, SHELL, PATH,
 * SENDER, RECIPIENT, LOCAL, DOMAIN, EXTENSION, as Postfix's local gives),
 * and its own process group so a time-out kills everything it started.
 * A command never runs as root: root's commands run as nobody.
 *
 * Exit status, as sendmail/Postfix read sysexits.h: 0 delivered; 71-75
 * (OSERR, OSFILE, CANTCREAT, IOERR, TEMPFAIL) try again later; a signal
 * or the time limit, try again later; anything else bounces. The first
 * bytes of the command's output go into the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/xalloc.h"
#include "local.h"

#define OUTPUT_KEEP 256 /* bytes of command output kept for the reason */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* In the child: become the owner, set up the environment, exec. */
static _Noreturn void child(const struct local_target *t, uid_t uid,
			    gid_t gid, bool as_root, int in, int out,
			    const char *sender, const char *recipient)
{
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(75);
	for (int fd = 3; fd < 1024; fd++)
		(void)close(fd);
	(void)setpgid(0, 0);
	if (as_root) {
		/* local runs as root with effective ids switched; get the
		 * real root back before dropping for good. */
		if (seteuid(0) < 0 || setgroups(1, &gid) < 0 ||
		    setgid(gid) < 0 || setuid(uid) < 0)
			_exit(75);
		if (uid != 0 && setuid(0) == 0)
			_exit(75);
	}
	const char *home = t->home && t->home[0] ? t->home : "/";
	if (chdir(home) < 0)
		(void)chdir("/");
	(void)clearenv();
	char local[LOCAL_ADDR_MAX + 1];
	const char *at = strrchr(recipient, '@');
	size_t ll = at ? (size_t)(at - recipient) : strlen(recipient);
	if (ll > LOCAL_ADDR_MAX)
		ll = LOCAL_ADDR_MAX;
	memcpy(local, recipient, ll);
	local[ll] = '\0';
	(void)setenv("HOME", home, 1);
	(void)setenv("USER", t->user ? t->user : "", 1);
	(void)setenv("LOGNAME", t->user ? t->user : "", 1);
	(void)setenv("SHELL", t->shell ? t->shell : "/bin/sh", 1);
	(void)setenv("PATH", "/usr/bin:/bin", 1);
	(void)setenv("SENDER", sender, 1);
	(void)setenv("RECIPIENT", recipient, 1);
	(void)setenv("LOCAL", local, 1);
	(void)setenv("DOMAIN", at ? at + 1 : "", 1);
	if (t->extension)
		(void)setenv("EXTENSION", t->extension, 1);
	signal(SIGPIPE, SIG_DFL);
	execl(params->local_command_shell, params->local_command_shell, "-c",
	      t->path, (char *)NULL);
	_exit(127);
}

struct feed {
	const char *p[2];
	size_t len[2];
	size_t part, off;
};

/* Writes what the pipe takes now: 1 all written, 0 more, -1 the reader
 * went away (EPIPE: the command need not read everything). */
static int feed_some(int fd, struct feed *f)
{
	while (f->part < 2) {
		size_t left = f->len[f->part] - f->off;
		if (left == 0) {
			f->part++;
			f->off = 0;
			continue;
		}
		ssize_t n = write(fd, f->p[f->part] + f->off, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -1;
		f->off += (size_t)n;
	}
	return 1;
}

/* Feeds the input and collects output until both are done or the
 * deadline passes. true when the deadline passed. */
static bool pump(int in, int out, struct feed *f, char *output,
		 size_t *olen, uint64_t deadline)
{
	bool in_open = true, out_open = true;
	while (out_open) {
		if (in_open) {
			int r = feed_some(in, f);
			if (r != 0) {
				close(in);
				in_open = false;
			}
		}
		struct pollfd p[2];
		int np = 0;
		p[np++] = (struct pollfd){.fd = out, .events = POLLIN};
		if (in_open)
			p[np++] = (struct pollfd){.fd = in, .events = POLLOUT};
		uint64_t now = now_ms();
		if (now >= deadline) {
			if (in_open)
				close(in);
			return true;
		}
		int rc = poll(p, (nfds_t)np, (int)(deadline - now));
		if (rc < 0 && errno != EINTR) {
			if (in_open)
				close(in);
			return false;
		}
		if (rc > 0 && p[0].revents) {
			char b[4096];
			ssize_t n = read(out, b, sizeof(b));
			if (n > 0) {
				size_t keep = OUTPUT_KEEP - *olen;
				if ((size_t)n < keep)
					keep = (size_t)n;
				memcpy(output + *olen, b, keep);
				*olen += keep;
			} else if (n == 0 || errno != EAGAIN) {
				out_open = false;
			}
		}
	}
	if (in_open)
		close(in);
	return false;
}

static void outcome(struct local_target *t, enum local_status st,
		    const char *dsn, const char *what, const char *output,
		    size_t olen)
{
	char q[OUTPUT_KEEP + 8], cmd[128];
	log_quote(cmd, sizeof(cmd), t->path, strlen(t->path));
	t->status = st;
	(void)snprintf(t->dsn, sizeof(t->dsn), "%s", dsn);
	free(t->reason);
	if (olen > 0)
		t->reason = xasprintf("%s: \"%s\". Command output: %s", what,
				      cmd, log_quote(q, sizeof(q), output, olen));
	else
		t->reason = xasprintf("%s: %s", what, cmd);
}

void local_command_run(struct local_target *t, const struct local_msg *msg,
		       const char *prepend, size_t prepend_len,
		       const char *sender, const char *recipient,
		       bool as_root)
{
	uid_t uid = t->uid;
	gid_t gid = t->gid;
	if (as_root)
		local_never_root(&uid, &gid);
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0) {
		outcome(t, LOCAL_DEFER, "4.3.0", "cannot run command", "", 0);
		return;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		outcome(t, LOCAL_DEFER, "4.3.0", "cannot run command", "", 0);
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		child(t, uid, gid, as_root, in[0], out[1], sender, recipient);
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		outcome(t, LOCAL_DEFER, "4.3.0", "cannot fork", "", 0);
		return;
	}
	(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
	struct feed f = {.p = {prepend, msg->data},
			 .len = {prepend_len, msg->len}};
	char output[OUTPUT_KEEP];
	size_t olen = 0;
	uint64_t deadline = now_ms() + (uint64_t)params->command_time_limit *
						  1000;
	bool timed_out = pump(in[1], out[0], &f, output, &olen, deadline);
	close(out[0]);
	if (timed_out) {
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
	}
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	/* What the command left running in its group goes too. */
	(void)kill(-pid, SIGKILL);
	if (timed_out) {
		outcome(t, LOCAL_DEFER, "4.3.0", "command time limit exceeded",
			output, olen);
	} else if (WIFSIGNALED(ws)) {
		char what[64];
		(void)snprintf(what, sizeof(what), "command killed by signal %d",
			       WTERMSIG(ws));
		outcome(t, LOCAL_DEFER, "4.3.0", what, output, olen);
	} else if (WEXITSTATUS(ws) == 0) {
		t->status = LOCAL_OK;
		(void)snprintf(t->dsn, sizeof(t->dsn), "2.0.0");
		free(t->reason);
		char cmd[128];
		t->reason = xasprintf("delivered to command: %s",
				      log_quote(cmd, sizeof(cmd), t->path,
						strlen(t->path)));
	} else {
		int st = WEXITSTATUS(ws);
		char what[64];
		(void)snprintf(what, sizeof(what), "command died with status %d",
			       st);
		bool temp = st >= 71 && st <= 75;
		outcome(t, temp ? LOCAL_DEFER : LOCAL_BOUNCE,
			temp ? "4.3.0" : "5.3.0", what, output, olen);
	}
}
