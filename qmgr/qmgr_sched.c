/* SPDX-License-Identifier: MIT */
/*
 * qmgr_sched.c - the active set: what is being delivered, where, and how
 * many at once
 *
 * A message enters the active set when it is committed (the commit hook)
 * or when a due scan finds it (queue_run_delay, flush, release, start-up);
 * at most qmgr_message_active_limit are in it. On entry each recipient
 * that still wants delivery is routed (qmgr_route.c) to a destination =
 * transport + nexthop (+ the recipient itself for the local class, so
 * local_destination_concurrency_limit counts deliveries to one user, as
 * in Postfix), and the recipients of one message for one destination
 * become jobs of at most the destination's recipient limit, one for
 * each delivered-to chain among them (forwarded recipients: the copy
 * sent carries the chain, so it cannot be shared). Each
 * destination keeps a FIFO of jobs; each transport a ring of destinations
 * with work, served round-robin so one busy domain cannot starve the
 * others, within the destination and transport concurrency limits.
 * A job is one delivery request; the jobs ready for a transport go out
 * in groups, several requests on one connection (qmgr_agent.c), as many
 * as its agents take. Results come back through qmgr_sched_job_done() to
 * qmgr_result.c, and the message goes to qmgr_store.c, which writes the
 * outcome and lets it leave the set.
 *
 * Invariants: a recipient is in at most one job (QMGR_R_BUSY); msg->jobs
 * counts its jobs queued or in flight; d->active counts the groups in
 * flight holding a job of d (the last such job of a group frees it);
 * t->active counts t's busy connections; a message leaves the active set
 * only through qmgr_store.c once msg->jobs is 0. Nothing is written to
 * the index on entry: if qmgr dies, every recipient not yet recorded is
 * still pending or deferred there, and the next qmgr delivers it again
 * (a duplicate is possible, a loss is not).
 * A transport whose socket cannot be reached is "dead" for
 * transport_retry_time: its jobs are deferred at once with the reason
 * ("delivery temporarily suspended: ..."), not left hanging.
 */
#include "qmgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/params.h"
#include "common/queue_index.h"
#include "common/str.h"
#include "common/xalloc.h"

/* Messages read per index transaction by a scan. */
#define SCAN_CHUNK 256

static struct qmgr_queue *queue;
static struct event_loop *loop;
static struct qmgr_hash active; /* struct qmgr_msg by queue id */
static struct qmgr_hash dests;  /* struct qmgr_dest by key */
static struct qmgr_transport *transports;
static struct event *scan_timer, *kick_timer;
static bool scan_wanted; /* due messages were left for lack of room */
static bool stopping;

int64_t qmgr_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct qmgr_queue *qmgr_sched_queue(void)
{
	return queue;
}

static void kick(void)
{
	if (kick_timer && !stopping)
		event_timer_set(kick_timer, 0);
}

/* ---- messages ------------------------------------------------------ */

static const char *dup_opt(struct arena *a, const char *s)
{
	return s ? arena_strdup(a, s) : NULL;
}

static struct qmgr_msg *msg_new(const struct queue_envelope *env)
{
	struct qmgr_msg *m = xcalloc(1, sizeof(*m));
	struct arena *a = arena_new();
	m->arena = a;
	m->env = *env;
	m->env.rcpts = NULL;
	m->env.sender = arena_strdup(a, env->sender ? env->sender : "");
	m->env.client_name = dup_opt(a, env->client_name);
	m->env.client_addr = dup_opt(a, env->client_addr);
	m->env.helo = dup_opt(a, env->helo);
	m->env.protocol = dup_opt(a, env->protocol);
	m->env.sasl_user = dup_opt(a, env->sasl_user);
	m->env.envid = dup_opt(a, env->envid);
	m->cap = env->nrcpt ? env->nrcpt : 1;
	m->r = xcalloc(m->cap, sizeof(*m->r));
	m->nr = env->nrcpt;
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct queue_rcpt *q = &m->r[i].q;
		*q = env->rcpts[i];
		q->address = arena_strdup(a, q->address);
		q->orcpt = dup_opt(a, q->orcpt);
		q->dsn = dup_opt(a, q->dsn);
		q->reason = dup_opt(a, q->reason);
		q->delivered_to = dup_opt(a, q->delivered_to);
	}
	m->h.key = m->env.queue_id;
	return m;
}

