/* SPDX-License-Identifier: MIT */
/*
 * imapd_list.c - LIST and LSUB (RFC 3501 6.3.8-9, RFC 3348 CHILDREN,
 * RFC 6154 SPECIAL-USE attributes)
 *
 * Gathers the candidate names (folders that exist, or subscriptions),
 * adds the superiors they imply, matches the reference and pattern, and
 * answers with attributes: \Noselect for an implied superior that is not
 * a folder, \HasChildren / \HasNoChildren, and the special-use attribute.
 * Matching is a linear-time walk over the set of name positions each
 * pattern byte can reach, so no pattern can make it exponential.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "imapd/imapd_resp.h"
#include "imapd/imapd_session.h"

/* Longest pattern (reference included) worth matching. */
#define PATTERN_MAX 1024

bool imapd_list_match(const char *pat, size_t plen, const char *name,
                      size_t nlen, size_t inbox_len)
{
	/* reach[i]: name[0..i) can be matched by the pattern so far. */
	bool stack[MBOX_NAME_MAX + 2];
	bool *reach = nlen + 1 <= sizeof(stack) ? stack : xcalloc(nlen + 1, 1);
	memset(reach, 0, nlen + 1);
	reach[0] = true;
	bool any = true;
	for (size_t k = 0; k < plen && any; k++) {
		char pc = pat[k];
		any = false;
		if (pc == '*' || pc == '%') {
			bool on = false;
			for (size_t i = 0; i <= nlen; i++) {
				if (reach[i])
					on = true;
				else if (on && pc == '%' && name[i - 1] == '/')
					on = false;
				reach[i] = on;
				any |= on;
			}
			continue;
		}
		for (size_t i = nlen; i > 0; i--) {
			char nc = name[i - 1];
			bool eq = i - 1 < inbox_len ? (nc | 0x20) == (pc | 0x20)
			                            : nc == pc;
			reach[i] = reach[i - 1] && eq;
			any |= reach[i];
		}
		reach[0] = false;
	}
	bool ok = any && reach[nlen];
	if (reach != stack)
		free(reach);
	return ok;
}

#define C_EXISTS 0x1u   /* a folder */
#define C_LISTED 0x2u   /* named by the source (folder or subscription) */
#define C_CHILDREN 0x4u /* something below it is listed */
#define C_SUBSCRIBED 0x8u

