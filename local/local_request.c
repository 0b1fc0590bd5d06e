/* SPDX-License-Identifier: MIT */
/*
 * local_request.c - a delivery request (common/proto_deliver.h) decoded
 * and checked, and the reply built from the recipients' results
 *
 * A request is checked whole before anything is done: every required
 * attribute present once, numbers in range, exactly nrcpt of each
 * per-recipient attribute, sizes bounded. A malformed request is refused
 * (the caller closes the connection), never partly delivered.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto_deliver.h"
#include "common/queue_env.h"
#include "common/xalloc.h"
#include "local.h"

static int need_str(const struct ipc_msg *m, const char *name,
		    const char **out, struct err *e)
{
	int rc = ipc_get_str(m, name, out);
	if (rc == 1)
		return 0;
	err_set(e, "%s attribute %s", rc == 0 ? "missing" : "bad", name);
	return -1;
}

/* Collects the values of a repeated attribute, in order. */
static int list_of(const struct ipc_msg *m, const char *name,
		   const char **out, size_t n, struct err *e)
{
	size_t k = 0;
	for (size_t i = 0; i < m->nattrs; i++) {
		const struct ipc_attr *a = &m->attrs[i];
		if (strcmp(a->name, name) != 0)
			continue;
		if (k == n || memchr(a->value, '\0', a->value_len)) {
			err_set(e, "%s attribute %s", k == n ? "extra" : "bad",
				name);
			return -1;
		}
		out[k++] = a->value;
	}
	if (k != n) {
		err_set(e, "%zu %s attributes for nrcpt=%zu", k, name, n);
		return -1;
	}
	return 0;
}

int local_request_decode(const struct ipc_msg *m, struct local_request *r,
			 struct err *e)
{
	memset(r, 0, sizeof(*r));
	uint64_t n = 0, arrival = 0;
	if (strcmp(ipc_type(m), DELIVER_REQ_DELIVER) != 0) {
		err_set(e, "unknown request type");
		return -1;
	}
	if (need_str(m, DELIVER_ATTR_QUEUE_ID, &r->queue_id, e) < 0 ||
	    need_str(m, DELIVER_ATTR_QUEUE_FILE, &r->queue_file, e) < 0 ||
	    need_str(m, DELIVER_ATTR_SENDER, &r->sender, e) < 0 ||
	    need_str(m, DELIVER_ATTR_NEXTHOP, &r->nexthop, e) < 0)
		return -1;
	if (ipc_get_u64(m, DELIVER_ATTR_ARRIVAL, 0, INT64_MAX, &arrival) != 1 ||
	    ipc_get_u64(m, DELIVER_ATTR_SIZE, 0, UINT64_MAX, &r->size) != 1 ||
	    ipc_get_u64(m, DELIVER_ATTR_NRCPT, 1, UINT32_MAX, &n) != 1) {
		err_set(e, "missing or bad arrival, size or nrcpt");
		return -1;
	}
	r->arrival = (int64_t)arrival;
	uint64_t more = 0;
	if (ipc_get_u64(m, DELIVER_ATTR_MORE, 0, 1, &more) < 0) {
		err_set(e, "bad attribute more");
		return -1;
	}
	r->more = more == 1;
	int dr = ipc_get_str(m, DELIVER_ATTR_DELIVERED_TO, &r->dlvto);
	if (dr < 0 || (dr == 1 && r->dlvto[0] &&
		       !queue_dlvto_safe(r->dlvto, strlen(r->dlvto)))) {
		err_set(e, "bad attribute %s", DELIVER_ATTR_DELIVERED_TO);
		return -1;
	}
	if (dr == 0 || !r->dlvto[0])
		r->dlvto = NULL;
	if (n > DELIVER_RCPT_MAX) {
		/* The reply carries six attributes per recipient and must
		 * stay within IPC_ATTR_MAX (proto_deliver.h). */
		err_set(e, "nrcpt=%llu: at most %d recipients per request",
			(unsigned long long)n, DELIVER_RCPT_MAX);
		return -2;
	}
	if (r->queue_id[0] == '\0' || strlen(r->queue_id) > 64 ||
	    strlen(r->sender) > LOCAL_ADDR_MAX) {
		err_set(e, "bad queue_id or sender");
		return -1;
	}
	const char **ids = xcalloc(n, sizeof(*ids));
	const char **addrs = xcalloc(n, sizeof(*addrs));
	const char **orcpts = xcalloc(n, sizeof(*orcpts));
	const char **notifies = xcalloc(n, sizeof(*notifies));
	int rc = -1;
	if (list_of(m, DELIVER_ATTR_RCPT_ID, ids, n, e) < 0 ||
	    list_of(m, DELIVER_ATTR_RCPT, addrs, n, e) < 0 ||
	    list_of(m, DELIVER_ATTR_ORCPT, orcpts, n, e) < 0 ||
	    list_of(m, DELIVER_ATTR_NOTIFY, notifies, n, e) < 0)
		goto out;
	r->rcpts = xcalloc(n, sizeof(*r->rcpts));
	r->nrcpt = n;
	for (size_t i = 0; i < n; i++) {
		struct local_rcpt *rc_ = &r->rcpts[i];
		rc_->id = ids[i];
		rc_->addr = addrs[i];
		rc_->orcpt = orcpts[i];
		rc_->notify = notifies[i];
		buf_init(&rc_->reason, LOCAL_TEXT_MAX);
		strv_init(&rc_->forward);
	}
	rc = 0;
out:
	free(ids);
	free(addrs);
	free(orcpts);
	free(notifies);
	return rc;
}

