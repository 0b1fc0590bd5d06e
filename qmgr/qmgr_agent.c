/* SPDX-License-Identifier: MIT */
/*
 * qmgr_agent.c - connections to delivery agents, from the event loop
 *
 * A transport's agents listen on queue_directory/private/<transport>
 * (master starts them on demand). qmgr connects without blocking, checks
 * the greeting (proto=deliver, version=1; group=N when the agent takes
 * groups), sends a group of requests at once (each but the last with
 * more=1; a group of one for agents that did not say group=), takes the
 * replies in order, one per request, and keeps the connection for the
 * next group to that transport; an idle connection is closed after
 * max_idle/2 seconds so the agent process can go.
 *
 * Failures never lose recipients: they come back to qmgr_sched as
 * deferrals. The socket missing or refusing marks the transport dead
 * ("delivery temporarily suspended: connect to private/smtp: ..."); a
 * connection that ends while requests are out means the agent crashed
 * or was killed, and the recipients of every request not yet answered
 * are deferred ("lost connection with ... while delivering") - the agent
 * may have delivered some of them, so the retry may duplicate, never
 * lose. A malformed reply is logged and treated the same way. Each reply
 * must come within daemon_timeout of the previous one (or of the
 * sending), the greeting within ipc_timeout.
 */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_deliver.h"
#include "common/xalloc.h"

enum conn_state {
	C_CONNECTING, /* waiting for the greeting; group attached */
	C_BUSY,       /* requests sent (or being sent), waiting for replies */
	C_IDLE,
};

struct qmgr_conn {
	struct ipc_conn ipc;
	struct event *ev;
	struct event *timer;
	struct qmgr_transport *t;
	enum conn_state state;
	struct qmgr_job *job; /* the first request not answered; the rest
	                         of the group follows by group_next */
	size_t njobs;         /* requests not answered */
	int64_t start_ms;
	struct qmgr_conn *next; /* idle list of t */
	struct qmgr_conn *all_prev, *all_next;
};

static struct qmgr_conn *all;
static size_t nbusy;

size_t qmgr_agent_busy(void)
{
	return nbusy;
}

static long idle_ms(void)
{
	long s = params->max_idle / 2;
	return (s < 1 ? 1 : s) * 1000;
}

static void idle_remove(struct qmgr_conn *c)
{
	struct qmgr_conn **p = &c->t->idle;
	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	c->next = NULL;
}

static void conn_free(struct qmgr_conn *c)
{
	if (c->state == C_IDLE)
		idle_remove(c);
	nbusy -= c->njobs;
	event_del(&c->ev);
	event_del(&c->timer);
	ipc_conn_deinit(&c->ipc);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	free(c);
}

/* Suspends t for transport_retry_time; returns the reason its jobs get. */
static const char *mark_dead(struct qmgr_transport *t, const char *why)
{
	t->dead_until_ms = (int64_t)event_now_ms(service_loop()) +
	                   params->transport_retry_time * 1000;
	(void)snprintf(t->dead_reason, sizeof(t->dead_reason),
	               "delivery temporarily suspended: %.260s", why);
	log_warn("transport %s: %s", t->name, t->dead_reason);
	return t->dead_reason;
}

/* Ends the group of jobs j (linked by group_next), in order, each
 * deferred with reason, then the group itself. */
static void group_fail(struct qmgr_transport *t, struct qmgr_job *j,
                       const char *reason)
{
	if (!j)
		return;
	while (j) {
		struct qmgr_job *next = j->group_next;
		qmgr_sched_job_done(j, NULL, "4.3.0", reason);
		j = next;
	}
	qmgr_sched_group_done(t);
}

/* Ends c; the requests it has not answered are deferred with reason.
 * With dead set, the transport is suspended for transport_retry_time
 * too. */
static void conn_fail(struct qmgr_conn *c, const char *reason, bool dead)
{
	struct qmgr_job *j = c->job;
	struct qmgr_transport *t = c->t;
	if (dead)
		reason = mark_dead(t, reason);
	char why[sizeof(t->dead_reason)];
	(void)snprintf(why, sizeof(why), "%s", reason);
	conn_free(c);
	group_fail(t, j, why);
}

