/* SPDX-License-Identifier: MIT */
/*
 * qmgr_reply.c - the delivery protocol from qmgr's side: the request it
 * sends and the reply it trusts (common/proto_deliver.h)
 *
 * The reply comes from another process that may be buggy or crashed
 * half-way, and what it says decides whether mail is removed from the
 * queue, so it is checked whole before anything is applied: each
 * rcpt_id must be one qmgr sent and appear once, its attributes follow
 * it and are not repeated, results are known words, forward lists hold
 * safe addresses within DELIVER_FORWARD_MAX, and so does their
 * delivered-to chain (queue_dlvto_safe). A DSN code whose class
 * disagrees with the result is corrected toward the result (a "defer"
 * never bounces mail because of a 5xx code). Texts are cut and cleaned
 * to printable ASCII, since they go into the index, log lines and DSNs.
 */
#include "qmgr.h"

#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/proto_deliver.h"
#include "common/str.h"
#include "common/xtext.h"

/* ---- the request --------------------------------------------------- */

static const char *body_word(enum queue_body b)
{
	switch (b) {
	case QUEUE_BODY_8BITMIME:
		return "8BITMIME";
	case QUEUE_BODY_BINARYMIME:
		return "BINARYMIME";
	default:
		return "7BIT";
	}
}

/* Bytes an attribute may take on the wire besides its value: length,
 * name, '='. */
#define ATTR_OVERHEAD (4 + IPC_NAME_MAX + 1)

size_t qmgr_request_size(const struct qmgr_job *j)
{
	const struct qmgr_msg *msg = j->msg;
	const struct queue_envelope *env = &msg->env;
	/* Fixed attributes: at most 16, numbers and words within 64 bytes
	 * each; then the variable ones. */
	size_t n = 16 * (ATTR_OVERHEAD + 64) + strlen(env->sender) +
	           strlen(j->dest->nexthop) + strlen(j->dest->t->name) +
	           (env->envid ? strlen(env->envid) : 0) +
	           (j->dlvto ? ATTR_OVERHEAD + strlen(j->dlvto) : 0);
	for (size_t k = 0; k < j->n; k++) {
		const struct queue_rcpt *r = &msg->r[j->rcpt[k]].q;
		n += 4 * (ATTR_OVERHEAD + 40) + strlen(r->address) +
		     (r->orcpt ? strlen(r->orcpt) : 0);
	}
	return n + 4;
}

int qmgr_request_build(const struct qmgr_job *j, struct ipc_msg *m)
{
	const struct qmgr_msg *msg = j->msg;
	const struct queue_envelope *env = &msg->env;
	char file[8 + QUEUE_ID_SIZE], num[24], notify[40];
	int rc = 0;
	(void)snprintf(file, sizeof(file), "queue/%s", env->queue_id);
	ipc_msg_begin(m, DELIVER_REQ_DELIVER);
	rc |= ipc_put_str(m, DELIVER_ATTR_QUEUE_ID, env->queue_id);
	rc |= ipc_put_str(m, DELIVER_ATTR_QUEUE_FILE, file);
	rc |= ipc_put_str(m, DELIVER_ATTR_SENDER, env->sender);
	rc |= ipc_put_i64(m, DELIVER_ATTR_ARRIVAL, env->arrival_us / 1000000);
	rc |= ipc_put_u64(m, DELIVER_ATTR_SIZE, env->size);
	if (env->body != QUEUE_BODY_7BIT)
		rc |= ipc_put_str(m, DELIVER_ATTR_BODY, body_word(env->body));
	if (env->smtputf8)
		rc |= ipc_put_str(m, DELIVER_ATTR_SMTPUTF8, "1");
	if (env->envid && env->envid[0]) {
		/* The protocol carries ENVID decoded; the queue keeps xtext.
		 * A value that decodes to control bytes (ENVID=a+0D+0A) is
		 * left out: smtp refuses such a request as malformed, and
		 * the message would be deferred until it expires. */
		char dec[QUEUE_ENVID_MAX];
		long n = xtext_decode(env->envid, strlen(env->envid), dec,
		                      sizeof(dec));
		for (long i = 0; i < n; i++)
			if ((unsigned char)dec[i] < 0x20 || dec[i] == 0x7f)
				n = -1;
		if (n >= 0)
			rc |= ipc_put(m, DELIVER_ATTR_ENVID, dec, (size_t)n);
	}
	if (env->ret != QUEUE_RET_DEFAULT)
		rc |= ipc_put_str(m, DELIVER_ATTR_RET,
		                  env->ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
	rc |= ipc_put_str(m, DELIVER_ATTR_NEXTHOP, j->dest->nexthop);
	rc |= ipc_put_str(m, DELIVER_ATTR_TRANSPORT, j->dest->t->name);
	if (j->dlvto)
		rc |= ipc_put_str(m, DELIVER_ATTR_DELIVERED_TO, j->dlvto);
	rc |= ipc_put_u64(m, DELIVER_ATTR_NRCPT, j->n);
	for (size_t k = 0; k < j->n && rc == 0; k++) {
		const struct queue_rcpt *r = &msg->r[j->rcpt[k]].q;
		(void)snprintf(num, sizeof(num), "%zu", k);
		rc |= ipc_put_str(m, DELIVER_ATTR_RCPT_ID, num);
		rc |= ipc_put_str(m, DELIVER_ATTR_RCPT, r->address);
		rc |= ipc_put_str(m, DELIVER_ATTR_ORCPT, r->orcpt ? r->orcpt : "");
		rc |= ipc_put_str(m, DELIVER_ATTR_NOTIFY,
		                  qmgr_notify_text(r->notify, notify,
		                                   sizeof(notify)));
	}
	return rc ? -1 : 0;
}

/* ---- the reply ----------------------------------------------------- */

const char *qmgr_clean_text(struct arena *a, const char *s, size_t len,
                            size_t max)
{
	if (len > max)
		len = max;
	char *out = arena_memdup(a, s, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c < 0x20 || c == 0x7f)
			out[i] = ' ';
		else if (c >= 0x80)
			out[i] = '?';
	}
	return out;
}

