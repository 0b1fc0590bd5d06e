/* SPDX-License-Identifier: MIT */
/*
 * mime.c - parse a stored message into its MIME part tree
 *
 * Top-down: a part's extent is fixed by its parent (a multipart finds its
 * own delimiter lines, RFC 2046 5.1.1, and cuts its body into children),
 * then the part reads its header within that extent. A line that closes
 * an outer multipart therefore always ends the inner parts too, with no
 * boundary stack. Each level scans its bytes once, so the work is at most
 * MIME_MAX_DEPTH passes over the message.
 *
 * Repairs, never errors (a stored message must be servable): defaults per
 * RFC 2045 5.2 and RFC 2046 5.1.5 (digest), a multipart without a usable
 * boundary or without any delimiter line is served as text/plain, an
 * encoded message/rfc822 (forbidden by RFC 2046 5.2.1) or one past the
 * depth limit as application/octet-stream, because BODYSTRUCTURE would
 * otherwise have to describe an envelope and body it cannot parse.
 * Section addressing is in mime_section.c.
 */
#include "common/mime.h"

#include <stdlib.h>
#include <string.h>

#include "common/mime_codec.h"
#include "common/str.h"
#include "common/xalloc.h"

#define MAX_LANGUAGES 64

static const struct rfc822_str str_text = {"text", 4};
static const struct rfc822_str str_plain = {"plain", 5};
static const struct rfc822_str str_message = {"message", 7};
static const struct rfc822_str str_rfc822 = {"rfc822", 6};
static const struct rfc822_str str_application = {"application", 11};
static const struct rfc822_str str_octet = {"octet-stream", 12};

static bool str_is(const struct rfc822_str *s, const char *lit)
{
	return s->p && strn_eq_nocase(s->p, s->len, lit);
}

bool mime_part_is(const struct mime_part *p, const char *t, const char *s)
{
	return str_is(&p->type, t) && (!s || str_is(&p->subtype, s));
}

size_t mime_msg_size(const struct mime_msg *m)
{
	return m->root->hdr_size + m->root->body_size;
}

static struct mime_part *new_part(struct mime_msg *m, struct mime_part *parent,
                                  size_t off)
{
	if (m->nparts >= MIME_MAX_PARTS)
		return NULL;
	struct mime_part *p = arena_calloc(m->arena, 1, sizeof(*p));
	p->off = off;
	p->parent = parent;
	p->depth = parent ? parent->depth + 1 : 0;
	m->nparts++;
	return p;
}

/* An unstructured field value, unfolded and trimmed, in the arena. */
static struct rfc822_str unfolded(struct mime_msg *m, const char *v, size_t len)
{
	char *dst = arena_alloc(m->arena, len + 1);
	size_t n = rfc822_unfold(v, len, dst);
	dst[n] = 0;
	return (struct rfc822_str){dst, n};
}

static void set_type(struct mime_part *p, const struct rfc822_str *t,
                     const struct rfc822_str *s)
{
	p->type = *t;
	p->subtype = *s;
	p->params = NULL;
	p->nparams = 0;
}

static void read_content_type(struct mime_msg *m, struct mime_part *p,
                              const char *v, size_t len)
{
	struct mime_field f;
	struct rfc822_str t, s;
	mime_field_parse(m->arena, v, len, &f);
	if (!mime_ctype_split(&f.token, &t, &s)) {
		/* RFC 2045 5.2: text/plain for an invalid field, even in a
		 * digest, so the junk is shown rather than parsed. */
		set_type(p, &str_text, &str_plain);
		p->flags |= MIME_PF_DEFAULT_TYPE;
		return;
	}
	p->type = t;
	p->subtype = s;
	p->params = f.params;
	p->nparams = f.nparams;
}

static void read_languages(struct mime_msg *m, struct mime_part *p,
                           const char *v, size_t len)
{
	struct rfc822_str *l =
	        arena_calloc(m->arena, MAX_LANGUAGES, sizeof(*l));
	size_t n = 0, i = 0;
	/* RFC 3282: a comma list of language tags, CFWS allowed. */
	while (i < len && n < MAX_LANGUAGES) {
		struct mime_field f;
		size_t j = i;
		while (j < len && v[j] != ',')
			j++;
		mime_field_parse(m->arena, v + i, j - i, &f);
		if (mime_is_token(f.token.p, f.token.len))
			l[n++] = f.token;
		i = j + 1;
	}
	p->languages = n ? l : NULL;
	p->nlanguages = n;
}

