/* SPDX-License-Identifier: MIT */
/*
 * master_svc.c - services, their sockets and their processes
 *
 * Each service has listening sockets (opened here, as root, before any
 * fork), one status pipe per generation, and a list of processes. A
 * process is STARTING (forked, has not spoken), AVAIL or BUSY. master
 * watches a service's sockets only when no process is STARTING or AVAIL
 * and fewer than maxproc run: then a readable socket means a client waits
 * that nobody will take, so one more process is forked. This is how
 * maxproc workers appear as connections arrive without a fork storm.
 *
 * A crash (signal, or exit status other than 0) throttles the service:
 * no new process for 1, 2, 4 ... up to service_throttle_time seconds; a
 * process that lived a minute resets the back-off.
 *
 * Retirement: closing a generation's status pipe read end tells its
 * processes to finish their client and exit (master_proto.h). Retired
 * processes are still reaped and counted, but never restarted. A service
 * with maxproc 1 (qmgr) gets no new process until the retired one is
 * gone, so two queue managers never run at once.
 */
#include "master/master_svc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/master_proto.h"
#include "common/net.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/xalloc.h"

#define MAX_FDS 16
#define HEALTHY_MS 60000

enum proc_state { PROC_STARTING, PROC_AVAIL, PROC_BUSY };

struct svc;

struct proc {
	pid_t pid;
	enum proc_state state;
	struct svc *svc; /* NULL once retired */
	char *key;       /* service key, kept for retired processes */
	bool single;     /* its service had maxproc 1 */
	uint64_t started;
	struct proc *next;
};

struct svc {
	struct mastercf_service conf;
	char *key; /* "type/name" */
	char *path;
	int fds[MAX_FDS];
	int nfds;
	int maxproc;
	bool always;
	int status_rd, status_wr;
	struct event *status_ev;
	struct event *listen_ev[MAX_FDS];
	bool listening;
	unsigned failures;
	struct event *throttle; /* armed while throttled */
	bool throttled;
	struct svc *next;
};

static struct event_loop *loop;
static const struct master_opts *opts;
static struct svc *services;
static struct proc *procs;

static void reconsider(struct svc *s);

static uint64_t now_ms(void)
{
	return event_now_ms(loop);
}

static int count_procs(const struct svc *s, bool starting_or_avail)
{
	int n = 0;
	for (struct proc *p = procs; p; p = p->next)
		if (p->svc == s &&
		    (!starting_or_avail || p->state != PROC_BUSY))
			n++;
	return n;
}

static bool retired_single_running(const char *key)
{
	for (struct proc *p = procs; p; p = p->next)
		if (!p->svc && p->single && strcmp(p->key, key) == 0)
			return true;
	return false;
}

static void copy_conf(struct mastercf_service *dst,
		      const struct mastercf_service *src)
{
	*dst = *src;
	dst->name = xstrdup(src->name);
	dst->type = xstrdup(src->type);
	dst->command = xstrdup(src->command);
	dst->host = src->host ? xstrdup(src->host) : NULL;
	dst->port = src->port ? xstrdup(src->port) : NULL;
	strv_init(&dst->args);
	strv_init(&dst->overrides);
	for (size_t i = 0; i < src->args.n; i++)
		strv_push(&dst->args, src->args.v[i]);
	for (size_t i = 0; i < src->overrides.n; i++)
		strv_push(&dst->overrides, src->overrides.v[i]);
}

static void free_conf(struct mastercf_service *c)
{
	free(c->name);
	free(c->type);
	free(c->command);
	free(c->host);
	free(c->port);
	strv_deinit(&c->args);
	strv_deinit(&c->overrides);
}

/* ---- sockets ----------------------------------------------------- */

/* Services run as mail_owner and connect to each other's sockets, so a
 * socket master creates as root must belong to mail_owner. */
static int chown_mail_owner(const char *path)
{
	struct err e;
	uid_t uid;
	gid_t gid;
	if (!privs_is_root())
		return 0;
	if (privs_lookup_user(params->mail_owner, &uid, &gid, &e) < 0) {
		errno = ENOENT;
		return -1;
	}
	return chown(path, uid, gid);
}

