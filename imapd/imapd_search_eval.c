/* SPDX-License-Identifier: MIT */
/*
 * imapd_search_eval.c - matching SEARCH keys against a message
 *
 * Keys on view data (flags, numbers, dates, sizes) cost nothing; keys on
 * content load the message once (through the caller's callback), parse
 * its MIME tree once, and decode only what they look at. AND children
 * are ordered cheapest first by imapd_search_prepare, so "UNSEEN BODY x"
 * reads no file for a seen message.
 *
 * Text matching: the needle was folded when parsed; each haystack is
 * decoded to UTF-8 (RFC 2047 words in headers; Content-Transfer-Encoding
 * and charset in bodies), folded the same way, then searched as bytes.
 */
#include "imapd/imapd_search.h"

#include <stdlib.h>
#include <string.h>

#include "common/mbox.h"
#include "common/mime_codec.h"
#include "common/mime_words.h"
#include "common/rfc822.h"
#include "imapd/imapd_date.h"

/* ---- case folding ----------------------------------------------------- */

static uint32_t fold_cp(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 0x80)
		return c;
	if ((c >= 0xc0 && c <= 0xde && c != 0xd7))
		return c + 32;          /* Latin-1 */
	if (c >= 0x100 && c <= 0x17f) { /* Latin Extended-A */
		if (c == 0x178)
			return 0xff;
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 ||
		    c == 0x17f)
			return c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 32; /* Greek */
	if (c >= 0x410 && c <= 0x42f)
		return c + 32; /* Cyrillic */
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	return c;
}

