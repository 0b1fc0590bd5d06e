/* SPDX-License-Identifier: MIT */
/*
 * imapd_search.c - SEARCH and UID SEARCH: the program and the command
 *
 * Parses the search keys of RFC 3501 6.4.4 (and MODSEQ, RFC 7162) into a
 * tree, bounded in depth by imapd_max_nesting (parentheses, NOT and OR
 * all count, so "NOT NOT NOT ..." cannot recurse without limit), then
 * runs it over the selected folder. Matching is in imapd_search_eval.c.
 */
#include "imapd/imapd_search.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mbox.h"
#include "common/str.h"
#include "imapd/imapd_date.h"
#include "imapd/imapd_msgdata.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_view.h"

static struct imapd_snode *node(struct imapd_args *a, enum imapd_skey key)
{
	struct imapd_snode *n = arena_calloc(a->a, 1, sizeof(*n));
	n->key = key;
	return n;
}

static int parse_key(struct imapd_args *a, struct imapd_snode **out);

static int text_arg(struct imapd_args *a, struct imapd_snode *n)
{
	struct imapd_str s;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &s) < 0)
		return -1;
	struct buf b;
	buf_init(&b, 0);
	(void)imapd_fold(s.p, s.len, &b);
	n->text = arena_memdup(a->a, b.data ? b.data : "", b.len);
	n->text_len = b.len;
	buf_deinit(&b);
	return 0;
}

static int date_arg(struct imapd_args *a, struct imapd_snode *n)
{
	struct imapd_str s;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &s) < 0)
		return -1;
	if (imapd_date_parse(s.p, s.len, &n->num) < 0)
		return imapd_args_fail(a, "Invalid date");
	return 0;
}

static const struct {
	const char *name;
	enum imapd_skey key;
	unsigned flag;
} flag_keys[] = {
        {"ANSWERED", IMAPD_S_FLAG, MBOX_F_ANSWERED},
        {"DELETED", IMAPD_S_FLAG, MBOX_F_DELETED},
        {"DRAFT", IMAPD_S_FLAG, MBOX_F_DRAFT},
        {"FLAGGED", IMAPD_S_FLAG, MBOX_F_FLAGGED},
        {"SEEN", IMAPD_S_FLAG, MBOX_F_SEEN},
        {"UNANSWERED", IMAPD_S_NOFLAG, MBOX_F_ANSWERED},
        {"UNDELETED", IMAPD_S_NOFLAG, MBOX_F_DELETED},
        {"UNDRAFT", IMAPD_S_NOFLAG, MBOX_F_DRAFT},
        {"UNFLAGGED", IMAPD_S_NOFLAG, MBOX_F_FLAGGED},
        {"UNSEEN", IMAPD_S_NOFLAG, MBOX_F_SEEN},
        {"ALL", IMAPD_S_ALL, 0},
        {"NEW", IMAPD_S_NEW, 0},
        {"OLD", IMAPD_S_OLD, 0},
        {"RECENT", IMAPD_S_RECENT, 0},
};

static const struct {
	const char *name;
	const char *field;
} header_keys[] = {
        {"BCC", "Bcc"},         {"CC", "Cc"}, {"FROM", "From"},
        {"SUBJECT", "Subject"}, {"TO", "To"},
};

static const struct {
	const char *name;
	enum imapd_skey key;
} date_keys[] = {
        {"BEFORE", IMAPD_S_BEFORE}, {"ON", IMAPD_S_ON},
        {"SINCE", IMAPD_S_SINCE},   {"SENTBEFORE", IMAPD_S_SENTBEFORE},
        {"SENTON", IMAPD_S_SENTON}, {"SENTSINCE", IMAPD_S_SENTSINCE},
};