static int open_inet(struct svc *s, struct err *e)
{
	const char *host = s->conf.host ? s->conf.host : "";
	if (host[0]) {
		int n = net_listen_inet(host, s->conf.port, 1024, s->fds,
					MAX_FDS, e);
		if (n < 0)
			return -1;
		s->nfds = n;
		return 0;
	}
	/* No host in master.cf: every inet_interfaces address. */
	const struct strv *ifs = &params->inet_interfaces;
	for (size_t i = 0; i < ifs->n || (i == 0 && ifs->n == 0); i++) {
		const char *h = ifs->n ? ifs->v[i] : "all";
		int n = net_listen_inet(h, s->conf.port, 1024, s->fds + s->nfds,
					(size_t)(MAX_FDS - s->nfds), e);
		if (n < 0) {
			for (int j = 0; j < s->nfds; j++)
				close(s->fds[j]);
			s->nfds = 0;
			return -1;
		}
		s->nfds += n;
	}
	return 0;
}

static int open_unix(struct svc *s, struct err *e)
{
	const char *dir = s->conf.private_ ? "private" : "public";
	char *path = xasprintf("%s/%s/%s", params->queue_directory, dir,
			       s->conf.name);
	/* Private sockets are reachable only through the 0700 private/
	 * directory; public ones are guarded by public/'s group. */
	int fd = net_listen_unix(path, s->conf.private_ ? 0600 : 0666, 1024, e);
	if (fd >= 0 && chown_mail_owner(path) < 0)
		log_warn("chown %s: %s", path, strerror(errno));
	free(path);
	if (fd < 0)
		return -1;
	s->fds[0] = fd;
	s->nfds = 1;
	return 0;
}

static int open_sockets(struct svc *s, struct err *e)
{
	if (strcmp(s->conf.type, "inet") == 0)
		return open_inet(s, e);
	return open_unix(s, e);
}

static void close_sockets(struct svc *s)
{
	for (int i = 0; i < s->nfds; i++) {
		event_del(&s->listen_ev[i]);
		close(s->fds[i]);
	}
	s->nfds = 0;
	s->listening = false;
	if (strcmp(s->conf.type, "unix") == 0) {
		char *path = xasprintf("%s/%s/%s", params->queue_directory,
				       s->conf.private_ ? "private" : "public",
				       s->conf.name);
		(void)unlink(path);
		free(path);
	}
}

/* ---- processes --------------------------------------------------- */

static void on_status(struct event *ev, unsigned what, void *ctx);

static int open_status_pipe(struct svc *s, struct err *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		err_set(e, "pipe: %s", strerror(errno));
		return -1;
	}
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->status_rd = p[0];
	s->status_wr = p[1];
	s->status_ev = event_add_fd(loop, p[0], EVENT_READ, on_status, s);
	return 0;
}

static void close_status_pipe(struct svc *s)
{
	event_del(&s->status_ev);
	if (s->status_rd >= 0)
		close(s->status_rd);
	if (s->status_wr >= 0)
		close(s->status_wr);
	s->status_rd = s->status_wr = -1;
}

static void build_argv(struct svc *s, struct strv *av)
{
	char n[16];
	strv_push(av, s->path);
	strv_push(av, "-c");
	strv_push(av, opts->config_dir);
	strv_push(av, "-n");
	strv_push(av, s->conf.name);
	strv_push(av, "-t");
	strv_push(av, s->conf.type);
	(void)snprintf(n, sizeof(n), "%d", s->nfds);
	strv_push(av, "-s");
	strv_push(av, n);
	if (s->conf.unpriv)
		strv_push(av, "-u");
	if (s->conf.chroot)
		strv_push(av, "-r");
	for (int i = 0; i < opts->verbose; i++)
		strv_push(av, "-v");
	/* master's own overrides first, so a service's -o wins. */
	for (size_t i = 0; i < opts->overrides->n; i++) {
		strv_push(av, "-o");
		strv_push(av, opts->overrides->v[i]);
	}
	for (size_t i = 0; i < s->conf.overrides.n; i++) {
		strv_push(av, "-o");
		strv_push(av, s->conf.overrides.v[i]);
	}
	strv_push(av, "--");
	for (size_t i = 0; i < s->conf.args.n; i++)
		strv_push(av, s->conf.args.v[i]);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static _Noreturn void exec_child(struct svc *s, char **argv)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	/* Move the status pipe and sockets out of the way first, then into
	 * their fixed numbers (they may already sit there). */
	int base = 1000;
	if (dup2(s->status_wr, base) < 0)
		_exit(71);
	for (int i = 0; i < s->nfds; i++)
		if (dup2(s->fds[i], base + 1 + i) < 0)
			_exit(71);
	if (dup2(base, MASTER_STATUS_FD) < 0)
		_exit(71);
	for (int i = 0; i < s->nfds; i++)
		if (dup2(base + 1 + i, MASTER_LISTEN_FD + i) < 0)
			_exit(71);
	close_range((unsigned)(MASTER_LISTEN_FD + s->nfds), ~0U, 0);
	execv(argv[0], argv);
	_exit(127);
}