void qmgr_sched_release(struct qmgr_msg *m)
{
	qmgr_hash_remove(&active, &m->h);
	arena_free(&m->arena);
	free(m->r);
	free(m);
}

struct qmgr_msg *qmgr_sched_find(const char *id)
{
	struct qmgr_hash_entry *e = qmgr_hash_find(&active, id);
	return e ? (struct qmgr_msg *)e : NULL;
}

/* Entries of a hash collected into an array, so that the caller may
 * change the table while going through them. */
struct collected {
	struct qmgr_hash_entry **v;
	size_t n;
	bool (*want)(struct qmgr_hash_entry *e);
};

static void collect_one(struct qmgr_hash_entry *e, void *ctx)
{
	struct collected *c = ctx;
	if (!c->want || c->want(e))
		c->v[c->n++] = e;
}

static void collect(const struct qmgr_hash *h, struct collected *c)
{
	c->n = 0;
	c->v = xcalloc(h->count ? h->count : 1, sizeof(*c->v));
	qmgr_hash_walk(h, collect_one, c);
}

void qmgr_sched_walk(void (*fn)(struct qmgr_msg *m, void *ctx), void *ctx)
{
	struct collected c = {0};
	collect(&active, &c);
	for (size_t i = 0; i < c.n; i++)
		fn((struct qmgr_msg *)c.v[i], ctx);
	free(c.v);
}

static bool has_room(void)
{
	return !stopping &&
	       active.count < (size_t)params->qmgr_message_active_limit;
}

static void activate(const struct queue_envelope *env)
{
	struct qmgr_msg *m = msg_new(env);
	m->active_ms = qmgr_now_ms();
	qmgr_hash_add(&active, &m->h);
	qmgr_sched_route(m, 0);
}

void qmgr_sched_committed(const struct queue_envelope *env, void *ctx)
{
	(void)ctx;
	if (qmgr_sched_find(env->queue_id))
		return;
	if (!has_room()) {
		scan_wanted = true;
		return;
	}
	activate(env);
}

void qmgr_sched_add_new(const struct queue_envelope *env)
{
	qmgr_sched_committed(env, NULL);
}

/* ---- transports and destinations ----------------------------------- */

static bool transport_name_ok(const char *s)
{
	if (!s[0] || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.') ||
		    (s[0] == '.' && s[1] == '.'))
			return false;
	return true;
}

