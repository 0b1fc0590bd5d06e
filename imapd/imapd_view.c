/* SPDX-License-Identifier: MIT */
/*
 * imapd_view.c - the selected folder as the client knows it
 *
 * Loads a folder into the session's message array, keeps it in step with
 * the mailbox index, and writes the untagged responses that tell the
 * client what changed. Invariants: m is in UID order (UIDs only grow, so
 * new messages are appended); a message leaves m only when its EXPUNGE is
 * sent, so sequence numbers never change behind the client's back; n is
 * what the last EXISTS said, plus new messages not yet announced.
 */
#include "imapd/imapd_view.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imapd/imapd_session.h"

/* ---- keyword sets ---------------------------------------------------- */

static uint32_t hash_bytes(const char *p, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

static void kw_note(struct imapd_view *v, const char *kw)
{
	if (strv_contains_nocase(&v->keywords, kw))
		return;
	strv_push(&v->keywords, kw);
}

static void kwtab_grow(struct imapd_view *v)
{
	size_t size = v->kwtab_size ? v->kwtab_size * 2 : 64;
	struct imapd_kwset **t = xcalloc(size, sizeof(*t));
	for (size_t i = 0; i < v->kwtab_size; i++) {
		struct imapd_kwset *k = v->kwtab[i];
		while (k) {
			struct imapd_kwset *next = k->next;
			size_t b = k->hash & (size - 1);
			k->next = t[b];
			t[b] = k;
			k = next;
		}
	}
	free(v->kwtab);
	v->kwtab = t;
	v->kwtab_size = size;
}

const struct imapd_kwset *imapd_view_kw_intern(struct imapd_view *v,
                                               const char *packed, size_t n,
                                               size_t len)
{
	if (n == 0)
		return NULL;
	uint32_t h = hash_bytes(packed, len);
	if (v->kwtab_size == 0 || v->kwtab_count >= v->kwtab_size)
		kwtab_grow(v);
	size_t b = h & (v->kwtab_size - 1);
	for (struct imapd_kwset *k = v->kwtab[b]; k; k = k->next)
		if (k->hash == h && k->len == len &&
		    memcmp(k->data, packed, len) == 0)
			return k;
	struct imapd_kwset *k = xmalloc(sizeof(*k) + len);
	k->hash = h;
	k->n = n;
	k->len = len;
	memcpy(k->data, packed, len);
	k->next = v->kwtab[b];
	v->kwtab[b] = k;
	v->kwtab_count++;
	const char *p = k->data;
	for (size_t i = 0; i < n; i++) {
		kw_note(v, p);
		p += strlen(p) + 1;
	}
	return k;
}

static size_t packed_len(const char *kw, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(kw + len) + 1;
	return len;
}

/* ---- loading --------------------------------------------------------- */

static void push_msg(struct imapd_view *v, const struct mbox_msg *mm)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->m = xrealloc(v->m, v->cap * sizeof(*v->m));
	}
	struct imapd_msg *m = &v->m[v->n++];
	memset(m, 0, sizeof(*m));
	m->uid = mm->uid;
	m->flags = (uint8_t)mm->flags;
	m->tz = (int16_t)mm->tz_minutes;
	m->kw = imapd_view_kw_intern(v, mm->keywords, mm->nkeywords,
	                             packed_len(mm->keywords, mm->nkeywords));
	m->modseq = mm->modseq;
	m->idate = mm->internal_date;
	m->vsize = mm->vsize;
	bool recent = v->readonly ? mm->uid >= v->first_recent
	                          : mm->uid >= v->recent_first &&
	                                    mm->uid < v->recent_end;
	if (recent) {
		m->state |= IMAPD_MSG_RECENT;
		v->nrecent++;
	}
}

static int load_one(void *ctx, const struct mbox_msg *mm)
{
	push_msg(ctx, mm);
	return 0;
}

/* Claims \Recent for messages from index `from` on that are not claimed
 * yet (read-write views only). */