static void spawn(struct svc *s)
{
	struct strv av;
	strv_init(&av);
	build_argv(s, &av);
	pid_t pid = fork();
	if (pid < 0) {
		log_warn("fork %s: %s", s->path, strerror(errno));
		strv_deinit(&av);
		return;
	}
	if (pid == 0)
		exec_child(s, av.v);
	strv_deinit(&av);
	struct proc *p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->state = PROC_STARTING;
	p->svc = s;
	p->key = xstrdup(s->key);
	p->single = s->maxproc == 1;
	p->started = now_ms();
	p->next = procs;
	procs = p;
	log_debug(1, "started %s pid %ld for service %s", s->path, (long)pid,
		  s->conf.name);
}

static void on_listen(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	struct svc *s = ctx;
	if (count_procs(s, true) == 0 && count_procs(s, false) < s->maxproc &&
	    !s->throttled)
		spawn(s);
	reconsider(s);
}

static void set_listening(struct svc *s, bool on)
{
	if (s->listening == on)
		return;
	for (int i = 0; i < s->nfds; i++) {
		if (on)
			s->listen_ev[i] = event_add_fd(
				loop, s->fds[i], EVENT_READ, on_listen, s);
		else
			event_del(&s->listen_ev[i]);
	}
	s->listening = on;
}

/* Decides whether master must watch s's sockets or start a process. */
static void reconsider(struct svc *s)
{
	int total = count_procs(s, false);
	int ready = count_procs(s, true);
	bool blocked = s->throttled ||
		       (s->maxproc == 1 && retired_single_running(s->key));
	if (s->always && total == 0 && !blocked) {
		spawn(s);
		total = 1, ready = 1;
	}
	set_listening(s, ready == 0 && total < s->maxproc && !blocked &&
				 s->nfds > 0);
}

static struct proc *find_proc(pid_t pid)
{
	for (struct proc *p = procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static void on_status(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct svc *s = ctx;
	struct master_status st;
	ssize_t n;
	while ((n = read(event_fd(ev), &st, sizeof(st))) == sizeof(st)) {
		struct proc *p = find_proc(st.pid);
		if (!p || p->svc != s)
			continue;
		if (st.kind == MASTER_STATUS_AVAIL)
			p->state = PROC_AVAIL;
		else if (st.kind == MASTER_STATUS_BUSY)
			p->state = PROC_BUSY;
	}
	reconsider(s);
}

static void on_throttle_end(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct svc *s = ctx;
	event_del(&ev);
	s->throttle = NULL;
	s->throttled = false;
	reconsider(s);
}

static void note_exit(struct proc *p, int status)
{
	struct svc *s = p->svc;
	bool bad = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	const char *path = s ? s->path : p->key;
	if (WIFSIGNALED(status))
		log_warn("process %s pid %ld killed by signal %d", path,
			 (long)p->pid, WTERMSIG(status));
	else if (bad)
		log_warn("process %s pid %ld exit status %d", path,
			 (long)p->pid, WEXITSTATUS(status));
	if (!s)
		return;
	if (!bad || now_ms() - p->started > HEALTHY_MS)
		s->failures = 0;
	if (!bad)
		return;
	long delay = 1L << (s->failures < 16 ? s->failures : 16);
	if (delay > params->service_throttle_time)
		delay = params->service_throttle_time;
	s->failures++;
	s->throttled = true;
	event_del(&s->throttle);
	s->throttle = event_add_timer(loop, delay * 1000, on_throttle_end, s);
	log_warn("%s: back-off %ld second%s before the next process", path,
		 delay, delay == 1 ? "" : "s");
}

void master_svc_reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct proc **pp = &procs;
		while (*pp && (*pp)->pid != pid)
			pp = &(*pp)->next;
		if (!*pp)
			continue;
		struct proc *p = *pp;
		*pp = p->next;
		note_exit(p, status);
		free(p->key);
		free(p);
	}
	for (struct svc *s = services; s; s = s->next)
		reconsider(s);
}