static void read_field(struct mime_msg *m, struct mime_part *p,
                       const struct rfc822_field *fl, unsigned *seen)
{
	static const char *const names[] = {
	        "Content-Type",        "Content-Transfer-Encoding",
	        "Content-ID",          "Content-Description",
	        "Content-Disposition", "Content-Language",
	        "Content-Location",    "Content-MD5",
	};
	size_t k = 0;
	while (k < 8 && !rfc822_field_is(fl, names[k]))
		k++;
	if (k == 8 || (*seen & (1u << k)))
		return; /* not ours, or a repeat: the first one counts */
	*seen |= 1u << k;
	const char *v = fl->value;
	size_t len =
	        fl->value_len < MIME_MAX_FIELD ? fl->value_len : MIME_MAX_FIELD;
	struct mime_field f;
	switch (k) {
	case 0:
		read_content_type(m, p, v, len);
		break;
	case 1:
		mime_field_parse(m->arena, v, len, &f);
		if (mime_is_token(f.token.p, f.token.len))
			p->encoding = f.token;
		break;
	case 2:
		p->id = unfolded(m, v, len);
		break;
	case 3:
		p->description = unfolded(m, v, len);
		break;
	case 4:
		mime_field_parse(m->arena, v, len, &f);
		if (mime_is_token(f.token.p, f.token.len)) {
			p->disposition = f.token;
			p->disp_params = f.params;
			p->ndisp_params = f.nparams;
		}
		break;
	case 5:
		read_languages(m, p, v, len);
		break;
	case 6:
		p->location = unfolded(m, v, len);
		break;
	default:
		p->md5 = unfolded(m, v, len);
		break;
	}
}

static void read_header(struct mime_msg *m, struct mime_part *p,
                        bool digest_child)
{
	struct rfc822_iter it;
	struct rfc822_field f;
	unsigned seen = 0;
	rfc822_iter_init(&it, m->data + p->off, p->hdr_len);
	while (rfc822_iter_next(&it, &f))
		read_field(m, p, &f, &seen);
	if (seen & 1u)
		return; /* Content-Type given (invalid ones are repaired) */
	/* RFC 2045 5.2 and RFC 2046 5.1.5 defaults. */
	if (digest_child) {
		set_type(p, &str_message, &str_rfc822);
	} else {
		set_type(p, &str_text, &str_plain);
		p->flags |= MIME_PF_DEFAULT_TYPE;
	}
}

static void downgrade(struct mime_part *p, const struct rfc822_str *t,
                      const struct rfc822_str *s)
{
	set_type(p, t, s);
	p->kind = MIME_LEAF;
	p->flags |= MIME_PF_DOWNGRADED;
	p->children = NULL;
	p->nchildren = 0;
}

/* 0: not a delimiter line; 1: delimiter; 2: close delimiter. */
static int delimiter(const char *l, size_t n, const char *b, size_t blen)
{
	if (n < 2 + blen || l[0] != '-' || l[1] != '-' ||
	    memcmp(l + 2, b, blen) != 0)
		return 0;
	size_t i = 2 + blen;
	if (n - i >= 2 && l[i] == '-' && l[i + 1] == '-')
		return 2;
	/* RFC 2046 5.1.1: only transport padding may follow; this also
	 * keeps "--abc" from matching a nested boundary "abcdef". */
	for (; i < n; i++)
		if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r' && l[i] != '\n')
			return 0;
	return 1;
}

static void parse_part(struct mime_msg *m, struct mime_part *p, size_t end,
                       bool digest_child);

static bool add_child(struct mime_msg *m, struct mime_part *p,
                      struct mime_part ***tail, size_t start, size_t end,
                      bool digest)
{
	struct mime_part *c = new_part(m, p, start);
	if (!c) {
		p->flags |= MIME_PF_LIMIT;
		return false;
	}
	parse_part(m, c, end, digest);
	**tail = c;
	*tail = &c->next;
	p->nchildren++;
	return true;
}