static int claim_recent(struct imapd_view *v, size_t from, struct err *e)
{
	if (v->readonly || from >= v->n || v->m[v->n - 1].uid < v->recent_end)
		return 0;
	uint32_t first, end;
	if (mbox_folder_take_recent(v->f, &first, &end, e) < 0)
		return -1;
	v->recent_first = first;
	v->recent_end = end;
	for (size_t i = from; i < v->n; i++) {
		struct imapd_msg *m = &v->m[i];
		if (!(m->state & IMAPD_MSG_RECENT) && m->uid >= first &&
		    m->uid < end) {
			m->state |= IMAPD_MSG_RECENT;
			v->nrecent++;
		}
	}
	return 0;
}

int imapd_view_open(struct mbox *mb, const char *name, bool readonly,
                    struct imapd_view **out, struct err *e)
{
	struct mbox_folder *f;
	int rc = mbox_folder_open(mb, name, &f, e);
	if (rc <= 0)
		return rc;
	struct imapd_view *v = xcalloc(1, sizeof(*v));
	v->f = f;
	v->readonly = readonly;
	strv_init(&v->keywords);
	struct mbox_status st;
	if (mbox_folder_sync(f, readonly ? 0 : MBOX_SYNC_NEW_TO_CUR, NULL, e) <
	            0 ||
	    mbox_folder_status(f, &st, e) < 0)
		goto fail;
	v->uidvalidity = st.uidvalidity;
	v->uidnext = st.uidnext;
	v->modseq = st.highestmodseq;
	v->first_recent = st.first_recent;
	if (!readonly) {
		if (mbox_folder_take_recent(f, &v->recent_first, &v->recent_end,
		                            e) < 0)
			goto fail;
	}
	if (mbox_msg_iter(f, 1, UINT32_MAX, load_one, v, e) < 0 ||
	    claim_recent(v, 0, e) < 0)
		goto fail;
	v->sent_exists = v->n;
	v->sent_recent = v->nrecent;
	*out = v;
	return 1;
fail:
	imapd_view_close(&v);
	return -1;
}

void imapd_view_close(struct imapd_view **vp)
{
	struct imapd_view *v = *vp;
	if (!v)
		return;
	mbox_folder_close(&v->f);
	for (size_t i = 0; i < v->kwtab_size; i++) {
		struct imapd_kwset *k = v->kwtab[i];
		while (k) {
			struct imapd_kwset *next = k->next;
			free(k);
			k = next;
		}
	}
	free(v->kwtab);
	strv_deinit(&v->keywords);
	free(v->changed);
	free(v->own);
	free(v->m);
	free(v);
	*vp = NULL;
}

/* ---- syncing --------------------------------------------------------- */

uint64_t imapd_view_highestmodseq(const struct imapd_view *v)
{
	uint64_t h = v->modseq;
	for (size_t i = 0; i < v->n; i++)
		if (v->m[i].modseq > h)
			h = v->m[i].modseq;
	return h;
}

size_t imapd_view_find(const struct imapd_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->m[mid].uid < uid)
			lo = mid + 1;
		else if (v->m[mid].uid > uid)
			hi = mid;
		else
			return mid;
	}
	return SIZE_MAX;
}

static void mark_changed(struct imapd_view *v, size_t i)
{
	struct imapd_msg *m = &v->m[i];
	if (m->state & IMAPD_MSG_CHANGED)
		return;
	m->state |= IMAPD_MSG_CHANGED;
	if (v->nchanged == v->changed_cap) {
		v->changed_cap = v->changed_cap ? v->changed_cap * 2 : 64;
		v->changed = xrealloc(v->changed,
		                      v->changed_cap * sizeof(*v->changed));
	}
	v->changed[v->nchanged++] = m->uid;
}

static int on_change(void *ctx, const struct mbox_msg *mm)
{
	struct imapd_view *v = ctx;
	if (v->n == 0 || mm->uid > v->m[v->n - 1].uid) {
		push_msg(v, mm);
		return 0;
	}
	size_t i = imapd_view_find(v, mm->uid);
	if (i == SIZE_MAX)
		return 0;
	struct imapd_msg *m = &v->m[i];
	const struct imapd_kwset *kw =
	        imapd_view_kw_intern(v, mm->keywords, mm->nkeywords,
	                             packed_len(mm->keywords, mm->nkeywords));
	m->modseq = mm->modseq;
	if (m->flags == mm->flags && m->kw == kw)
		return 0;
	m->flags = (uint8_t)mm->flags;
	m->kw = kw;
	if (!(m->state & IMAPD_MSG_EXPUNGED))
		mark_changed(v, i);
	return 0;
}