static void on_conn(struct event *ev, unsigned what, void *ctx);

static void set_timer(struct qmgr_conn *c, long ms)
{
	event_timer_set(c->timer, ms);
}

/* Builds the requests of c's group, each but the last with more=1,
 * into v (c->njobs entries). A job whose request cannot be built (over
 * IPC limits: cannot happen within DELIVER_RCPT_MAX recipients of
 * bounded addresses, but that is not trusted) leaves the group and is
 * deferred alone. Returns how many were built. */
static size_t build_requests(struct qmgr_conn *c, struct ipc_msg *v)
{
	size_t n = 0;
	struct qmgr_job **link = &c->job;
	while (*link) {
		struct qmgr_job *j = *link;
		ipc_msg_init(&v[n]);
		if (qmgr_request_build(j, &v[n]) == 0 &&
		    v[n].wire.len + 64 < IPC_MSG_MAX) {
			n++;
			link = &j->group_next;
			continue;
		}
		log_error("%s: delivery request over IPC limits",
		          j->msg->env.queue_id);
		ipc_msg_deinit(&v[n]);
		*link = j->group_next;
		j->group_next = NULL;
		c->njobs--;
		nbusy--;
		qmgr_sched_job_done(j, NULL, "4.3.0",
		                    "delivery request too large");
	}
	for (size_t i = 0; i + 1 < n; i++)
		(void)ipc_put_str(&v[i], DELIVER_ATTR_MORE, "1");
	return n;
}

static void make_idle(struct qmgr_conn *c);

/* Queues the requests of c's group and starts writing them. */
static void send_requests(struct qmgr_conn *c)
{
	struct ipc_msg *v = xcalloc(c->njobs, sizeof(*v));
	size_t n = build_requests(c, v);
	int rc = 0;
	int64_t now = qmgr_now_ms();
	struct qmgr_job *j = c->job;
	for (size_t i = 0; i < n; i++, j = j->group_next) {
		if (rc == 0)
			rc = ipc_conn_queue(&c->ipc, &v[i]);
		j->sent_ms = now;
		ipc_msg_deinit(&v[i]);
	}
	free(v);
	if (n == 0) {
		make_idle(c);
		qmgr_sched_group_done(c->t);
		return;
	}
	if (rc < 0) {
		/* More than IPC_CONN_OUT_MAX: the group was bounded by
		 * DELIVER_GROUP_BYTES_MAX, so this cannot happen either. */
		log_error("%s: delivery requests over the output limit",
		          c->job->msg->env.queue_id);
		conn_fail(c, "delivery request too large", false);
		return;
	}
	c->state = C_BUSY;
	set_timer(c, params->daemon_timeout * 1000);
	rc = ipc_conn_flush(&c->ipc);
	if (rc < 0) {
		char why[300];
		(void)snprintf(why, sizeof(why),
		               "lost connection with %s while delivering: %s",
		               c->t->label, strerror(errno));
		conn_fail(c, why, false);
		return;
	}
	event_fd_set(c->ev, rc == 0 ? EVENT_READ | EVENT_WRITE : EVENT_READ);
}

static void make_idle(struct qmgr_conn *c)
{
	c->state = C_IDLE;
	c->next = c->t->idle;
	c->t->idle = c;
	event_fd_set(c->ev, EVENT_READ);
	set_timer(c, idle_ms());
}

static int check_greeting(struct qmgr_conn *c, const struct ipc_msg *g)
{
	const char *proto = "";
	uint64_t v = 0, group = 1;
	if (ipc_get_str(g, "proto", &proto) == 1 &&
	    strcmp(proto, DELIVER_PROTO) == 0 &&
	    ipc_get_u64(g, "version", 0, UINT32_MAX, &v) == 1 &&
	    v == DELIVER_PROTO_VERSION) {
		/* Absent or not a number: one request at a time. */
		if (ipc_get_u64(g, DELIVER_ATTR_GROUP, 1, UINT32_MAX, &group) !=
		    1)
			group = 1;
		c->t->group_max = group < DELIVER_GROUP_MAX ? (size_t)group
		                                            : DELIVER_GROUP_MAX;
		return 0;
	}
	char why[300], q[40];
	(void)snprintf(why, sizeof(why),
	               "%s speaks proto=%s version=%llu, not %s version %u",
	               c->t->label, log_quote(q, sizeof(q), proto, strlen(proto)),
	               (unsigned long long)v, DELIVER_PROTO,
	               DELIVER_PROTO_VERSION);
	conn_fail(c, why, true);
	return -1;
}