struct cand {
	char *name;
	unsigned flags;
	unsigned special_use;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static struct cand *cand_add(struct cands *cs, const char *name, size_t len)
{
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 64;
		cs->v = xrealloc(cs->v, cs->cap * sizeof(*cs->v));
	}
	struct cand *c = &cs->v[cs->n++];
	memset(c, 0, sizeof(*c));
	c->name = xmemdup(name, len);
	return c;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	/* INBOX first, then byte order. */
	bool xi = strcmp(x->name, MBOX_INBOX) == 0;
	bool yi = strcmp(y->name, MBOX_INBOX) == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void cands_free(struct cands *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		free(cs->v[i].name);
	free(cs->v);
}

static int add_folder(void *ctx, const struct mbox_folder_info *fi)
{
	struct cand *c = cand_add(ctx, fi->name, strlen(fi->name));
	c->flags = C_EXISTS | C_LISTED;
	c->special_use = fi->special_use;
	return 0;
}

static int add_sub(void *ctx, const char *name)
{
	struct cand *c = cand_add(ctx, name, strlen(name));
	c->flags = C_LISTED | C_SUBSCRIBED;
	return 0;
}

static int add_exists(void *ctx, const struct mbox_folder_info *fi)
{
	/* For LSUB: which subscribed names are folders (for \Noselect). */
	struct cands *cs = ctx;
	size_t lo = 0, hi = cs->n;
	struct cand key = {(char *)fi->name, 0, 0};
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp_cand(&key, &cs->v[mid]);
		if (r == 0) {
			cs->v[mid].flags |= C_EXISTS;
			cs->v[mid].special_use = fi->special_use;
			return 0;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* Sorts, merges duplicates, adds implied superiors and marks parents. */
static void cands_complete(struct cands *cs)
{
	size_t orig = cs->n;
	for (size_t i = 0; i < orig; i++) {
		const char *name = cs->v[i].name;
		for (const char *p = strchr(name, '/'); p;
		     p = strchr(p + 1, '/')) {
			struct cand *c = cand_add(cs, cs->v[i].name,
			                          (size_t)(p - cs->v[i].name));
			c->flags = C_CHILDREN;
			name = cs->v[i].name;
		}
	}
	qsort(cs->v, cs->n, sizeof(*cs->v), cmp_cand);
	size_t m = 0;
	for (size_t i = 0; i < cs->n; i++) {
		if (m > 0 && strcmp(cs->v[m - 1].name, cs->v[i].name) == 0) {
			cs->v[m - 1].flags |= cs->v[i].flags;
			cs->v[m - 1].special_use |= cs->v[i].special_use;
			free(cs->v[i].name);
			continue;
		}
		cs->v[m++] = cs->v[i];
	}
	cs->n = m;
}

/* Does a listed descendant of cs->v[i] match the pattern? (The names are
 * sorted, so descendants follow it.) */
static bool descendant_matches(const struct cands *cs, size_t i,
                               const char *pat, size_t plen)
{
	size_t len = strlen(cs->v[i].name);
	for (size_t j = i + 1; j < cs->n; j++) {
		const char *n = cs->v[j].name;
		if (strncmp(n, cs->v[i].name, len) != 0 || n[len] != '/')
			break;
		if ((cs->v[j].flags & C_LISTED) &&
		    imapd_list_match(pat, plen, n, strlen(n),
		                     strncmp(n, "INBOX", 5) == 0 ? 5 : 0))
			return true;
	}
	return false;
}

static void do_list(struct imapd_session *s, struct imapd_cmd *c, bool lsub)
{
	struct imapd_args *a = &c->args;
	struct imapd_str ref, pat;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &ref) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_args_list_mailbox(a, &pat) < 0 ||
	    imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	const char *verb = lsub ? "LSUB" : "LIST";
	if (pat.len == 0) {
		/* RFC 3501 6.3.8: the delimiter and the root. */
		if (!lsub)
			imapd_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
		return;
	}
	if (ref.len + pat.len > PATTERN_MAX)
		return imapd_cmd_no(c, s, "[CANNOT] Pattern too long.");
	char *full = arena_printf(s->arena, "%s%s", ref.p, pat.p);
	size_t flen = ref.len + pat.len;
	struct cands cs = {0};
	struct err e;
	int rc = lsub ? mbox_subscriptions(s->mb, add_sub, &cs, &e)
	              : mbox_folder_list(s->mb, add_folder, &cs, &e);
	if (rc >= 0) {
		cands_complete(&cs);
		if (lsub)
			rc = mbox_folder_list(s->mb, add_exists, &cs, &e);
	}
	if (rc < 0) {
		log_error("user=<%s>: %s: %s", s->user, verb, e.msg);
		cands_free(&cs);
		return imapd_cmd_no(c, s,
		                    "[SERVERBUG] Internal error "
		                    "occurred.");
	}
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < cs.n; i++) {
		const struct cand *cd = &cs.v[i];
		size_t nlen = strlen(cd->name);
		size_t inbox = strncmp(cd->name, "INBOX", 5) == 0 &&
		                               (nlen == 5 || cd->name[5] == '/')
		                       ? 5
		                       : 0;
		if (!imapd_list_match(full, flen, cd->name, nlen, inbox))
			continue;
		/* An implied superior is listed when only it matches (the
		 * "%" case of RFC 3501 6.3.9), never with its matching
		 * descendants beside it in LSUB. */
		if (!(cd->flags & C_LISTED) && lsub &&
		    descendant_matches(&cs, i, full, flen))
			continue;
		buf_reset(&b);
		buf_printf(&b, "* %s (", verb);
		bool sp = false;
		bool noselect = lsub ? !(cd->flags & C_LISTED)
		                     : !(cd->flags & C_EXISTS);
		if (noselect) {
			buf_append_str(&b, "\\Noselect");
			sp = true;
		}
		if (!lsub) {
			buf_printf(&b, "%s%s", sp ? " " : "",
			           cd->flags & C_CHILDREN ? "\\HasChildren"
			                                  : "\\HasNoChildren");
			sp = true;
			imapd_special_use_format(&b, cd->special_use, sp);
		}
		buf_append_str(&b, ") \"/\" ");
		imapd_resp_string(&b, cd->name, nlen);
		buf_append_str(&b, "\r\n");
		imapd_write(s, b.data, b.len);
	}
	buf_deinit(&b);
	cands_free(&cs);
}

void imapd_cmd_list(struct imapd_session *s, struct imapd_cmd *c)
{
	do_list(s, c, false);
}

void imapd_cmd_lsub(struct imapd_session *s, struct imapd_cmd *c)
{
	do_list(s, c, true);
}
