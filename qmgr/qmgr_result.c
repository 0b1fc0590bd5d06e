/* SPDX-License-Identifier: MIT */
/*
 * qmgr_result.c - what one delivery attempt means for one recipient
 *
 * For each recipient result (from an agent, or decided by qmgr itself):
 *   - the state: sent -> done; bounce -> bounced; defer -> deferred with
 *     one more attempt, or bounced once the message has outlived its
 *     lifetime (maximal_queue_lifetime; bounce_queue_lifetime for
 *     bounces); forward -> the new addresses join the same message as
 *     recipients whose ORCPT is this one, with the delivered-to chain
 *     the agent gave (queue_env.h), and this one is done;
 *   - the notices owed (qmgr_store.c writes them): failure when NOTIFY
 *     allows it (and for a null sender: the double bounce logic in
 *     qmgr_store.c), a delay notice once delay_warning_time has passed,
 *     a success notice for NOTIFY=SUCCESS;
 *   - one log line in Postfix's shape:
 *     ID: to=<rcpt>, orig_to=<orig>, relay=R, delay=D, delays=a/b/c/d,
 *     dsn=X.Y.Z, status=sent|deferred|bounced (reason)
 *     where a = before the active queue, b = in qmgr, c = connection
 *     setup, d = the agent's work.
 * Nothing here writes to disk: a changed recipient is marked dirty and
 * its message handed to qmgr_store.c.
 *
 * Forwarding loops: an address the message already holds is not added
 * again (as Postfix's cleanup removes duplicates); if every address of a
 * forward was already expanded itself in this message, the recipient
 * bounces as a forwarding loop instead of silently vanishing.
 */
#include "qmgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_deliver.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "common/xtext.h"

/* Postfix prints small delays with two significant digits. */
static const char *fmt_secs(double s, char *out, size_t outsz)
{
	if (s < 0.005)
		(void)snprintf(out, outsz, "0");
	else if (s < 100)
		(void)snprintf(out, outsz, "%.2g", s);
	else
		(void)snprintf(out, outsz, "%.0f", s);
	return out;
}

/* The address inside an ORCPT ("rfc822;a+2Bb@c" -> "a+b@c") into out,
 * or "" when there is none or it does not decode. */
static const char *orcpt_addr(const char *orcpt, char *out, size_t outsz)
{
	out[0] = 0;
	const char *semi = orcpt ? strchr(orcpt, ';') : NULL;
	if (!semi)
		return out;
	long n = xtext_decode(semi + 1, strlen(semi + 1), out, outsz - 1);
	out[n < 0 ? 0 : n] = 0;
	return out;
}

struct times {
	double a, b, c, d, total;
};

static void log_result(const struct qmgr_msg *m, const struct qmgr_rcpt *r,
                       const char *relay, const struct times *t,
                       const char *dsn, const char *status,
                       const char *reason)
{
	char to[QUEUE_ADDR_MAX + 1], orig[QUEUE_ADDR_MAX + 1],
	        origq[QUEUE_ADDR_MAX + 1], why[DELIVER_REASON_MAX + 4];
	char d0[16], d1[16], d2[16], d3[16], d4[16];
	orcpt_addr(r->q.orcpt, orig, sizeof(orig));
	bool show_orig = orig[0] && !str_eq_nocase(orig, r->q.address);
	log_info("%s: to=<%s>%s%s%s, relay=%s, delay=%s, "
	         "delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
	         m->env.queue_id,
	         log_quote(to, sizeof(to), r->q.address, strlen(r->q.address)),
	         show_orig ? ", orig_to=<" : "",
	         show_orig ? log_quote(origq, sizeof(origq), orig, strlen(orig))
	                   : "",
	         show_orig ? ">" : "", relay, fmt_secs(t->total, d0, sizeof(d0)),
	         fmt_secs(t->a, d1, sizeof(d1)), fmt_secs(t->b, d2, sizeof(d2)),
	         fmt_secs(t->c, d3, sizeof(d3)), fmt_secs(t->d, d4, sizeof(d4)),
	         dsn, status, log_quote(why, sizeof(why), reason, strlen(reason)));
}