/* The keys named by a word. */
static int word_key(struct imapd_args *a, const char *w,
                    struct imapd_snode **out)
{
	struct imapd_snode *n;
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++)
		if (strcmp(w, flag_keys[i].name) == 0) {
			n = node(a, flag_keys[i].key);
			n->flag = flag_keys[i].flag;
			*out = n;
			return 0;
		}
	for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]);
	     i++)
		if (strcmp(w, header_keys[i].name) == 0) {
			n = node(a, IMAPD_S_HEADER);
			n->field = header_keys[i].field;
			*out = n;
			return text_arg(a, n);
		}
	for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++)
		if (strcmp(w, date_keys[i].name) == 0) {
			*out = n = node(a, date_keys[i].key);
			return date_arg(a, n);
		}
	struct imapd_str s;
	if (strcmp(w, "BODY") == 0 || strcmp(w, "TEXT") == 0) {
		*out = n = node(a, w[0] == 'B' ? IMAPD_S_BODY : IMAPD_S_TEXT);
		return text_arg(a, n);
	}
	if (strcmp(w, "HEADER") == 0) {
		*out = n = node(a, IMAPD_S_HEADER);
		if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &s) < 0)
			return -1;
		n->field = s.p;
		return text_arg(a, n);
	}
	if (strcmp(w, "KEYWORD") == 0 || strcmp(w, "UNKEYWORD") == 0) {
		*out = n = node(a, w[0] == 'K' ? IMAPD_S_KEYWORD
		                               : IMAPD_S_UNKEYWORD);
		if (imapd_args_sp(a) < 0 || imapd_args_atom(a, &s) < 0)
			return -1;
		n->text = s.p;
		return 0;
	}
	if (strcmp(w, "LARGER") == 0 || strcmp(w, "SMALLER") == 0) {
		*out = n =
		        node(a, w[0] == 'L' ? IMAPD_S_LARGER : IMAPD_S_SMALLER);
		uint32_t v;
		if (imapd_args_sp(a) < 0 || imapd_args_number(a, &v) < 0)
			return -1;
		n->num = v;
		return 0;
	}
	if (strcmp(w, "UID") == 0) {
		*out = n = node(a, IMAPD_S_UID);
		return imapd_args_sp(a) < 0 ? -1
		                            : imapd_args_seqset(a, &n->set);
	}
	if (strcmp(w, "MODSEQ") == 0) {
		/* MODSEQ [entry-name entry-type] mod-sequence-value */
		*out = n = node(a, IMAPD_S_MODSEQ);
		uint64_t v;
		if (imapd_args_sp(a) < 0)
			return -1;
		if (imapd_args_peek(a, '"')) {
			if (imapd_args_string(a, &s) < 0 ||
			    imapd_args_sp(a) < 0 ||
			    imapd_args_atom(a, &s) < 0 || imapd_args_sp(a) < 0)
				return -1;
		}
		if (imapd_args_number64(a, &v) < 0)
			return -1;
		n->num = (int64_t)v;
		return 0;
	}
	if (strcmp(w, "NOT") == 0 || strcmp(w, "OR") == 0) {
		bool or = w[0] == 'O';
		*out = n = node(a, or ? IMAPD_S_OR : IMAPD_S_NOT);
		/* NOT and OR nest like parentheses do. */
		if (++a->depth > a->max_depth)
			return imapd_args_fail(a, "Search program too deeply "
			                          "nested");
		if (imapd_args_sp(a) < 0 || parse_key(a, &n->child) < 0)
			return -1;
		if (or &&(imapd_args_sp(a) < 0 ||
		          parse_key(a, &n->child->next) < 0))
			return -1;
		a->depth--;
		return 0;
	}
	return imapd_args_fail(a, "Unknown search key");
}

/* key *(SP key), as one AND node. */
static int parse_keys(struct imapd_args *a, struct imapd_snode **out)
{
	struct imapd_snode *n = node(a, IMAPD_S_AND), **tail = &n->child;
	do {
		if (parse_key(a, tail) < 0)
			return -1;
		tail = &(*tail)->next;
	} while (imapd_args_take(a, ' '));
	*out = n;
	return 0;
}

static int parse_key(struct imapd_args *a, struct imapd_snode **out)
{
	if (imapd_args_peek(a, '(')) {
		if (imapd_args_open(a) < 0 || parse_keys(a, out) < 0)
			return -1;
		return imapd_args_close(a);
	}
	if (imapd_args_peek(a, '*') ||
	    (a->pos < a->len && a->p[a->pos] >= '0' && a->p[a->pos] <= '9')) {
		struct imapd_snode *n = node(a, IMAPD_S_SEQ);
		*out = n;
		return imapd_args_seqset(a, &n->set);
	}
	struct imapd_str w;
	if (imapd_args_atom(a, &w) < 0)
		return -1;
	imapd_upper((char *)w.p);
	return word_key(a, w.p, out);
}