static void parse_multipart(struct mime_msg *m, struct mime_part *p)
{
	const struct mime_param *bp = NULL;
	for (size_t i = 0; i < p->nparams && !bp; i++)
		if (!p->params[i].extended &&
		    strn_eq_nocase(p->params[i].name.p, p->params[i].name.len,
		                   "boundary"))
			bp = &p->params[i];
	if (!bp || bp->value.len == 0 || bp->value.len > MIME_MAX_BOUNDARY) {
		downgrade(p, &str_text, &str_plain);
		return;
	}
	bool digest = mime_part_is(p, "multipart", "digest");
	const char *d = m->data;
	size_t end = p->body_off + p->body_len, pos = p->body_off;
	size_t start = SIZE_MAX; /* of the current child, none yet */
	struct mime_part **tail = &p->children;
	bool closed = false;
	p->kind = MIME_MULTIPART;
	while (pos < end && !closed) {
		const char *nl = memchr(d + pos, '\n', end - pos);
		size_t eol = nl ? (size_t)(nl - d) + 1 : end;
		int t = d[pos] == '-' ? delimiter(d + pos, eol - pos,
		                                  bp->value.p, bp->value.len)
		                      : 0;
		if (t) {
			if (start != SIZE_MAX) {
				/* The line end before a delimiter is part of
				 * the delimiter (RFC 2046 5.1.1). */
				size_t cut = pos;
				if (cut > start && d[cut - 1] == '\n')
					cut--;
				if (cut > start && d[cut - 1] == '\r')
					cut--;
				if (!add_child(m, p, &tail, start, cut, digest))
					break;
			}
			closed = t == 2;
			start = eol;
		}
		pos = eol;
	}
	if (!closed && start != SIZE_MAX && !(p->flags & MIME_PF_LIMIT)) {
		p->flags |= MIME_PF_NO_CLOSE;
		(void)add_child(m, p, &tail, start, end, digest);
	}
	if (p->nchildren == 0)
		downgrade(p, &str_text, &str_plain);
}

static void parse_message(struct mime_msg *m, struct mime_part *p)
{
	/* RFC 2046 5.2.1 and RFC 6532 3.5: only message/global may be
	 * encoded, and then its bytes are not a message we can index. */
	if (str_is(&p->encoding, "base64") ||
	    str_is(&p->encoding, "quoted-printable")) {
		downgrade(p, &str_application, &str_octet);
		return;
	}
	struct mime_part *c = new_part(m, p, p->body_off);
	if (!c) {
		p->flags |= MIME_PF_LIMIT;
		downgrade(p, &str_application, &str_octet);
		return;
	}
	p->kind = MIME_MESSAGE;
	p->children = c;
	p->nchildren = 1;
	parse_part(m, c, p->body_off + p->body_len, false);
}

static void parse_part(struct mime_msg *m, struct mime_part *p, size_t end,
                       bool digest_child)
{
	bool blank;
	p->hdr_len = rfc822_header_len(m->data + p->off, end - p->off, &blank);
	if (!blank)
		p->flags |= MIME_PF_NO_BLANK;
	p->body_off = p->off + p->hdr_len;
	p->body_len = end - p->body_off;
	mime_crlf_measure(m->data + p->off, p->hdr_len, &p->hdr_size, NULL);
	mime_crlf_measure(m->data + p->body_off, p->body_len, &p->body_size,
	                  &p->body_lines);
	read_header(m, p, digest_child);
	p->kind = MIME_LEAF;
	bool nest = p->depth + 1 < MIME_MAX_DEPTH;
	if (mime_part_is(p, "multipart", NULL)) {
		if (nest)
			parse_multipart(m, p);
		else
			downgrade(p, &str_text, &str_plain);
	} else if (mime_part_is(p, "message", "rfc822") ||
	           mime_part_is(p, "message", "global")) {
		if (nest)
			parse_message(m, p);
		else
			downgrade(p, &str_application, &str_octet);
	}
	m->flags |= p->flags;
}

struct mime_msg *mime_parse(const char *data, size_t len)
{
	struct arena *a = arena_new();
	struct mime_msg *m = arena_calloc(a, 1, sizeof(*m));
	m->arena = a;
	m->data = data ? data : "";
	m->len = data ? len : 0;
	m->root = new_part(m, NULL, 0);
	parse_part(m, m->root, m->len, false);
	return m;
}

void mime_free(struct mime_msg **mp)
{
	if (!mp || !*mp)
		return;
	struct arena *a = (*mp)->arena;
	arena_free(&a);
	*mp = NULL;
}