static int find_rcpt(const struct qmgr_msg *m, const char *addr)
{
	for (size_t i = 0; i < m->nr; i++)
		if (str_eq_nocase(m->r[i].q.address, addr))
			return (int)i;
	return -1;
}

/* Adds the forward list of recipient i; returns how many were added and
 * sets *loop when every address was one this message already expanded. */
static size_t add_forwards(struct qmgr_msg *m, uint32_t i,
                           const struct qmgr_result *res, bool *loop,
                           bool *full)
{
	const struct queue_rcpt origin = m->r[i].q;
	unsigned notify = origin.notify;
	size_t added = 0, loops = 0;
	const char *orcpt = origin.orcpt;
	const char *dlvto = res->dlvto ? arena_strdup(m->arena, res->dlvto)
	                               : NULL;
	if (!orcpt) {
		struct buf b;
		buf_init(&b, 0);
		(void)buf_append_str(&b, "rfc822;");
		(void)xtext_encode(origin.address, strlen(origin.address), &b);
		orcpt = arena_strdup(m->arena, buf_cstr(&b));
		buf_deinit(&b);
	}
	/* The origin's own success notice says "expanded"; the new
	 * recipients do not report success again. */
	if (notify & QUEUE_NOTIFY_SUCCESS) {
		notify &= ~QUEUE_NOTIFY_SUCCESS;
		if (!notify)
			notify = QUEUE_NOTIFY_NEVER;
	}
	*full = false;
	for (size_t k = 0; k < res->nfwd; k++) {
		int have = find_rcpt(m, res->fwd[k]);
		if (have >= 0) {
			if (m->r[have].flags & QMGR_R_FORWARDED)
				loops++;
			continue;
		}
		if (m->nr >= QUEUE_RCPT_MAX) {
			*full = true;
			break;
		}
		if (m->nr == m->cap) {
			m->cap *= 2;
			m->r = xrealloc(m->r, m->cap * sizeof(*m->r));
		}
		struct qmgr_rcpt *n = &m->r[m->nr++];
		memset(n, 0, sizeof(*n));
		n->q.address = arena_strdup(m->arena, res->fwd[k]);
		n->q.orcpt = orcpt;
		n->q.notify = notify;
		/* The chain the agent says their copies carry (local: the
		 * expanded address, then the origin's own chain). */
		n->q.delivered_to = dlvto;
		n->q.status = QUEUE_RCPT_PENDING;
		n->flags = QMGR_R_DIRTY;
		added++;
	}
	*loop = added == 0 && loops > 0;
	return added;
}