/* "X.Y.Z" with X in 2/4/5, Y 1-3 digits, Z 1-3 digits (RFC 3463). */
static bool dsn_valid(const char *s, size_t len)
{
	size_t i = 0, digits;
	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (digits = 0; i < len && s[i] >= '0' && s[i] <= '9';
		     i++, digits++)
			;
		if (digits < 1 || digits > 3)
			return false;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

static void set_dsn(struct qmgr_result *r, const char *v, size_t len)
{
	static const char klass[] = {'2', '4', '5', '2'};
	if (v && dsn_valid(v, len) && len < sizeof(r->dsn)) {
		memcpy(r->dsn, v, len);
		r->dsn[len] = 0;
	} else {
		(void)snprintf(r->dsn, sizeof(r->dsn), "%c.0.0",
		               klass[r->res]);
	}
	r->dsn[0] = klass[r->res];
}

enum field {
	F_RESULT,
	F_DSN,
	F_REASON,
	F_RELAY,
	F_FORWARD,
	F_DLVTO,
	F_COUNT
};
static const char *const field_names[F_COUNT] = {
        DELIVER_ATTR_RESULT, DELIVER_ATTR_DSN,        DELIVER_ATTR_REASON,
        DELIVER_ATTR_RELAY,  DELIVER_ATTR_FORWARD_TO, DELIVER_ATTR_DELIVERED_TO};

struct group {
	const struct ipc_attr *f[F_COUNT];
};

static int parse_forward(const char *v, size_t len, struct arena *a,
                         struct qmgr_result *r, struct err *e)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += v[i] == '\n';
	if (n + 1 > DELIVER_FORWARD_MAX) {
		err_set(e, "forward list longer than %d", DELIVER_FORWARD_MAX);
		return -1;
	}
	r->fwd = arena_calloc(a, n + 1, sizeof(*r->fwd));
	r->nfwd = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != '\n')
			continue;
		size_t l = i - start;
		if (l > 0) {
			if (!queue_addr_safe(v + start, l) ||
			    memchr(v + start, 0, l)) {
				err_set(e, "unsafe forward address");
				return -1;
			}
			r->fwd[r->nfwd++] = arena_memdup(a, v + start, l);
		}
		start = i + 1;
	}
	if (r->nfwd == 0) {
		err_set(e, "forward result without addresses");
		return -1;
	}
	return 0;
}