static int on_expunge(void *ctx, uint32_t uid, uint64_t modseq)
{
	struct imapd_view *v = ctx;
	(void)modseq;
	size_t i = imapd_view_find(v, uid);
	if (i == SIZE_MAX || (v->m[i].state & IMAPD_MSG_EXPUNGED))
		return 0;
	v->m[i].state |= IMAPD_MSG_EXPUNGED;
	v->nexpunged++;
	return 0;
}

void imapd_view_note_own(struct imapd_view *v, uint64_t modseq)
{
	if (v->nown == v->own_cap) {
		v->own_cap = v->own_cap ? v->own_cap * 2 : 64;
		v->own = xrealloc(v->own, v->own_cap * sizeof(*v->own));
	}
	v->own[v->nown++] = modseq;
}

/* Were all changes in (v->modseq, high] this session's own? Each change
 * takes a modseq of its own (mbox.h), so counting them is enough. */
static bool only_own(const struct imapd_view *v, uint64_t high)
{
	uint64_t n = 0;
	for (size_t i = 0; i < v->nown; i++)
		if (v->own[i] > v->modseq && v->own[i] <= high)
			n++;
	return n == high - v->modseq;
}

int imapd_view_sync(struct imapd_view *v, struct err *e)
{
	struct mbox_status st;
	if (mbox_folder_sync(v->f, v->readonly ? 0 : MBOX_SYNC_NEW_TO_CUR, NULL,
	                     e) < 0 ||
	    mbox_folder_status(v->f, &st, e) < 0)
		return -1;
	if (st.uidvalidity != v->uidvalidity) {
		err_set(e, "UIDVALIDITY of %s changed", mbox_folder_name(v->f));
		return -1;
	}
	if (st.highestmodseq == v->modseq)
		return 0;
	bool own = only_own(v, st.highestmodseq) && st.uidnext == v->uidnext;
	v->nown = 0;
	if (own) {
		v->modseq = st.highestmodseq;
		return 0;
	}
	size_t old_n = v->n;
	if (v->readonly)
		v->first_recent = st.first_recent;
	if (mbox_msg_changes(v->f, v->modseq, on_change, on_expunge, v, e) < 0)
		return -1;
	v->modseq = st.highestmodseq;
	v->uidnext = st.uidnext;
	return claim_recent(v, old_n, e);
}

/* ---- telling the client ---------------------------------------------- */

void imapd_view_send_expunges(struct imapd_session *s)
{
	struct imapd_view *v = s->view;
	if (v->nexpunged == 0)
		return;
	/* RFC 7162 3.2.10: with QRESYNC, one VANISHED with the UIDs. */
	bool vanished = (s->enabled & IMAPD_EXT_QRESYNC) != 0;
	struct buf b;
	buf_init(&b, 0);
	uint32_t run_lo = 0, run_hi = 0;
	size_t out = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct imapd_msg *m = &v->m[i];
		if (m->state & IMAPD_MSG_EXPUNGED) {
			if (!vanished) {
				/* Sequence numbers of later messages drop by
				 * one with each EXPUNGE (RFC 3501 7.4.1). */
				imapd_untagged(s, "%zu EXPUNGE", out + 1);
			} else if (run_lo && m->uid == run_hi + 1) {
				run_hi = m->uid;
			} else {
				if (run_lo)
					buf_printf(&b,
					           run_lo == run_hi ? "%u,"
					                            : "%u:%u,",
					           run_lo, run_hi);
				run_lo = run_hi = m->uid;
			}
			if (m->state & IMAPD_MSG_RECENT)
				v->nrecent--;
			if (v->sent_exists > 0)
				v->sent_exists--;
			continue;
		}
		v->m[out++] = *m;
	}
	if (vanished) {
		if (run_lo == run_hi)
			buf_printf(&b, "%u", run_lo);
		else
			buf_printf(&b, "%u:%u", run_lo, run_hi);
		imapd_untagged(s, "VANISHED %s", buf_cstr(&b));
	}
	buf_deinit(&b);
	v->n = out;
	v->nexpunged = 0;
	if (v->sent_recent > v->nrecent)
		v->sent_recent = v->nrecent;
}