static struct qmgr_transport *transport_get(const char *name)
{
	struct qmgr_transport *t;
	for (t = transports; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	t = xcalloc(1, sizeof(*t));
	t->name = xstrdup(name);
	t->path = xasprintf("%s/private/%s", queue->dir, name);
	t->label = xasprintf("private/%s", name);
	t->limit = (int)params->default_transport_concurrency_limit;
	t->next = transports;
	transports = t;
	return t;
}

static void ready_push(struct qmgr_dest *d)
{
	struct qmgr_transport *t = d->t;
	if (d->ready)
		return;
	d->ready = true;
	d->ready_next = NULL;
	if (t->ready_tail)
		t->ready_tail->ready_next = d;
	else
		t->ready_head = d;
	t->ready_tail = d;
}

static struct qmgr_dest *ready_pop(struct qmgr_transport *t)
{
	struct qmgr_dest *d = t->ready_head;
	if (!d)
		return NULL;
	t->ready_head = d->ready_next;
	if (!t->ready_head)
		t->ready_tail = NULL;
	d->ready = false;
	d->ready_next = NULL;
	return d;
}

static struct qmgr_dest *dest_get(struct qmgr_transport *t,
                                  const char *nexthop, const char *rcpt)
{
	char *key = xasprintf("%s\001%s\001%s", t->name, nexthop,
	                      rcpt ? rcpt : "");
	if (rcpt)
		str_lower(key + strlen(t->name) + strlen(nexthop) + 2);
	struct qmgr_hash_entry *e = qmgr_hash_find(&dests, key);
	if (e) {
		free(key);
		return (struct qmgr_dest *)e;
	}
	struct qmgr_dest *d = xcalloc(1, sizeof(*d));
	d->key = key;
	d->h.key = key;
	d->t = t;
	d->nexthop = xstrdup(nexthop);
	if (rcpt) {
		d->limit = (int)params->local_destination_concurrency_limit;
		d->rcpt_limit = 1;
	} else {
		d->limit = (int)params->default_destination_concurrency_limit;
		d->rcpt_limit =
		        (size_t)params->default_destination_recipient_limit;
		if (d->rcpt_limit > DELIVER_RCPT_MAX)
			d->rcpt_limit = DELIVER_RCPT_MAX;
	}
	qmgr_hash_add(&dests, &d->h);
	return d;
}

static void dest_free(struct qmgr_dest *d)
{
	qmgr_hash_remove(&dests, &d->h);
	free(d->key);
	free(d->nexthop);
	free(d);
}

static bool dest_idle(struct qmgr_hash_entry *e)
{
	struct qmgr_dest *d = (struct qmgr_dest *)e;
	return !d->head && d->active == 0 && !d->ready;
}

/* Destinations without work are forgotten (they are cheap to make), once
 * there are many: per-recipient local destinations pile up. */
static void dests_gc(void)
{
	if (dests.count < 1024)
		return;
	struct collected c = {.want = dest_idle};
	collect(&dests, &c);
	for (size_t i = 0; i < c.n; i++)
		dest_free((struct qmgr_dest *)c.v[i]);
	free(c.v);
}

static void job_enqueue(struct qmgr_job *j)
{
	struct qmgr_dest *d = j->dest;
	j->next = NULL;
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	if (d->active < d->limit)
		ready_push(d);
}

static struct qmgr_job *job_pop(struct qmgr_dest *d)
{
	struct qmgr_job *j = d->head;
	if (j) {
		d->head = j->next;
		if (!d->head)
			d->tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* ---- routing a message's recipients into jobs ---------------------- */

static bool same_chain(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static struct qmgr_job *job_new(struct qmgr_msg *m, struct qmgr_dest *d,
                                const char *dlvto)
{
	struct qmgr_job *j = xcalloc(1, sizeof(*j));
	j->msg = m;
	j->dest = d;
	j->dlvto = dlvto && dlvto[0] ? dlvto : NULL;
	j->queued_ms = qmgr_now_ms();
	m->jobs++;
	return j;
}

/* The open job of d with chain dlvto, or NULL. d->open, the last one
 * used, answers at once nearly always (a message's recipients with
 * chains are few: forwarded ones); else the pass's open jobs are
 * searched. */
static struct qmgr_job *open_find(const struct qmgr_open_jobs *o,
                                  const struct qmgr_dest *d,
                                  const char *dlvto)
{
	struct qmgr_job *j = d->open;
	if (!j || same_chain(j->dlvto, dlvto))
		return j;
	for (size_t k = 0; k < o->n; k++)
		if (o->v[k]->dest == d && same_chain(o->v[k]->dlvto, dlvto))
			return o->v[k];
	return NULL;
}

struct qmgr_job *qmgr_open_jobs_add(struct qmgr_open_jobs *o,
                                    struct qmgr_msg *m, uint32_t i,
                                    struct qmgr_dest *d)
{
	const char *dlvto = m->r[i].q.delivered_to;
	struct qmgr_job *full = NULL;
	struct qmgr_job *j = open_find(o, d, dlvto);
	if (j && j->n >= d->rcpt_limit) {
		full = j; /* it leaves; another takes its slot */
		j = job_new(m, d, dlvto);
		j->open_slot = full->open_slot;
		o->v[j->open_slot] = j;
	} else if (!j) {
		if (o->n == o->cap) {
			o->cap = o->cap ? o->cap * 2 : 8;
			o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
		}
		j = job_new(m, d, dlvto);
		j->open_slot = o->n;
		o->v[o->n++] = j;
	}
	d->open = j;
	j->rcpt[j->n++] = i;
	m->r[i].flags |= QMGR_R_BUSY;
	return full;
}

void qmgr_open_jobs_close(struct qmgr_open_jobs *o,
                          void (*fn)(struct qmgr_job *j))
{
	for (size_t k = 0; k < o->n; k++)
		o->v[k]->dest->open = NULL;
	for (size_t k = 0; k < o->n; k++)
		fn(o->v[k]);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

/* Postfix's trivial agents, which qmgr answers itself: the nexthop is
 * the reason, led by a status code when it has one ("error:5.1.1 no
 * such user"), else a default. True when rt named one and recipient i
 * got its answer. */
static bool trivial_agent(struct qmgr_msg *m, uint32_t i,
                          const struct qmgr_route *rt)
{
	static const struct {
		const char *name;
		enum qmgr_res res;
		char klass;
		const char *dsn, *reason;
	} agents[] = {
	        {"error", QMGR_RES_BOUNCE, '5', "5.0.0",
	         "mail delivery disabled"},
	        {"retry", QMGR_RES_DEFER, '4', "4.3.0",
	         "delivery temporarily suspended"},
	        {"discard", QMGR_RES_SENT, '2', "2.0.0", "discarded"},
	};
	for (size_t k = 0; k < sizeof(agents) / sizeof(agents[0]); k++) {
		if (strcmp(rt->transport, agents[k].name) != 0)
			continue;
		char dsn[12];
		const char *text = rt->nexthop;
		size_t n = strcspn(text, " ");
		(void)snprintf(dsn, sizeof(dsn), "%s", agents[k].dsn);
		if (n >= 5 && n < sizeof(dsn) && text[0] == agents[k].klass &&
		    text[1] == '.' && strspn(text, "0123456789.") == n) {
			memcpy(dsn, text, n);
			dsn[n] = 0;
			text += n + strspn(text + n, " ");
		}
		/* No text given: the nexthop is just the domain. */
		char domain[256];
		qmgr_route_domain(m->r[i].q.address, domain, sizeof(domain));
		if (strcmp(text, domain) == 0)
			text = "";
		qmgr_result_direct(m, i, agents[k].res, dsn,
		                   text[0] ? text : agents[k].reason,
		                   agents[k].name);
		return true;
	}
	return false;
}

void qmgr_sched_route(struct qmgr_msg *m, size_t from)
{
	struct qmgr_open_jobs o = {0};
	struct qmgr_route rt;
	struct err e;
	for (size_t i = from; i < m->nr; i++) {
		struct qmgr_rcpt *r = &m->r[i];
		if ((r->q.status != QUEUE_RCPT_PENDING &&
		     r->q.status != QUEUE_RCPT_DEFERRED) ||
		    (r->flags & QMGR_R_BUSY))
			continue;
		if (qmgr_route_rcpt(r->q.address, &rt, &e) < 0) {
			qmgr_result_direct(m, (uint32_t)i, QMGR_RES_DEFER,
			                   "4.3.0", e.msg, "none");
			continue;
		}
		if (trivial_agent(m, (uint32_t)i, &rt))
			continue;
		if (!transport_name_ok(rt.transport)) {
			char why[128];
			(void)snprintf(why, sizeof(why),
			               "mail transport unavailable: bad "
			               "transport name \"%.40s\"",
			               rt.transport);
			qmgr_result_direct(m, (uint32_t)i, QMGR_RES_DEFER,
			                   "4.3.0", why, "none");
			continue;
		}
		struct qmgr_transport *t = transport_get(rt.transport);
		bool per_rcpt = rt.cls == QMGR_CLASS_LOCAL;
		struct qmgr_dest *d =
		        dest_get(t, rt.nexthop, per_rcpt ? r->q.address : NULL);
		struct qmgr_job *full = qmgr_open_jobs_add(&o, m, (uint32_t)i,
		                                           d);
		if (full)
			job_enqueue(full);
	}
	qmgr_open_jobs_close(&o, job_enqueue);
	if (m->jobs == 0)
		qmgr_store_mark(m);
	else
		kick();
}

/* ---- dispatch ------------------------------------------------------ */

/* A job that never reached an agent: every recipient gets res. */
static void job_fail(struct qmgr_job *j, const char *dsn, const char *reason)
{
	struct qmgr_msg *m = j->msg;
	int64_t now = qmgr_now_ms();
	struct qmgr_result res = {.res = QMGR_RES_DEFER,
	                          .reason = reason,
	                          .relay = "none"};
	(void)snprintf(res.dsn, sizeof(res.dsn), "%s", dsn);
	for (size_t k = 0; k < j->n; k++)
		qmgr_result_apply(j, k, &res, now);
	m->jobs--;
	free(j);
	qmgr_store_mark(m);
}

/* A job of a message put on hold or deleted meanwhile: not attempted. */
static void job_cancel(struct qmgr_job *j)
{
	struct qmgr_msg *m = j->msg;
	for (size_t k = 0; k < j->n; k++)
		m->r[j->rcpt[k]].flags &= ~QMGR_R_BUSY;
	m->jobs--;
	free(j);
	qmgr_store_mark(m);
}

static void fail_transport(struct qmgr_transport *t)
{
	struct qmgr_dest *d;
	while ((d = ready_pop(t)) != NULL) {
		struct qmgr_job *j;
		while ((j = job_pop(d)) != NULL) {
			if (j->msg->flags & (QMGR_M_DELETE | QMGR_M_HOLD))
				job_cancel(j);
			else
				job_fail(j, "4.3.0", t->dead_reason);
		}
	}
}

/* A group being built: jobs for one connection, in sending order. */
struct group {
	uint64_t serial;
	struct qmgr_job *head, *tail;
	size_t n, bytes;
};

/* Takes d's next job into g. A destination counts once toward its
 * concurrency limit per group, however many of its jobs ride in it: the
 * agent delivers them together, and the last of them in the group
 * holds the slot (replies come in order, so it ends last). */
static void group_take(struct group *g, struct qmgr_dest *d)
{
	struct qmgr_job *j = job_pop(d);
	if (j->msg->flags & (QMGR_M_DELETE | QMGR_M_HOLD)) {
		job_cancel(j);
		return;
	}
	if (d->group == g->serial) {
		d->group_last->holds_dest = false;
	} else {
		d->active++;
		d->group = g->serial;
	}
	j->holds_dest = true;
	d->group_last = j;
	j->group_next = NULL;
	if (g->tail)
		g->tail->group_next = j;
	else
		g->head = j;
	g->tail = j;
	g->n++;
	g->bytes += qmgr_request_size(j);
}

/*
 * Serves t's ready destinations round-robin. Each free connection slot
 * gets a group: jobs taken from ready destinations in turn until the
 * group has t->group_max of them (what t's agents said they take, 1 for
 * agents that deliver one at a time) or DELIVER_GROUP_BYTES_MAX of
 * requests. Under load that gives local big groups (one sync round for
 * many messages); alone a job goes out at once, in a group of one.
 */
static void dispatch_transport(struct qmgr_transport *t, int64_t mono)
{
	static uint64_t serial;
	for (;;) {
		if (t->dead_until_ms) {
			if (mono < t->dead_until_ms) {
				fail_transport(t);
				return;
			}
			t->dead_until_ms = 0;
		}
		if (t->active >= t->limit || !t->ready_head)
			return;
		struct group g = {.serial = ++serial};
		size_t max = t->group_max ? t->group_max : 1;
		while (g.n < max && g.bytes < DELIVER_GROUP_BYTES_MAX) {
			struct qmgr_dest *d = ready_pop(t);
			if (!d)
				break;
			bool member = d->group == g.serial;
			if (!d->head || (!member && d->active >= d->limit))
				continue; /* re-added when a job finishes */
			group_take(&g, d);
			if (d->head && (d->group == g.serial ||
			                d->active < d->limit))
				ready_push(d);
		}
		if (!g.head)
			continue; /* only cancelled jobs: look again */
		t->active++;
		qmgr_agent_start(g.head);
	}
}

static void on_kick(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	(void)ctx;
	if (stopping)
		return;
	int64_t mono = (int64_t)event_now_ms(loop);
	for (struct qmgr_transport *t = transports; t; t = t->next)
		dispatch_transport(t, mono);
	dests_gc();
}

void qmgr_sched_job_done(struct qmgr_job *j, const struct qmgr_result *res,
                         const char *dsn, const char *reason)
{
	struct qmgr_dest *d = j->dest;
	if (j->holds_dest)
		d->active--;
	if (res) {
		struct qmgr_msg *m = j->msg;
		int64_t now = qmgr_now_ms();
		for (size_t k = 0; k < j->n; k++)
			qmgr_result_apply(j, k, &res[k], now);
		m->jobs--;
		free(j);
		qmgr_store_mark(m);
	} else {
		job_fail(j, dsn, reason);
	}
	if (d->head && d->active < d->limit)
		ready_push(d);
	kick();
}

void qmgr_sched_group_done(struct qmgr_transport *t)
{
	t->active--;
	kick();
}

void qmgr_sched_revive(void)
{
	for (struct qmgr_transport *t = transports; t; t = t->next)
		t->dead_until_ms = 0;
	kick();
}

/* ---- due scans ----------------------------------------------------- */

/* Reads up to n due ids (not active) after *pos into ids. -1 on error. */
static int scan_ids(struct queue_due *pos, int64_t now,
                    char (*ids)[QUEUE_ID_SIZE], size_t max, size_t *n)
{
	struct db_txn *txn;
	struct err e;
	int rc;
	*n = 0;
	if (db_read_begin(queue->index, &txn, &e) < 0) {
		log_error("queue scan: %s", e.msg);
		return -1;
	}
	while (*n < max && (rc = queue_index_due_next(txn, pos, now, &e)) == 1)
		if (!qmgr_sched_find(pos->id))
			memcpy(ids[(*n)++], pos->id, QUEUE_ID_SIZE);
	db_txn_end(&txn);
	if (rc < 0) {
		log_error("queue scan: %s", e.msg);
		return -1;
	}
	return 0;
}

static void load_ids(char (*ids)[QUEUE_ID_SIZE], size_t n)
{
	struct db_txn *txn;
	struct err e;
	struct arena *a = arena_new();
	if (db_read_begin(queue->index, &txn, &e) < 0) {
		log_error("queue scan: %s", e.msg);
		arena_free(&a);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;
		arena_reset(a);
		int rc = queue_index_get(txn, ids[i], a, true, &env, &e);
		if (rc < 0)
			log_error("%s", e.msg);
		else if (rc == 1 && !env.hold)
			activate(&env);
	}
	db_txn_end(&txn);
	arena_free(&a);
}

static void scan(void)
{
	struct queue_due pos;
	char(*ids)[QUEUE_ID_SIZE] = xcalloc(SCAN_CHUNK, QUEUE_ID_SIZE);
	int64_t now = (int64_t)time(NULL);
	size_t n, total = 0;
	scan_wanted = false;
	queue_due_start(&pos);
	while (has_room()) {
		size_t room = (size_t)params->qmgr_message_active_limit -
		              active.count;
		if (scan_ids(&pos, now, ids, room < SCAN_CHUNK ? room : SCAN_CHUNK,
		             &n) < 0 ||
		    n == 0)
			break;
		load_ids(ids, n);
		total += n;
	}
	if (!has_room() && !stopping)
		scan_wanted = true; /* maybe more: look again when room frees */
	free(ids);
	if (total)
		log_debug(1, "queue scan: %zu message(s) became active", total);
}

static void on_scan(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	(void)ctx;
	if (!stopping)
		scan();
	event_timer_set(ev, params->queue_run_delay * 1000);
}

void qmgr_sched_scan_soon(void)
{
	if (scan_timer && !stopping)
		event_timer_set(scan_timer, 0);
}

void qmgr_sched_room(void)
{
	/* Batched: many messages leave at once under load. */
	if (scan_wanted && has_room() && scan_timer)
		event_timer_set(scan_timer, 100);
}

/* ---- life cycle ---------------------------------------------------- */

void qmgr_sched_init(struct qmgr_queue *q, struct event_loop *l)
{
	struct err e;
	queue = q;
	loop = l;
	qmgr_hash_init(&active);
	qmgr_hash_init(&dests);
	if (qmgr_route_init(&e) < 0)
		log_fatal("transport_maps: %s", e.msg);
	kick_timer = event_add_timer(loop, -1, on_kick, NULL);
	/* Start-up: whatever is due, including what a crashed qmgr had in
	 * flight, is delivered again. */
	scan_timer = event_add_timer(loop, 0, on_scan, NULL);
}

static void count_busy(struct qmgr_msg *m, void *ctx)
{
	*(size_t *)ctx += m->jobs;
}

void qmgr_sched_shutdown(long ms)
{
	stopping = true;
	/* Let requests in flight finish so their results are recorded,
	 * within the time master grants a stopping child. */
	int64_t end = qmgr_now_ms() + ms;
	while (qmgr_agent_busy() > 0 && qmgr_now_ms() < end)
		(void)event_loop_once(loop, 100);
	qmgr_store_flush();
	/* What is still in flight is not recorded: the next qmgr delivers
	 * it again. */
	qmgr_agent_close_all(NULL);
	size_t left = 0;
	qmgr_sched_walk(count_busy, &left);
	if (left)
		log_info("stopping with %zu delivery request(s) unfinished; "
		         "they will be retried",
		         left);
	event_del(&kick_timer);
	event_del(&scan_timer);
	qmgr_route_deinit();
}
