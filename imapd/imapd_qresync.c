/* SPDX-License-Identifier: MIT */
/*
 * imapd_qresync.c - QRESYNC (RFC 7162 section 3.2): quick resync
 *
 * What a client that knows an earlier state of a folder (UIDVALIDITY and
 * HIGHESTMODSEQ) is told instead of refetching everything: at SELECT, the
 * UIDs expunged since (VANISHED (EARLIER)) and the messages changed since
 * (FETCH with MODSEQ); in UID FETCH (CHANGEDSINCE n VANISHED), the same
 * for a set. Expunges since are read from the mailbox index, which keeps
 * the UID and modseq of every expunge. Once QRESYNC is enabled, EXPUNGE
 * responses become VANISHED (imapd_view.c).
 */
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "imapd/imapd_seqset.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_view.h"

struct vanished_ctx {
	const struct imapd_seqset *limit; /* normal form, or NULL */
	uint32_t *uids;
	size_t n, cap;
	struct arena *a;
};

static int skip_msg(void *ctx, const struct mbox_msg *m)
{
	(void)ctx;
	(void)m;
	return 0;
}

static int note_vanished(void *vctx, uint32_t uid, uint64_t modseq)
{
	struct vanished_ctx *c = vctx;
	(void)modseq;
	if (c->limit && !imapd_seqset_has(c->limit, uid))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		uint32_t *u = arena_calloc(c->a, cap, sizeof(*u));
		if (c->n)
			memcpy(u, c->uids, c->n * sizeof(*u));
		c->uids = u;
		c->cap = cap;
	}
	c->uids[c->n++] = uid;
	return 0;
}

int imapd_qresync_vanished(struct imapd_session *s, uint64_t since,
                           const struct imapd_seqset *limit)
{
	struct vanished_ctx c = {.limit = limit, .a = s->arena};
	struct err e;
	if (mbox_msg_changes(s->view->f, since, skip_msg, note_vanished, &c,
	                     &e) < 0) {
		log_error("user=<%s>: vanished: %s", s->user, e.msg);
		return -1;
	}
	if (c.n == 0)
		return 0;
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "* VANISHED (EARLIER) ");
	imapd_seqset_format_list(c.uids, c.n, &b);
	buf_append_str(&b, "\r\n");
	imapd_write(s, b.data, b.len);
	buf_deinit(&b);
	return 0;
}

/* "(seqs uids)": the sequence match data, accepted and not used (RFC
 * 7162 3.2.5.2 makes it a hint). */
static int seq_match(struct imapd_args *a)
{
	struct imapd_seqset x;
	if (imapd_args_open(a) < 0 || imapd_args_seqset(a, &x) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_args_seqset(a, &x) < 0)
		return -1;
	return imapd_args_close(a);
}

/* "(uidvalidity modseq [known-uids [(seqs uids)]])" after "QRESYNC ". */
int imapd_qresync_parse(struct imapd_args *a, struct imapd_qresync *q)
{
	memset(q, 0, sizeof(*q));
	if (imapd_args_open(a) < 0 ||
	    imapd_args_nz_number(a, &q->uidvalidity) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_args_number64(a, &q->modseq) < 0)
		return -1;
	if (imapd_args_take(a, ' ')) {
		if (imapd_args_peek(a, '(')) {
			if (seq_match(a) < 0)
				return -1;
		} else {
			if (imapd_args_seqset(a, &q->known) < 0)
				return -1;
			q->has_known = true;
			if (imapd_args_take(a, ' ') && seq_match(a) < 0)
				return -1;
		}
	}
	return imapd_args_close(a);
}

void imapd_qresync_select(struct imapd_session *s,
                          const struct imapd_qresync *q)
{
	struct imapd_view *v = s->view;
	if (q->uidvalidity != v->uidvalidity || q->modseq == 0)
		return; /* RFC 7162 3.2.5.1: a full resync, nothing to add */
	struct imapd_seqset known, *limit = NULL;
	uint32_t maxuid = v->n ? v->m[v->n - 1].uid : 0;
	if (q->has_known) {
		imapd_seqset_resolve(&q->known, maxuid, s->arena, &known);
		limit = &known;
	}
	(void)imapd_qresync_vanished(s, q->modseq, limit);
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < v->n; i++) {
		const struct imapd_msg *m = &v->m[i];
		if (m->modseq <= q->modseq ||
		    (limit && !imapd_seqset_has(limit, m->uid)))
			continue;
		buf_reset(&b);
		buf_printf(&b, "* %zu FETCH (UID %u FLAGS ", i + 1, m->uid);
		imapd_view_flags(&b, v, i);
		buf_printf(&b, " MODSEQ (%llu))\r\n",
		           (unsigned long long)m->modseq);
		imapd_write(s, b.data, b.len);
	}
	buf_deinit(&b);
}