void imapd_view_update(struct imapd_session *s, bool allow_expunge)
{
	struct imapd_view *v = s->view;
	struct err e;
	if (imapd_view_sync(v, &e) < 0) {
		/* Deleted or renamed by another session, UIDVALIDITY
		 * changed, or the index failed: what the client holds can
		 * no longer be kept right. It reconnects and starts over. */
		log_error("user=<%s>: %s", s->user, e.msg);
		imapd_untagged(s, "BYE Selected mailbox is no longer "
		                  "available.");
		s->bye = true;
		return;
	}
	if (allow_expunge)
		imapd_view_send_expunges(s);
	if (v->keywords.n > v->sent_keywords)
		imapd_view_send_flags(s);
	if (v->n != v->sent_exists) {
		imapd_untagged(s, "%zu EXISTS", v->n);
		v->sent_exists = v->n;
	}
	if (v->nrecent != v->sent_recent) {
		imapd_untagged(s, "%zu RECENT", v->nrecent);
		v->sent_recent = v->nrecent;
	}
	struct buf b;
	buf_init(&b, 0);
	for (size_t k = 0; k < v->nchanged; k++) {
		size_t i = imapd_view_find(v, v->changed[k]);
		if (i == SIZE_MAX)
			continue;
		v->m[i].state &= (uint8_t)~IMAPD_MSG_CHANGED;
		if (v->m[i].state & IMAPD_MSG_EXPUNGED)
			continue;
		buf_reset(&b);
		buf_printf(&b, "* %zu FETCH (UID %u FLAGS ", i + 1,
		           v->m[i].uid);
		imapd_view_flags(&b, v, i);
		if (s->enabled & IMAPD_EXT_CONDSTORE)
			buf_printf(&b, " MODSEQ (%llu)",
			           (unsigned long long)v->m[i].modseq);
		buf_append(&b, ")\r\n", 3);
		imapd_write(s, b.data, b.len);
	}
	v->nchanged = 0;
	buf_deinit(&b);
}

struct reload_ctx {
	struct imapd_view *v;
	const uint32_t *uids;
	size_t n, k;
};

static int reload_one(void *vctx, const struct mbox_msg *mm)
{
	struct reload_ctx *c = vctx;
	while (c->k < c->n && c->uids[c->k] < mm->uid)
		c->k++;
	if (c->k >= c->n)
		return 1;
	if (c->uids[c->k] != mm->uid)
		return 0;
	size_t i = imapd_view_find(c->v, mm->uid);
	if (i == SIZE_MAX)
		return 0;
	struct imapd_msg *m = &c->v->m[i];
	m->flags = (uint8_t)mm->flags;
	m->modseq = mm->modseq;
	m->kw = imapd_view_kw_intern(c->v, mm->keywords, mm->nkeywords,
	                             packed_len(mm->keywords, mm->nkeywords));
	return 0;
}

int imapd_view_reload(struct imapd_view *v, const uint32_t *uids, size_t n,
                      struct err *e)
{
	if (n == 0)
		return 0;
	struct reload_ctx c = {v, uids, n, 0};
	return mbox_msg_iter(v->f, uids[0], uids[n - 1], reload_one, &c, e) < 0
	               ? -1
	               : 0;
}

/* ---- flags ----------------------------------------------------------- */

static const struct {
	unsigned bit;
	const char *name;
} sysflags[] = {
        {MBOX_F_ANSWERED, "\\Answered"}, {MBOX_F_FLAGGED, "\\Flagged"},
        {MBOX_F_DELETED, "\\Deleted"},   {MBOX_F_SEEN, "\\Seen"},
        {MBOX_F_DRAFT, "\\Draft"},       {MBOX_F_PASSED, "$Forwarded"},
};