void local_request_deinit(struct local_request *r)
{
	for (size_t i = 0; i < r->nrcpt; i++) {
		buf_deinit(&r->rcpts[i].reason);
		strv_deinit(&r->rcpts[i].forward);
		free(r->rcpts[i].dlvto);
	}
	free(r->rcpts);
	memset(r, 0, sizeof(*r));
}

void local_rcpt_chain(struct local_rcpt *rc, const char *top,
		      const char *dlvto)
{
	if (!top)
		return;
	struct buf b;
	buf_init(&b, 0);
	(void)buf_append_str(&b, top);
	size_t pos = 0, alen, n = 1;
	const char *a;
	while (dlvto && n < QUEUE_DLVTO_MAX &&
	       queue_dlvto_next(dlvto, strlen(dlvto), &pos, &a, &alen)) {
		(void)buf_append_char(&b, '\n');
		(void)buf_append(&b, a, alen);
		n++;
	}
	free(rc->dlvto);
	rc->dlvto = buf_take(&b);
}

void local_rcpt_result(struct local_rcpt *rc, const char *result,
		       const char *dsn, const char *fmt, ...)
{
	if (rc->result)
		return;
	rc->result = result;
	(void)snprintf(rc->dsn, sizeof(rc->dsn), "%s", dsn);
	va_list ap;
	va_start(ap, fmt);
	buf_reset(&rc->reason);
	if (buf_vprintf(&rc->reason, fmt, ap) < 0) {
		/* Too long for the limit: keep what fits. */
		va_list ap2;
		va_end(ap);
		va_start(ap2, fmt);
		char tmp[LOCAL_TEXT_MAX];
		(void)vsnprintf(tmp, sizeof(tmp), fmt, ap2);
		va_end(ap2);
		(void)buf_append_str(&rc->reason, tmp);
		return;
	}
	va_end(ap);
}

/* Attributes every recipient's result takes in the reply; a forwarded
 * one with a chain takes one more (delivered_to). */
#define REPLY_ATTRS 6

void local_reply_build(const struct local_request *r, struct ipc_msg *out)
{
	struct buf fw;
	buf_init(&fw, 0);
	ipc_msg_begin_reply(out, "ok");
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct local_rcpt *rc = &r->rcpts[i];
		buf_reset(&fw);
		for (size_t k = 0; k < rc->forward.n; k++) {
			if (k)
				(void)buf_append_char(&fw, '\n');
			(void)buf_append_str(&fw, rc->forward.v[k]);
		}
		const char *result = rc->result ? rc->result
						: DELIVER_RESULT_DEFER;
		const char *dsn = rc->dsn[0] ? rc->dsn : "4.3.0";
		const char *reason = rc->reason.len ? buf_cstr(&rc->reason)
						    : "delivery not attempted";
		/* Every value is bounded (reason LOCAL_TEXT_MAX, forward
		 * list checked by local_fold), but a thousand recipients
		 * with long forward lists could pass the message limit: a
		 * recipient that no longer fits is deferred, never sent
		 * with its forward list cut. */
		bool chain = rc->dlvto &&
			     strcmp(result, DELIVER_RESULT_FORWARD) == 0;
		size_t later = (r->nrcpt - i - 1) * REPLY_ATTRS;
		size_t dlen = chain ? strlen(rc->dlvto) : 0;
		/* The chain needs one attribute more than the others:
		 * IPC_ATTR_MAX holds 31 of them in a reply for
		 * DELIVER_RCPT_MAX recipients; past that a recipient is
		 * deferred (and forwarded at the next try), never
		 * forwarded without its chain (the loop guard). */
		if (out->wire.len + fw.len + dlen + LOCAL_TEXT_MAX + 1024 >
			    IPC_MSG_MAX - 4096 ||
		    (chain && out->nattrs + REPLY_ATTRS + 1 + later >
				      IPC_ATTR_MAX)) {
			result = DELIVER_RESULT_DEFER;
			dsn = "4.3.0";
			reason = "reply to qmgr too large; try again";
			buf_reset(&fw);
			chain = false;
		}
		(void)ipc_put_str(out, DELIVER_ATTR_RCPT_ID, rc->id);
		(void)ipc_put_str(out, DELIVER_ATTR_RESULT, result);
		(void)ipc_put_str(out, DELIVER_ATTR_DSN, dsn);
		(void)ipc_put_str(out, DELIVER_ATTR_REASON, reason);
		(void)ipc_put_str(out, DELIVER_ATTR_RELAY, "local");
		(void)ipc_put(out, DELIVER_ATTR_FORWARD_TO,
			      fw.data ? fw.data : "", fw.len);
		if (chain)
			(void)ipc_put_str(out, DELIVER_ATTR_DELIVERED_TO,
					  rc->dlvto);
	}
	buf_deinit(&fw);
}