static size_t put_cp(char *b, uint32_t c)
{
	if (c < 0x80) {
		b[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		b[0] = (char)(0xc0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	b[0] = (char)(0xe0 | (c >> 12));
	b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	b[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

int imapd_fold(const char *in, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0;
	if (buf_reserve(out, len) < 0)
		return -1;
	while (i < len) {
		unsigned char c = p[i];
		if (c < 0x80) {
			if (buf_append_char(out, (char)(c >= 'A' && c <= 'Z'
			                                        ? c + 32
			                                        : c)) < 0)
				return -1;
			i++;
			continue;
		}
		/* Only two-byte sequences have anything to fold here. */
		if ((c & 0xe0) == 0xc0 && i + 1 < len &&
		    (p[i + 1] & 0xc0) == 0x80) {
			uint32_t cp =
			        ((uint32_t)(c & 0x1f) << 6) | (p[i + 1] & 0x3f);
			char b[3];
			size_t n = cp >= 0x80 ? put_cp(b, fold_cp(cp)) : 0;
			if (n == 2) {
				if (buf_append(out, b, 2) < 0)
					return -1;
				i += 2;
				continue;
			}
		}
		if (buf_append_char(out, (char)c) < 0)
			return -1;
		i++;
	}
	return 0;
}

static bool contains(const char *hay, size_t hlen, const char *needle,
                     size_t nlen)
{
	if (nlen == 0)
		return true;
	return memmem(hay, hlen, needle, nlen) != NULL;
}

/* ---- preparing -------------------------------------------------------- */

static unsigned prepare(struct imapd_snode *n, uint32_t count, uint32_t max_uid,
                        struct arena *a)
{
	unsigned cost = 0;
	switch (n->key) {
	case IMAPD_S_SEQ:
		imapd_seqset_resolve(&n->set, count, a, &n->norm);
		break;
	case IMAPD_S_UID:
		imapd_seqset_resolve(&n->set, max_uid, a, &n->norm);
		break;
	case IMAPD_S_HEADER:
	case IMAPD_S_SENTBEFORE:
	case IMAPD_S_SENTON:
	case IMAPD_S_SENTSINCE:
		cost = 1;
		break;
	case IMAPD_S_BODY:
	case IMAPD_S_TEXT:
		cost = 2;
		break;
	default:
		break;
	}
	for (struct imapd_snode *c = n->child; c; c = c->next) {
		unsigned cc = prepare(c, count, max_uid, a);
		if (cc > cost)
			cost = cc;
	}
	n->cost = cost;
	if (n->key == IMAPD_S_AND && n->child && n->child->next) {
		/* Stable order by cost: cheap keys decide first. */
		struct imapd_snode *head = NULL, **tail = &head;
		for (unsigned k = 0; k <= 2; k++) {
			struct imapd_snode **pp = &n->child;
			while (*pp) {
				struct imapd_snode *c = *pp;
				if (c->cost != k) {
					pp = &c->next;
					continue;
				}
				*pp = c->next;
				c->next = NULL;
				*tail = c;
				tail = &c->next;
			}
		}
		n->child = head;
	}
	return cost;
}

void imapd_search_prepare(struct imapd_snode *root, uint32_t n,
                          uint32_t max_uid, struct arena *a)
{
	(void)prepare(root, n, max_uid, a);
}

/* ---- content ---------------------------------------------------------- */

static int load(struct imapd_search_msg *m)
{
	if (m->loaded == 0) {
		int rc = m->content ? m->content(m->ctx, &m->data, &m->len) : 0;
		m->loaded = rc == 1 ? 1 : -1;
	}
	return m->loaded;
}

/* Decoded (RFC 2047) and folded value of a raw header value. */
static bool value_matches(const char *v, size_t vlen, const char *needle,
                          size_t nlen)
{
	struct buf d, f;
	buf_init(&d, 0);
	buf_init(&f, 0);
	(void)mime_words_decode(v, vlen, &d);
	(void)imapd_fold(d.data ? d.data : "", d.len, &f);
	bool ok = contains(f.data ? f.data : "", f.len, needle, nlen);
	buf_deinit(&d);
	buf_deinit(&f);
	return ok;
}

static bool header_matches(const char *hdr, size_t hlen, const char *field,
                           const char *needle, size_t nlen)
{
	struct rfc822_iter it;
	struct rfc822_field f;
	rfc822_iter_init(&it, hdr, hlen);
	while (rfc822_iter_next(&it, &f) == 1) {
		if (field && !rfc822_field_is(&f, field))
			continue;
		if (field && nlen == 0)
			return true; /* present is enough (RFC 3501) */
		if (!field && value_matches(f.name, f.name_len, needle, nlen))
			return true;
		if (value_matches(f.value, f.value_len, needle, nlen))
			return true;
	}
	return false;
}

static void sent_date(struct imapd_search_msg *m)
{
	if (m->sent_state != 0)
		return;
	m->sent_state = -1;
	size_t hlen = rfc822_header_len(m->data, m->len, NULL);
	struct rfc822_field f;
	int64_t t;
	int tz;
	if (rfc822_header_find(m->data, hlen, "Date", &f) == 1 &&
	    imapd_rfc5322_date_parse(f.value, f.value_len, &t, &tz) == 0) {
		m->sent_day = imapd_day_of(t, tz);
		m->sent_state = 1;
	}
}

/* One leaf's text as UTF-8: transfer encoding undone, charset
 * converted. */
static void leaf_text(const struct mime_part *p, const char *data,
                      struct buf *out)
{
	const char *body = data + p->body_off;
	size_t blen = p->body_len;
	struct buf raw;
	buf_init(&raw, 0);
	const char *src = body;
	size_t slen = blen;
	if (p->encoding.p &&
	    rfc822_eq_nocase(p->encoding.p, p->encoding.len, "base64", 6)) {
		(void)mime_b64_decode(body, blen, &raw, NULL);
		src = raw.data ? raw.data : "";
		slen = raw.len;
	} else if (p->encoding.p &&
	           rfc822_eq_nocase(p->encoding.p, p->encoding.len,
	                            "quoted-printable", 16)) {
		(void)mime_qp_decode(body, blen, 0, &raw, NULL);
		src = raw.data ? raw.data : "";
		slen = raw.len;
	}
	const struct mime_param *cs = NULL;
	for (size_t i = 0; i < p->nparams; i++)
		if (!p->params[i].extended &&
		    rfc822_eq_nocase(p->params[i].name.p, p->params[i].name.len,
		                     "charset", 7))
			cs = &p->params[i];
	if (!cs || mime_charset_to_utf8(cs->value.p, cs->value.len, src, slen,
	                                out) != 1)
		(void)mime_text_to_utf8(src, slen, out);
	buf_deinit(&raw);
}

static bool body_matches(const struct mime_part *p, const char *data,
                         const char *needle, size_t nlen, unsigned depth)
{
	if (depth > MIME_MAX_DEPTH)
		return false;
	if (p->kind == MIME_MESSAGE) {
		/* An attached message: its header is body text here. */
		for (const struct mime_part *c = p->children; c; c = c->next) {
			if (header_matches(data + c->off, c->hdr_len, NULL,
			                   needle, nlen) ||
			    body_matches(c, data, needle, nlen, depth + 1))
				return true;
		}
		return false;
	}
	if (p->kind == MIME_MULTIPART) {
		for (const struct mime_part *c = p->children; c; c = c->next)
			if (body_matches(c, data, needle, nlen, depth + 1))
				return true;
		return false;
	}
	if (!rfc822_eq_nocase(p->type.p, p->type.len, "text", 4))
		return false;
	struct buf t, f;
	buf_init(&t, 0);
	buf_init(&f, 0);
	leaf_text(p, data, &t);
	(void)imapd_fold(t.data ? t.data : "", t.len, &f);
	bool ok = contains(f.data ? f.data : "", f.len, needle, nlen);
	buf_deinit(&t);
	buf_deinit(&f);
	return ok;
}

/* ---- matching --------------------------------------------------------- */

int imapd_search_match(const struct imapd_snode *n, struct imapd_search_msg *m)
{
	int r;
	switch (n->key) {
	case IMAPD_S_ALL:
		return 1;
	case IMAPD_S_AND:
		for (const struct imapd_snode *c = n->child; c; c = c->next) {
			r = imapd_search_match(c, m);
			if (r != 1)
				return r;
		}
		return 1;
	case IMAPD_S_OR:
		r = imapd_search_match(n->child, m);
		if (r != 0)
			return r;
		return imapd_search_match(n->child->next, m);
	case IMAPD_S_NOT:
		r = imapd_search_match(n->child, m);
		return r < 0 ? r : !r;
	case IMAPD_S_SEQ:
		return imapd_seqset_has(&n->norm, m->seq);
	case IMAPD_S_UID:
		return imapd_seqset_has(&n->norm, m->uid);
	case IMAPD_S_FLAG:
		return (m->flags & n->flag) != 0;
	case IMAPD_S_NOFLAG:
		return (m->flags & n->flag) == 0;
	case IMAPD_S_KEYWORD:
	case IMAPD_S_UNKEYWORD: {
		bool has = m->has_keyword && m->has_keyword(m->ctx, n->text);
		return n->key == IMAPD_S_KEYWORD ? has : !has;
	}
	case IMAPD_S_RECENT:
		return m->recent;
	case IMAPD_S_NEW:
		return m->recent && !(m->flags & MBOX_F_SEEN);
	case IMAPD_S_OLD:
		return !m->recent;
	case IMAPD_S_BEFORE:
		return imapd_day_of(m->idate, m->tz) < n->num;
	case IMAPD_S_ON:
		return imapd_day_of(m->idate, m->tz) == n->num;
	case IMAPD_S_SINCE:
		return imapd_day_of(m->idate, m->tz) >= n->num;
	case IMAPD_S_LARGER:
		return m->size > (uint64_t)n->num;
	case IMAPD_S_SMALLER:
		return m->size < (uint64_t)n->num;
	case IMAPD_S_MODSEQ:
		return m->modseq >= (uint64_t)n->num;
	case IMAPD_S_SENTBEFORE:
	case IMAPD_S_SENTON:
	case IMAPD_S_SENTSINCE:
		if (load(m) < 0)
			return -1;
		sent_date(m);
		if (m->sent_state < 0)
			return 0;
		if (n->key == IMAPD_S_SENTBEFORE)
			return m->sent_day < n->num;
		if (n->key == IMAPD_S_SENTON)
			return m->sent_day == n->num;
		return m->sent_day >= n->num;
	case IMAPD_S_HEADER: {
		if (load(m) < 0)
			return -1;
		size_t hlen = rfc822_header_len(m->data, m->len, NULL);
		return header_matches(m->data, hlen, n->field, n->text,
		                      n->text_len);
	}
	case IMAPD_S_BODY:
	case IMAPD_S_TEXT:
		if (load(m) < 0)
			return -1;
		if (!m->mime)
			m->mime = mime_parse(m->data, m->len);
		if (n->key == IMAPD_S_TEXT &&
		    header_matches(m->data, m->mime->root->hdr_len, NULL,
		                   n->text, n->text_len))
			return 1;
		return body_matches(m->mime->root, m->data, n->text,
		                    n->text_len, 0);
	}
	return 0;
}

void imapd_search_msg_release(struct imapd_search_msg *m)
{
	mime_free(&m->mime);
}