/* The reply to the first request of c's group not answered yet. 0, or
 * -1 when c is gone (a malformed reply ends the connection). */
static int take_reply(struct qmgr_conn *c, const struct ipc_msg *m)
{
	struct qmgr_job *j = c->job;
	struct arena *a = arena_new();
	struct qmgr_result *res = arena_calloc(a, j->n, sizeof(*res));
	const char *reason = NULL;
	struct err e;
	int rc = qmgr_reply_decode(m, j->n, a, res, &reason, &e);
	if (rc < 0) {
		log_warn("%s: malformed reply from %s: %s", j->msg->env.queue_id,
		         c->t->label, e.msg);
		char why[300];
		(void)snprintf(why, sizeof(why),
		               "malformed reply from delivery agent %s",
		               c->t->name);
		conn_fail(c, why, false);
		arena_free(&a);
		return -1;
	}
	c->job = j->group_next;
	c->njobs--;
	nbusy--;
	j->group_next = NULL;
	if (c->job)
		set_timer(c, params->daemon_timeout * 1000);
	else
		make_idle(c);
	if (rc == 1)
		qmgr_sched_job_done(j, NULL, "4.3.0", reason);
	else
		qmgr_sched_job_done(j, res, NULL, NULL);
	arena_free(&a);
	if (!c->job)
		qmgr_sched_group_done(c->t);
	return 0;
}

/* Reads and acts on whole messages; -1 when c is gone. */
static int process_input(struct qmgr_conn *c)
{
	struct ipc_msg m;
	struct err e;
	ipc_msg_init(&m);
	for (;;) {
		int rc = ipc_conn_next(&c->ipc, &m, &e);
		if (rc == 0)
			break;
		if (rc < 0 || c->state == C_IDLE) {
			/* Nothing may arrive unasked. */
			log_warn("%s: %s", c->t->label,
			         rc < 0 ? e.msg : "unexpected message");
			char why[300];
			(void)snprintf(why, sizeof(why),
			               "malformed reply from delivery agent %s",
			               c->t->name);
			ipc_msg_deinit(&m);
			conn_fail(c, why, false);
			return -1;
		}
		if (c->state == C_CONNECTING) {
			if (check_greeting(c, &m) < 0) {
				ipc_msg_deinit(&m);
				return -1;
			}
			int64_t ms = qmgr_now_ms() - c->start_ms;
			for (struct qmgr_job *j = c->job; j; j = j->group_next)
				j->conn_ms = ms;
			send_requests(c);
			/* send_requests may have failed and freed c. */
			ipc_msg_deinit(&m);
			return -1;
		}
		/* Replies come in the order of the requests; a group's
		 * may arrive in one read. */
		if (take_reply(c, &m) < 0) {
			ipc_msg_deinit(&m);
			return -1;
		}
	}
	ipc_msg_deinit(&m);
	return 0;
}

static void lost(struct qmgr_conn *c, int err)
{
	char why[300];
	switch (c->state) {
	case C_IDLE:
		conn_free(c); /* the agent went away between requests */
		return;
	case C_CONNECTING:
		(void)snprintf(why, sizeof(why),
		               "lost connection with %s before its greeting%s%s",
		               c->t->label, err ? ": " : "",
		               err ? strerror(err) : "");
		conn_fail(c, why, true);
		return;
	case C_BUSY:
		(void)snprintf(why, sizeof(why),
		               "lost connection with %s while delivering "
		               "(delivery agent crashed?)",
		               c->t->label);
		log_warn("%s: %s", c->job->msg->env.queue_id, why);
		conn_fail(c, why, false);
		return;
	}
}

