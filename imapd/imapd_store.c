/* SPDX-License-Identifier: MIT */
/*
 * imapd_store.c - STORE, COPY and MOVE (RFC 3501 6.4.6-7, RFC 4315
 * COPYUID, RFC 6851 MOVE), and flag lists shared with APPEND
 *
 * Flags: the five system flags are maildir letters; $Forwarded is the
 * maildir P flag; \Recent cannot be set by a client and is ignored where
 * clients send it back; other keywords live in the index. Each command
 * changes the index in one transaction (mbox_store, mbox_copy, mbox_move)
 * and updates the view from what the store reports, so the sync after
 * the command owes the client nothing twice.
 */
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "imapd/imapd_seqset.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_view.h"

static const struct {
	const char *name;
	unsigned bit;
} flag_names[] = {
        {"\\Answered", MBOX_F_ANSWERED}, {"\\Flagged", MBOX_F_FLAGGED},
        {"\\Deleted", MBOX_F_DELETED},   {"\\Seen", MBOX_F_SEEN},
        {"\\Draft", MBOX_F_DRAFT},       {"$Forwarded", MBOX_F_PASSED},
};

static int one_flag(struct imapd_args *a, const struct imapd_str *f,
                    struct imapd_flags *out)
{
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
		if (str_eq_nocase(f->p, flag_names[i].name)) {
			out->flags |= flag_names[i].bit;
			return 0;
		}
	if (str_eq_nocase(f->p, "\\Recent"))
		return 0;
	if (f->p[0] == '\\')
		return imapd_args_fail(a, "Invalid system flag");
	if (f->len > MBOX_KEYWORD_MAX)
		return imapd_args_fail(a, "Keyword too long");
	for (size_t i = 0; i < out->nkw; i++)
		if (str_eq_nocase(out->kw[i], f->p))
			return 0;
	if (out->nkw >= MBOX_KEYWORDS_MAX)
		return imapd_args_fail(a, "Too many keywords");
	out->kw[out->nkw++] = f->p;
	return 0;
}

int imapd_parse_flags(struct imapd_args *a, bool bare_ok,
                      struct imapd_flags *out)
{
	memset(out, 0, sizeof(*out));
	out->kw = arena_calloc(a->a, MBOX_KEYWORDS_MAX, sizeof(*out->kw));
	struct imapd_str f;
	bool paren = imapd_args_peek(a, '(');
	if (!paren && !bare_ok)
		return imapd_args_fail(a, "Flag list expected");
	if (paren) {
		if (imapd_args_open(a) < 0)
			return -1;
		if (imapd_args_take(a, ')')) {
			a->depth--;
			return 0;
		}
	}
	do {
		if (imapd_args_flag(a, false, &f) < 0 ||
		    one_flag(a, &f, out) < 0)
			return -1;
	} while (imapd_args_take(a, ' '));
	return paren ? imapd_args_close(a) : 0;
}

/* ---- STORE ------------------------------------------------------------ */