/* ---- configuration ----------------------------------------------- */

void master_svc_setup(struct event_loop *l, const struct master_opts *o)
{
	loop = l;
	opts = o;
}

static char *svc_key(const struct mastercf_service *c)
{
	return xasprintf("%s/%s", c->type, c->name);
}

static struct svc *find_svc(struct svc *list, const char *key)
{
	for (; list; list = list->next)
		if (strcmp(list->key, key) == 0)
			return list;
	return NULL;
}

static void free_svc(struct svc *s)
{
	set_listening(s, false);
	close_status_pipe(s);
	event_del(&s->throttle);
	free_conf(&s->conf);
	free(s->key);
	free(s->path);
	free(s);
}

static struct svc *new_svc(const struct mastercf_service *c)
{
	struct svc *s = xcalloc(1, sizeof(*s));
	copy_conf(&s->conf, c);
	s->key = svc_key(c);
	s->path = strchr(c->command, '/')
			  ? xstrdup(c->command)
			  : xasprintf("%s/%s", params->daemon_directory,
				      c->command);
	s->maxproc =
		c->maxproc ? c->maxproc : (int)params->default_process_limit;
	s->always = c->wakeup > 0;
	s->status_rd = s->status_wr = -1;
	return s;
}

static void retire_all(void)
{
	for (struct proc *p = procs; p; p = p->next)
		p->svc = NULL;
}

int master_svc_apply(const struct mastercf *cf, struct err *e)
{
	struct svc *fresh = NULL, **tail = &fresh;

	for (size_t i = 0; i < cf->n; i++) {
		struct svc *s = new_svc(&cf->v[i]);
		if (access(s->path, X_OK) < 0)
			log_warn("%s:%d: %s: %s", cf->path, cf->v[i].line,
				 s->path, strerror(errno));
		struct svc *old = find_svc(services, s->key);
		if (old) {
			/* Same type and name: keep the very sockets, so no
			 * client is refused during a reload. */
			set_listening(old, false);
			memcpy(s->fds, old->fds, sizeof(s->fds));
			s->nfds = old->nfds;
			old->nfds = 0;
		} else if (open_sockets(s, e) < 0) {
			err_set(e, "%s:%d: service %s: %.400s", cf->path,
				cf->v[i].line, cf->v[i].name, e->msg);
			goto fail;
		}
		*tail = s;
		tail = &s->next;
	}
	/* Everything could be opened: switch over. */
	for (struct svc *o = services, *next; o; o = next) {
		next = o->next;
		if (o->nfds)
			close_sockets(o);
		free_svc(o);
	}
	retire_all();
	services = fresh;
	for (struct svc *s = services; s; s = s->next) {
		if (open_status_pipe(s, e) < 0)
			log_fatal("%s", e->msg);
		reconsider(s);
	}
	return 0;

fail:
	/* Give borrowed sockets back, close the ones opened for this try. */
	for (struct svc *s = fresh, *next; s; s = next) {
		next = s->next;
		struct svc *old = find_svc(services, s->key);
		if (old) {
			memcpy(old->fds, s->fds, sizeof(s->fds));
			old->nfds = s->nfds;
			s->nfds = 0;
			reconsider(old);
		} else {
			for (int i = 0; i < s->nfds; i++)
				close(s->fds[i]);
			s->nfds = 0;
		}
		free_svc(s);
	}
	return -1;
}

int master_svc_stop_all(void)
{
	for (struct svc *s = services, *next; s; s = next) {
		next = s->next;
		close_sockets(s);
		free_svc(s);
	}
	services = NULL;
	retire_all();
	int n = 0;
	for (struct proc *p = procs; p; p = p->next, n++)
		(void)kill(p->pid, SIGTERM);
	return n;
}

void master_svc_kill_all(void)
{
	for (struct proc *p = procs; p; p = p->next) {
		log_warn("process %s pid %ld did not stop; killing it", p->key,
			 (long)p->pid);
		(void)kill(p->pid, SIGKILL);
	}
}

int master_svc_nchildren(void)
{
	int n = 0;
	for (struct proc *p = procs; p; p = p->next)
		n++;
	return n;
}