static void on_conn(struct event *ev, unsigned what, void *ctx)
{
	struct qmgr_conn *c = ctx;
	(void)ev;
	if (what & EVENT_WRITE) {
		int rc = ipc_conn_flush(&c->ipc);
		if (rc < 0) {
			lost(c, errno);
			return;
		}
		if (rc == 1)
			event_fd_set(c->ev, EVENT_READ);
		if (!(what & (EVENT_READ | EVENT_ERROR)))
			return;
	}
	int rc = ipc_conn_fill(&c->ipc);
	if (rc < 0) {
		lost(c, errno);
		return;
	}
	if (process_input(c) < 0)
		return;
	if (rc == 0)
		lost(c, 0);
}

static void on_timer(struct event *ev, unsigned what, void *ctx)
{
	struct qmgr_conn *c = ctx;
	(void)ev;
	(void)what;
	char why[300];
	switch (c->state) {
	case C_IDLE:
		conn_free(c);
		return;
	case C_CONNECTING:
		(void)snprintf(why, sizeof(why),
		               "timeout waiting for the greeting of %s",
		               c->t->label);
		conn_fail(c, why, true);
		return;
	case C_BUSY:
		(void)snprintf(why, sizeof(why),
		               "timeout waiting for the reply of %s", c->t->label);
		log_warn("%s: %s", c->job->msg->env.queue_id, why);
		conn_fail(c, why, false);
		return;
	}
}

/* A non-blocking connect to t's socket: fd, or -1 with errno. On a UNIX
 * socket connect() completes at once or fails (EAGAIN: backlog full). */
static int connect_agent(const struct qmgr_transport *t)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(t->path);
	if (n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, t->path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

void qmgr_agent_start(struct qmgr_job *j)
{
	struct qmgr_transport *t = j->dest->t;
	struct qmgr_conn *c = t->idle;
	size_t n = 0;
	for (struct qmgr_job *k = j; k; k = k->group_next) {
		k->conn_ms = 0;
		n++;
	}
	if (c) {
		idle_remove(c);
		c->job = j;
		c->njobs = n;
		nbusy += n;
		send_requests(c);
		return;
	}
	int fd = connect_agent(t);
	if (fd < 0) {
		int err = errno;
		char why[300];
		(void)snprintf(why, sizeof(why), "connect to %s: %s", t->label,
		               err == EAGAIN ? "all delivery agents busy "
		                               "(backlog full)"
		                             : strerror(err));
		/* A full backlog is a moment's congestion, not a dead
		 * transport. */
		group_fail(t, j, err == EAGAIN ? why : mark_dead(t, why));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->t = t;
	c->job = j;
	c->njobs = n;
	nbusy += n;
	c->state = C_CONNECTING;
	c->start_ms = qmgr_now_ms();
	ipc_conn_init(&c->ipc, fd, t->name);
	c->ev = event_add_fd(service_loop(), fd, EVENT_READ, on_conn, c);
	c->timer = event_add_timer(service_loop(), params->ipc_timeout * 1000,
	                           on_timer, c);
	c->all_next = all;
	if (all)
		all->all_prev = c;
	all = c;
	if (!c->ev) {
		char why[300];
		(void)snprintf(why, sizeof(why), "cannot watch %s: %s", t->label,
		               strerror(errno));
		conn_fail(c, why, false);
	}
}

void qmgr_agent_close_idle(struct qmgr_transport *t)
{
	struct qmgr_conn *c = all, *next;
	for (; c; c = next) {
		next = c->all_next;
		if (c->state == C_IDLE && (!t || c->t == t))
			conn_free(c);
	}
}

void qmgr_agent_close_all(const char *reason)
{
	while (all) {
		struct qmgr_conn *c = all;
		if (reason && c->job) {
			conn_fail(c, reason, false);
		} else {
			/* Dropped unrecorded (shutdown). */
			c->job = NULL;
			conn_free(c);
		}
	}
}