void imapd_cmd_store(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_seqset set;
	struct imapd_str w;
	struct imapd_flags fl;
	struct mbox_store_req req;
	memset(&req, 0, sizeof(req));
	if (imapd_args_sp(a) < 0 || imapd_args_seqset(a, &set) < 0 ||
	    imapd_args_sp(a) < 0)
		return imapd_cmd_syntax(c, s);
	if (imapd_args_peek(a, '(')) {
		/* RFC 7162 3.1.3 (UNCHANGEDSINCE n) */
		uint64_t since;
		if (imapd_args_open(a) < 0 || imapd_args_atom(a, &w) < 0 ||
		    !str_eq_nocase(w.p, "UNCHANGEDSINCE") ||
		    imapd_args_sp(a) < 0 ||
		    imapd_args_number64(a, &since) < 0 ||
		    imapd_args_close(a) < 0 || imapd_args_sp(a) < 0)
			return imapd_cmd_syntax(c, s);
		req.unchanged_since = since ? since : 1;
		imapd_condstore_enable(s);
	}
	size_t start = a->pos;
	while (a->pos < a->len && a->p[a->pos] != ' ')
		a->pos++;
	char *op = arena_memdup(s->arena, a->p + start, a->pos - start);
	imapd_upper(op);
	bool silent = false;
	size_t ol = strlen(op);
	if (ol > 7 && strcmp(op + ol - 7, ".SILENT") == 0) {
		silent = true;
		op[ol - 7] = '\0';
	}
	if (strcmp(op, "FLAGS") == 0)
		req.op = MBOX_STORE_SET;
	else if (strcmp(op, "+FLAGS") == 0)
		req.op = MBOX_STORE_ADD;
	else if (strcmp(op, "-FLAGS") == 0)
		req.op = MBOX_STORE_REMOVE;
	else
		return imapd_cmd_bad(c, s,
		                     "Error in IMAP command STORE: "
		                     "Invalid store item");
	if (imapd_args_sp(a) < 0 || imapd_parse_flags(a, true, &fl) < 0 ||
	    imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	struct imapd_view *v = s->view;
	size_t *idx, n;
	if (imapd_cmd_messages(s, c, &set, &idx, &n) < 0)
		return;
	if (v->readonly)
		return imapd_cmd_no(c, s, "[READ-ONLY] Mailbox is read-only.");
	uint32_t *uids = arena_calloc(s->arena, n ? n : 1, sizeof(*uids));
	size_t k = 0;
	for (size_t j = 0; j < n; j++)
		if (!(v->m[idx[j]].state & IMAPD_MSG_EXPUNGED))
			uids[k++] = v->m[idx[j]].uid;
	req.flags = fl.flags;
	req.keywords = fl.kw;
	req.nkeywords = fl.nkw;
	struct mbox_store_res *res =
	        arena_calloc(s->arena, k ? k : 1, sizeof(*res));
	struct err e;
	if (k > 0 && mbox_store(v->f, uids, k, &req, res, &e) < 0) {
		log_error("user=<%s>: store: %s", s->user, e.msg);
		return imapd_cmd_no(c, s, "[CANNOT] %s", e.msg);
	}
	/* The view learns the new flags from the index (keywords are
	 * only there), then the client hears of them. */
	if (k > 0 && imapd_view_reload(v, uids, k, &e) < 0)
		log_error("user=<%s>: store reload: %s", s->user, e.msg);
	if (v->keywords.n > v->sent_keywords)
		imapd_view_send_flags(s);
	struct buf b, modified;
	buf_init(&b, 0);
	buf_init(&modified, 0);
	size_t nmod = 0;
	for (size_t q = 0; q < k; q++) {
		if (res[q].status == MBOX_STORE_GONE)
			continue;
		if (res[q].status == MBOX_STORE_CHANGED)
			imapd_view_note_own(v, res[q].modseq);
		size_t i = imapd_view_find(v, res[q].uid);
		if (i == SIZE_MAX)
			continue;
		if (res[q].status == MBOX_STORE_CONFLICT) {
			buf_printf(&modified, "%s%u", nmod++ ? "," : "",
			           c->uid ? res[q].uid : (unsigned)(i + 1));
			continue;
		}
		v->m[i].state &= (uint8_t)~IMAPD_MSG_CHANGED;
		if (silent)
			continue;
		buf_reset(&b);
		bool cs = (s->enabled & IMAPD_EXT_CONDSTORE) != 0;
		buf_printf(&b, "* %zu FETCH (", i + 1);
		if (c->uid || cs)
			buf_printf(&b, "UID %u ", res[q].uid);
		buf_append_str(&b, "FLAGS ");
		imapd_view_flags(&b, v, i);
		if (cs)
			buf_printf(&b, " MODSEQ (%llu)",
			           (unsigned long long)v->m[i].modseq);
		buf_append_str(&b, ")\r\n");
		imapd_write(s, b.data, b.len);
	}
	if (nmod)
		imapd_cmd_ok(c, s, "[MODIFIED %s] Conditional STORE failed.",
		             buf_cstr(&modified));
	buf_deinit(&b);
	buf_deinit(&modified);
}

/* ---- COPY and MOVE ---------------------------------------------------- */

static void copy_or_move(struct imapd_session *s, struct imapd_cmd *c,
                         bool move)
{
	struct imapd_args *a = &c->args;
	struct imapd_seqset set;
	struct imapd_str raw;
	if (imapd_args_sp(a) < 0 || imapd_args_seqset(a, &set) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_args_astring(a, &raw) < 0 ||
	    imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	struct imapd_view *v = s->view;
	size_t *idx, n;
	if (imapd_cmd_messages(s, c, &set, &idx, &n) < 0)
		return;
	const char *name = imapd_folder_name(s, c, &raw);
	if (!name)
		return;
	if (move && v->readonly)
		return imapd_cmd_no(c, s, "[READ-ONLY] Mailbox is read-only.");
	struct mbox_folder *dst;
	struct err e;
	if (!imapd_folder_target(s, c, name, raw.p, &dst))
		return;
	uint32_t *uids = arena_calloc(s->arena, n ? n : 1, sizeof(*uids));
	uint32_t *dst_uids =
	        arena_calloc(s->arena, n ? n : 1, sizeof(*dst_uids));
	size_t k = 0, gone = 0;
	for (size_t j = 0; j < n; j++) {
		if (v->m[idx[j]].state & IMAPD_MSG_EXPUNGED)
			gone++;
		else
			uids[k++] = v->m[idx[j]].uid;
	}
	struct mbox_status st;
	int rc = 0;
	if (k > 0)
		rc = move ? mbox_move(v->f, uids, k, dst, dst_uids, &e)
		          : mbox_copy(v->f, uids, k, dst, dst_uids, &e);
	if (rc == 0)
		rc = mbox_folder_status(dst, &st, &e);
	mbox_folder_close(&dst);
	if (rc < 0) {
		log_error("user=<%s>: %s to %s: %s", s->user, c->name, name,
		          e.msg);
		return imapd_cmd_no(c, s, "[CANNOT] %s failed.", c->name);
	}
	/* COPYUID pairs: the sources that were copied, in order. */
	size_t m = 0;
	for (size_t q = 0; q < k; q++) {
		if (dst_uids[q] == 0) {
			gone++;
			continue;
		}
		uids[m] = uids[q];
		dst_uids[m++] = dst_uids[q];
	}
	struct buf code;
	buf_init(&code, 0);
	if (m > 0) {
		buf_printf(&code, "[COPYUID %u ", st.uidvalidity);
		imapd_seqset_format_list(uids, m, &code);
		buf_append_char(&code, ' ');
		imapd_seqset_format_list(dst_uids, m, &code);
		buf_append_str(&code, "] ");
	}
	if (move) {
		for (size_t q = 0; q < m; q++) {
			size_t i = imapd_view_find(v, uids[q]);
			if (i != SIZE_MAX &&
			    !(v->m[i].state & IMAPD_MSG_EXPUNGED)) {
				v->m[i].state |= IMAPD_MSG_EXPUNGED;
				v->nexpunged++;
			}
		}
		s->expunged += m;
		/* RFC 6851 4.3: COPYUID in an untagged OK before the
		 * EXPUNGEs. */
		if (m > 0)
			imapd_untagged(s, "OK %sMoved.", buf_cstr(&code));
		imapd_view_send_expunges(s);
		buf_reset(&code);
	}
	if (gone > 0 && m == 0 && k + gone > 0)
		imapd_cmd_no(c, s,
		             "[EXPUNGEISSUED] Some of the messages no "
		             "longer exist.");
	else
		imapd_cmd_ok(c, s, "%s%s completed.", buf_cstr(&code),
		             move ? "Move" : "Copy");
	buf_deinit(&code);
}

void imapd_cmd_copy(struct imapd_session *s, struct imapd_cmd *c)
{
	copy_or_move(s, c, false);
}

void imapd_cmd_move(struct imapd_session *s, struct imapd_cmd *c)
{
	copy_or_move(s, c, true);
}