static void record(struct qmgr_msg *m, uint32_t i, const struct qmgr_result *res,
                   const struct times *t, int64_t now_ms)
{
	struct qmgr_rcpt *r = &m->r[i];
	int64_t now = now_ms / 1000;
	int64_t prev = r->q.last_attempt;
	int64_t arrival = m->env.arrival_us / 1000000;
	bool null_sender = !m->env.sender[0];
	enum qmgr_res kind = res->res;
	const char *dsn = res->dsn, *reason = res->reason, *word;
	char why[300];
	size_t old_nr = m->nr, added = 0;

	r->flags = (r->flags & ~QMGR_R_BUSY) | QMGR_R_DIRTY;
	r->q.attempts++;
	r->q.last_attempt = now;
	r->relay = arena_strdup(m->arena, res->relay);
	if (kind == QMGR_RES_FORWARD) {
		bool loop, full;
		added = add_forwards(m, i, res, &loop, &full);
		r = &m->r[i]; /* the array may have moved */
		if (loop || (full && !added)) {
			kind = QMGR_RES_BOUNCE;
			dsn = loop ? "5.4.6" : "5.5.3";
			(void)snprintf(why, sizeof(why), "%s",
			               loop ? "mail forwarding loop"
			                    : "too many recipients after "
			                      "expansion");
			reason = why;
		} else {
			r->flags |= QMGR_R_FORWARDED;
		}
	}
	switch (kind) {
	case QMGR_RES_SENT:
	case QMGR_RES_FORWARD:
		word = "sent";
		r->q.status = QUEUE_RCPT_SENT;
		if (!null_sender &&
		    qmgr_notify_wants(r->q.notify, QUEUE_NOTIFY_SUCCESS)) {
			r->flags |= QMGR_R_N_OK;
			r->action = kind == QMGR_RES_FORWARD ? "expanded"
			            : strcmp(res->relay, "local") == 0 ||
			                            strcmp(res->relay, "none") ==
			                                    0
			                    ? "delivered"
			                    : "relayed";
		}
		break;
	case QMGR_RES_BOUNCE:
		word = "bounced";
		r->q.status = QUEUE_RCPT_BOUNCED;
		if (qmgr_notify_wants(r->q.notify, QUEUE_NOTIFY_FAILURE))
			r->flags |= QMGR_R_N_FAIL;
		break;
	default:
		word = "deferred";
		if (qmgr_expired(arrival, now, qmgr_lifetime(&m->env))) {
			r->q.status = QUEUE_RCPT_BOUNCED;
			if (qmgr_notify_wants(r->q.notify,
			                      QUEUE_NOTIFY_FAILURE))
				r->flags |= QMGR_R_N_FAIL;
			if (!(m->flags & QMGR_M_EXPIRED_LOGGED)) {
				char from[QUEUE_ADDR_MAX + 1];
				m->flags |= QMGR_M_EXPIRED_LOGGED;
				log_info("%s: from=<%s>, status=expired, "
				         "returned to sender",
				         m->env.queue_id,
				         log_quote(from, sizeof(from),
				                   m->env.sender,
				                   strlen(m->env.sender)));
			}
			break;
		}
		r->q.status = QUEUE_RCPT_DEFERRED;
		if (!null_sender &&
		    qmgr_delay_warning_due(arrival, prev, now,
		                           params->delay_warning_time) &&
		    qmgr_notify_wants(r->q.notify, QUEUE_NOTIFY_DELAY))
			r->flags |= QMGR_R_N_DELAY;
		break;
	}
	r->q.dsn = arena_strdup(m->arena, dsn);
	r->q.reason = arena_strdup(m->arena, reason);
	log_result(m, r, res->relay, t, dsn, word, reason);
	if (added) {
		m->flags |= QMGR_M_GROWN;
		qmgr_sched_route(m, old_nr);
	}
}

static double secs(int64_t ms)
{
	return ms > 0 ? (double)ms / 1000.0 : 0.0;
}

void qmgr_result_apply(struct qmgr_job *j, size_t k,
                       const struct qmgr_result *res, int64_t now_ms)
{
	struct qmgr_msg *m = j->msg;
	int64_t arrival_ms = m->env.arrival_us / 1000;
	int64_t start = m->active_ms > j->queued_ms ? m->active_ms
	                                            : j->queued_ms;
	struct times t = {.total = secs(now_ms - arrival_ms),
	                  .a = secs(m->active_ms - arrival_ms)};
	if (j->sent_ms) {
		t.b = secs(j->sent_ms - j->conn_ms - start);
		t.c = secs(j->conn_ms);
		t.d = secs(now_ms - j->sent_ms);
	} else {
		t.b = secs(now_ms - start);
	}
	record(m, j->rcpt[k], res, &t, now_ms);
}

void qmgr_result_direct(struct qmgr_msg *m, uint32_t i, enum qmgr_res kind,
                        const char *dsn, const char *reason,
                        const char *transport)
{
	int64_t now_ms = qmgr_now_ms();
	int64_t arrival_ms = m->env.arrival_us / 1000;
	struct qmgr_result res = {.res = kind, .reason = reason};
	struct times t = {.total = secs(now_ms - arrival_ms),
	                  .a = secs(m->active_ms - arrival_ms),
	                  .b = secs(now_ms - m->active_ms)};
	(void)snprintf(res.dsn, sizeof(res.dsn), "%s", dsn);
	res.relay = transport && strcmp(transport, "none") != 0 ? transport
	                                                         : "none";
	record(m, i, &res, &t, now_ms);
}