bool imapd_search_uses(const struct imapd_snode *n, enum imapd_skey key)
{
	if (n->key == key)
		return true;
	for (const struct imapd_snode *c = n->child; c; c = c->next)
		if (imapd_search_uses(c, key))
			return true;
	return false;
}

int imapd_search_parse(struct imapd_args *a, struct imapd_snode **root)
{
	size_t save = a->pos;
	struct imapd_str w;
	if (imapd_args_atom(a, &w) == 0 && str_eq_nocase(w.p, "CHARSET")) {
		struct imapd_str cs;
		if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &cs) < 0 ||
		    imapd_args_sp(a) < 0)
			return -1;
		if (!str_eq_nocase(cs.p, "UTF-8") &&
		    !str_eq_nocase(cs.p, "US-ASCII"))
			return 0;
	} else {
		a->err = NULL;
		a->pos = save;
	}
	return parse_keys(a, root) < 0 ? -1 : 1;
}

/* ---- the command ------------------------------------------------------ */

struct search_ctx {
	struct imapd_session *s;
	size_t i;
	struct imapd_msgdata md;
};

static bool ctx_has_keyword(void *vctx, const char *kw)
{
	struct search_ctx *c = vctx;
	return imapd_view_has_keyword(c->s->view, c->i, kw);
}

static int ctx_content(void *vctx, const char **data, size_t *len)
{
	struct search_ctx *c = vctx;
	struct err e;
	int rc = imapd_msgdata_file(&c->md, c->s->view->f, &e);
	if (rc < 0)
		log_error("user=<%s>: search uid %u: %s", c->s->user, c->md.uid,
		          e.msg);
	if (rc <= 0)
		return rc;
	*data = c->md.data;
	*len = c->md.len;
	return 1;
}

void imapd_cmd_search(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_snode *root;
	if (imapd_args_sp(a) < 0)
		return imapd_cmd_syntax(c, s);
	int rc = imapd_search_parse(a, &root);
	if (rc == 0)
		return imapd_cmd_no(c, s,
		                    "[BADCHARSET (UTF-8 US-ASCII)] "
		                    "Unsupported charset.");
	if (rc < 0 || imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	bool modseq = imapd_search_uses(root, IMAPD_S_MODSEQ);
	if (modseq)
		imapd_condstore_enable(s);
	uint64_t highest = 0;
	struct imapd_view *v = s->view;
	imapd_search_prepare(root, (uint32_t)v->n,
	                     v->n ? v->m[v->n - 1].uid : 0, s->arena);
	struct buf out;
	buf_init(&out, 0);
	buf_append_str(&out, "* SEARCH");
	struct search_ctx ctx = {.s = s};
	for (size_t i = 0; i < v->n; i++) {
		const struct imapd_msg *m = &v->m[i];
		ctx.i = i;
		imapd_msgdata_init(&ctx.md, m->uid);
		struct imapd_search_msg sm = {
		        .seq = (uint32_t)(i + 1),
		        .uid = m->uid,
		        .flags = m->flags,
		        .recent = (m->state & IMAPD_MSG_RECENT) != 0,
		        .idate = m->idate,
		        .tz = m->tz,
		        .size = m->vsize,
		        .modseq = m->modseq,
		        .has_keyword = ctx_has_keyword,
		        .content = ctx_content,
		        .ctx = &ctx,
		};
		if (imapd_search_match(root, &sm) == 1) {
			buf_printf(&out, " %u",
			           c->uid ? m->uid : (unsigned)(i + 1));
			if (m->modseq > highest)
				highest = m->modseq;
		}
		imapd_search_msg_release(&sm);
		imapd_msgdata_release(&ctx.md);
	}
	/* RFC 7162 3.1.5: the highest modseq of what matched. */
	if (modseq && highest)
		buf_printf(&out, " (MODSEQ %llu)", (unsigned long long)highest);
	buf_append_str(&out, "\r\n");
	imapd_write(s, out.data, out.len);
	buf_deinit(&out);
}