int imapd_view_flags(struct buf *out, const struct imapd_view *v, size_t i)
{
	const struct imapd_msg *m = &v->m[i];
	bool first = true;
	if (buf_append_char(out, '(') < 0)
		return -1;
	for (size_t k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]); k++) {
		if (!(m->flags & sysflags[k].bit))
			continue;
		if (buf_printf(out, "%s%s", first ? "" : " ",
		               sysflags[k].name) < 0)
			return -1;
		first = false;
	}
	if (m->kw) {
		const char *p = m->kw->data;
		for (size_t k = 0; k < m->kw->n; k++) {
			if (buf_printf(out, "%s%s", first ? "" : " ", p) < 0)
				return -1;
			first = false;
			p += strlen(p) + 1;
		}
	}
	if (m->state & IMAPD_MSG_RECENT) {
		if (buf_printf(out, "%s\\Recent", first ? "" : " ") < 0)
			return -1;
	}
	return buf_append_char(out, ')');
}

int imapd_view_flag_list(struct buf *out, const struct imapd_view *v)
{
	if (buf_append_str(out, "(\\Answered \\Flagged \\Deleted \\Seen "
	                        "\\Draft $Forwarded") < 0)
		return -1;
	for (size_t k = 0; k < v->keywords.n; k++) {
		if (str_eq_nocase(v->keywords.v[k], "$Forwarded"))
			continue;
		if (buf_printf(out, " %s", v->keywords.v[k]) < 0)
			return -1;
	}
	return buf_append_char(out, ')');
}

void imapd_view_send_flags(struct imapd_session *s)
{
	struct imapd_view *v = s->view;
	struct buf b;
	buf_init(&b, 0);
	imapd_view_flag_list(&b, v);
	imapd_untagged(s, "FLAGS %s", buf_cstr(&b));
	if (v->readonly) {
		imapd_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox.");
	} else {
		buf_truncate(&b, b.len - 1);
		imapd_untagged(s,
		               "OK [PERMANENTFLAGS %s \\*)] Flags permitted.",
		               buf_cstr(&b));
	}
	v->sent_keywords = v->keywords.n;
	buf_deinit(&b);
}

void imapd_view_set(struct imapd_view *v, size_t i, unsigned flags,
                    const char *keywords, size_t nkeywords)
{
	v->m[i].flags = (uint8_t)flags;
	v->m[i].kw = imapd_view_kw_intern(v, keywords, nkeywords,
	                                  packed_len(keywords, nkeywords));
}

bool imapd_view_has_keyword(const struct imapd_view *v, size_t i,
                            const char *kw)
{
	const struct imapd_msg *m = &v->m[i];
	if (str_eq_nocase(kw, "$Forwarded") && (m->flags & MBOX_F_PASSED))
		return true;
	if (!m->kw)
		return false;
	const char *p = m->kw->data;
	for (size_t k = 0; k < m->kw->n; k++) {
		if (str_eq_nocase(p, kw))
			return true;
		p += strlen(p) + 1;
	}
	return false;
}

/* ---- sets ------------------------------------------------------------ */

int imapd_view_resolve(const struct imapd_view *v,
                       const struct imapd_seqset *set, bool uid,
                       struct arena *a, size_t **idx_out, size_t *n_out)
{
	struct imapd_seqset norm;
	uint32_t star = uid ? (v->n ? v->m[v->n - 1].uid : 0) : (uint32_t)v->n;
	imapd_seqset_resolve(set, star, a, &norm);
	if (!uid && imapd_seqset_max(&norm) > v->n)
		return -1;
	uint64_t count = uid ? 0 : imapd_seqset_count(&norm);
	if (uid) {
		/* At most every message, or every UID in the set. */
		uint64_t c = imapd_seqset_count(&norm);
		count = c < v->n ? c : v->n;
	}
	size_t *idx = arena_calloc(a, count ? (size_t)count : 1, sizeof(*idx));
	size_t n = 0;
	for (size_t r = 0; r < norm.n; r++) {
		if (!uid) {
			for (uint64_t q = norm.r[r].lo; q <= norm.r[r].hi; q++)
				idx[n++] = (size_t)q - 1;
			continue;
		}
		/* First message with uid >= lo, then walk while <= hi. */
		size_t lo = 0, hi = v->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (v->m[mid].uid < norm.r[r].lo)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo;
		     i < v->n && v->m[i].uid <= norm.r[r].hi && n < count; i++)
			idx[n++] = i;
	}
	*idx_out = idx;
	*n_out = n;
	return 0;
}