static int take_group(const struct group *g, struct arena *a,
                      struct qmgr_result *r, struct err *e)
{
	static const struct {
		const char *word;
		enum qmgr_res res;
	} words[] = {{DELIVER_RESULT_SENT, QMGR_RES_SENT},
	             {DELIVER_RESULT_DEFER, QMGR_RES_DEFER},
	             {DELIVER_RESULT_BOUNCE, QMGR_RES_BOUNCE},
	             {DELIVER_RESULT_FORWARD, QMGR_RES_FORWARD}};
	const struct ipc_attr *res = g->f[F_RESULT];
	size_t i;
	if (!res) {
		err_set(e, "recipient without a result");
		return -1;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (res->value_len == strlen(words[i].word) &&
		    memcmp(res->value, words[i].word, res->value_len) == 0)
			break;
	if (i == sizeof(words) / sizeof(words[0])) {
		err_set(e, "unknown result");
		return -1;
	}
	r->res = words[i].res;
	set_dsn(r, g->f[F_DSN] ? g->f[F_DSN]->value : NULL,
	        g->f[F_DSN] ? g->f[F_DSN]->value_len : 0);
	const struct ipc_attr *reason = g->f[F_REASON];
	r->reason = reason && reason->value_len
	                    ? qmgr_clean_text(a, reason->value,
	                                      reason->value_len,
	                                      DELIVER_REASON_MAX)
	                    : (r->res == QMGR_RES_SENT ? "delivered"
	                                               : "no reason given");
	const struct ipc_attr *relay = g->f[F_RELAY];
	r->relay = relay && relay->value_len
	                   ? qmgr_clean_text(a, relay->value, relay->value_len,
	                                     QMGR_RELAY_MAX)
	                   : "none";
	const struct ipc_attr *fw = g->f[F_FORWARD], *dt = g->f[F_DLVTO];
	r->fwd = NULL;
	r->nfwd = 0;
	r->dlvto = NULL;
	if (r->res != QMGR_RES_FORWARD)
		return 0;
	if (parse_forward(fw ? fw->value : "", fw ? fw->value_len : 0, a, r,
	                  e) < 0)
		return -1;
	if (dt && dt->value_len) {
		/* The chain goes into Delivered-To: lines: only addresses,
		 * one a line (queue_dlvto_safe bars CR, NUL and the rest). */
		if (!queue_dlvto_safe(dt->value, dt->value_len)) {
			err_set(e, "bad delivered_to chain");
			return -1;
		}
		r->dlvto = arena_memdup(a, dt->value, dt->value_len);
	}
	return 0;
}

int qmgr_reply_decode(const struct ipc_msg *m, size_t n, struct arena *a,
                      struct qmgr_result *out, const char **reason_out,
                      struct err *e)
{
	if (!ipc_status_ok(m)) {
		const char *why = ipc_reason(m);
		const char *st = ipc_status(m);
		if (!st[0]) {
			err_set(e, "reply without a status");
			return -1;
		}
		*reason_out = qmgr_clean_text(
		        a, why[0] ? why : "delivery agent refused the request",
		        strlen(why[0] ? why : "delivery agent refused the "
		                              "request"),
		        DELIVER_REASON_MAX);
		return 1;
	}
	bool *seen = arena_calloc(a, n ? n : 1, sizeof(bool));
	struct group g;
	long cur = -1;
	for (size_t i = 0; i <= m->nattrs; i++) {
		const struct ipc_attr *at = i < m->nattrs ? &m->attrs[i] : NULL;
		bool is_id = at && strcmp(at->name, DELIVER_ATTR_RCPT_ID) == 0;
		if ((is_id || !at) && cur >= 0) {
			if (take_group(&g, a, &out[cur], e) < 0)
				return -1;
			cur = -1;
		}
		if (!at)
			break;
		if (is_id) {
			uint64_t id;
			if (parse_uintn(at->value, at->value_len, 0,
			                n ? n - 1 : 0, &id) < 0 ||
			    n == 0 || seen[id]) {
				err_set(e, "unknown or repeated rcpt_id");
				return -1;
			}
			seen[id] = true;
			cur = (long)id;
			memset(&g, 0, sizeof(g));
			continue;
		}
		int f;
		for (f = 0; f < F_COUNT; f++)
			if (strcmp(at->name, field_names[f]) == 0)
				break;
		/* Unknown attributes, and any before the first recipient,
		 * are ignored (peers may be newer). */
		if (f == F_COUNT || cur < 0)
			continue;
		if (g.f[f]) {
			err_set(e, "attribute %s repeated", field_names[f]);
			return -1;
		}
		g.f[f] = at;
	}
	for (size_t i = 0; i < n; i++) {
		if (seen[i])
			continue;
		memset(&out[i], 0, sizeof(out[i]));
		out[i].res = QMGR_RES_DEFER;
		(void)snprintf(out[i].dsn, sizeof(out[i].dsn), "4.3.0");
		out[i].reason = "delivery agent returned no result for it";
		out[i].relay = "none";
	}
	return 0;
}
