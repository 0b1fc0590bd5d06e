/* SPDX-License-Identifier: MIT */
/*
 * imap_struct.c - ENVELOPE, BODYSTRUCTURE and BODY text, and their cache
 *
 * Writes RFC 3501 section 9 grammar from a mime_msg: body-type-1part /
 * body-type-mpart with body-ext-1part / body-ext-mpart for BODYSTRUCTURE,
 * the same without extension data for BODY. Strings are chosen quoted or
 * literal per value, never guessed. The order of the fields follows the
 * grammar exactly, since clients index them by position (a missing line
 * count shifts every later field). Recursion follows the part tree, whose
 * depth mime.c bounds by MIME_MAX_DEPTH.
 */
#include "common/imap_struct.h"

#include <string.h>

#include "common/rfc822_addr.h"
#include "common/str.h"

/* Address fields longer than this are parsed only this far, and at most
 * ENVELOPE_MAX_ADDRS addresses are listed per field. */
#define ENVELOPE_MAX_FIELD (256 * 1024)
#define ENVELOPE_MAX_ADDRS 10000

int imap_struct_nstring(struct buf *out, const struct rfc822_str *s)
{
	if (!s->p)
		return buf_append(out, "NIL", 3);
	bool literal = false;
	for (size_t i = 0; i < s->len && !literal; i++) {
		unsigned char c = (unsigned char)s->p[i];
		literal = c == 0 || c == '\r' || c == '\n' || c >= 0x80;
	}
	if (literal) {
		/* RFC 3501 4.3: a literal is any CHAR8 (no NUL). */
		if (buf_printf(out, "{%zu}\r\n", s->len) < 0)
			return -1;
		size_t start = out->len;
		if (buf_append(out, s->p, s->len) < 0)
			return -1;
		for (size_t i = start; i < out->len; i++)
			if (out->data[i] == 0)
				out->data[i] = (char)0x80;
		return 0;
	}
	if (buf_append_char(out, '"') < 0)
		return -1;
	size_t run = 0;
	for (size_t i = 0; i <= s->len; i++) {
		if (i < s->len && s->p[i] != '"' && s->p[i] != '\\')
			continue;
		if (buf_append(out, s->p + run, i - run) < 0)
			return -1;
		if (i < s->len && buf_append_char(out, '\\') < 0)
			return -1;
		run = i;
	}
	return buf_append_char(out, '"');
}

/* Appends the ASCII-upper-cased string (a name or token). */
static int put_upper(struct buf *out, const struct rfc822_str *s)
{
	char tmp[256];
	if (!s->p || s->len > sizeof(tmp))
		return imap_struct_nstring(out, s);
	for (size_t i = 0; i < s->len; i++)
		tmp[i] = s->p[i] >= 'a' && s->p[i] <= 'z' ? (char)(s->p[i] - 32)
		                                          : s->p[i];
	struct rfc822_str u = {tmp, s->len};
	return imap_struct_nstring(out, &u);
}

static int put_lit(struct buf *out, const char *s)
{
	return buf_append_str(out, s);
}

/* ---- ENVELOPE -------------------------------------------------------- */

enum env_field {
	ENV_DATE,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_N
};

static const char *const env_names[ENV_N] = {
        "Date", "Subject", "From", "Sender",      "Reply-To",
        "To",   "Cc",      "Bcc",  "In-Reply-To", "Message-ID",
};

static int put_addrs(struct buf *out, const struct rfc822_addr *a)
{
	if (!a)
		return put_lit(out, "NIL");
	if (buf_append_char(out, '(') < 0)
		return -1;
	for (; a; a = a->next)
		if (buf_append_char(out, '(') < 0 ||
		    imap_struct_nstring(out, &a->name) < 0 ||
		    buf_append_char(out, ' ') < 0 ||
		    imap_struct_nstring(out, &a->adl) < 0 ||
		    buf_append_char(out, ' ') < 0 ||
		    imap_struct_nstring(out, &a->mailbox) < 0 ||
		    buf_append_char(out, ' ') < 0 ||
		    imap_struct_nstring(out, &a->host) < 0 ||
		    buf_append_char(out, ')') < 0)
			return -1;
	return buf_append_char(out, ')');
}

static struct rfc822_addr *addrs_of(struct arena *a,
                                    const struct rfc822_field *f)
{
	if (!f->name)
		return NULL;
	size_t len = f->value_len < ENVELOPE_MAX_FIELD ? f->value_len
	                                               : ENVELOPE_MAX_FIELD;
	return rfc822_addr_parse(a, f->value, len, ENVELOPE_MAX_ADDRS);
}

static int put_text(struct buf *out, struct arena *a,
                    const struct rfc822_field *f)
{
	struct rfc822_str s = {NULL, 0};
	if (f->name) {
		char *d = arena_alloc(a, f->value_len + 1);
		s.p = d;
		s.len = rfc822_unfold(f->value, f->value_len, d);
	}
	return imap_struct_nstring(out, &s);
}

int imap_struct_envelope(struct buf *out, const char *hdr, size_t len)
{
	struct rfc822_field fields[ENV_N];
	struct rfc822_iter it;
	struct rfc822_field f;
	memset(fields, 0, sizeof(fields));
	rfc822_iter_init(&it, hdr, len);
	while (rfc822_iter_next(&it, &f))
		for (int k = 0; k < ENV_N; k++)
			if (!fields[k].name &&
			    rfc822_field_is(&f, env_names[k]))
				fields[k] = f;
	struct arena *a = arena_new();
	struct rfc822_addr *from = addrs_of(a, &fields[ENV_FROM]);
	struct rfc822_addr *sender = addrs_of(a, &fields[ENV_SENDER]);
	struct rfc822_addr *reply = addrs_of(a, &fields[ENV_REPLY_TO]);
	/* RFC 3501 7.4.2: absent or empty Sender and Reply-To are From. */
	int r = buf_append_char(out, '(') < 0 ||
	                        put_text(out, a, &fields[ENV_DATE]) < 0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_text(out, a, &fields[ENV_SUBJECT]) < 0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_addrs(out, from) < 0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_addrs(out, sender ? sender : from) < 0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_addrs(out, reply ? reply : from) < 0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_addrs(out, addrs_of(a, &fields[ENV_TO])) <
	                                0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_addrs(out, addrs_of(a, &fields[ENV_CC])) <
	                                0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_addrs(out, addrs_of(a, &fields[ENV_BCC])) <
	                                0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_text(out, a, &fields[ENV_IN_REPLY_TO]) <
	                                0 ||
	                        put_lit(out, " ") < 0 ||
	                        put_text(out, a, &fields[ENV_MESSAGE_ID]) < 0 ||
	                        buf_append_char(out, ')') < 0
	                ? -1
	                : 0;
	arena_free(&a);
	return r;
}

/* ---- BODYSTRUCTURE / BODY ------------------------------------------- */

static bool str_is(const struct rfc822_str *s, const char *lit)
{
	return s->p && strn_eq_nocase(s->p, s->len, lit);
}

/* body-fld-param; a text part gets the default charset when it has none. */
static int put_params(struct buf *out, const struct mime_param *ps, size_t n,
                      bool add_charset)
{
	static const struct rfc822_str cs = {"CHARSET", 7},
	                               ascii = {"US-ASCII", 8};
	for (size_t i = 0; i < n && add_charset; i++)
		if (!ps[i].extended && str_is(&ps[i].name, "charset"))
			add_charset = false;
	if (n == 0 && !add_charset)
		return put_lit(out, "NIL");
	if (buf_append_char(out, '(') < 0)
		return -1;
	if (add_charset &&
	    (imap_struct_nstring(out, &cs) < 0 || put_lit(out, " ") < 0 ||
	     imap_struct_nstring(out, &ascii) < 0))
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct rfc822_str name = ps[i].name;
		char tmp[256];
		if (ps[i].extended && name.len < sizeof(tmp)) {
			memcpy(tmp, name.p, name.len);
			tmp[name.len++] = '*';
			name.p = tmp;
		}
		if ((i > 0 || add_charset) && put_lit(out, " ") < 0)
			return -1;
		if (put_upper(out, &name) < 0 || put_lit(out, " ") < 0 ||
		    imap_struct_nstring(out, &ps[i].value) < 0)
			return -1;
	}
	return buf_append_char(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int put_ext_tail(struct buf *out, const struct mime_part *p)
{
	if (!p->disposition.p) {
		if (put_lit(out, "NIL") < 0)
			return -1;
	} else if (put_lit(out, "(") < 0 ||
	           put_upper(out, &p->disposition) < 0 ||
	           put_lit(out, " ") < 0 ||
	           put_params(out, p->disp_params, p->ndisp_params, false) <
	                   0 ||
	           put_lit(out, ")") < 0) {
		return -1;
	}
	if (put_lit(out, " ") < 0)
		return -1;
	if (p->nlanguages == 0) {
		if (put_lit(out, "NIL") < 0)
			return -1;
	} else if (p->nlanguages == 1) {
		if (imap_struct_nstring(out, &p->languages[0]) < 0)
			return -1;
	} else {
		for (size_t i = 0; i < p->nlanguages; i++)
			if (put_lit(out, i ? " " : "(") < 0 ||
			    imap_struct_nstring(out, &p->languages[i]) < 0)
				return -1;
		if (put_lit(out, ")") < 0)
			return -1;
	}
	if (put_lit(out, " ") < 0 || imap_struct_nstring(out, &p->location) < 0)
		return -1;
	return 0;
}

static int put_part(struct buf *out, const struct mime_msg *m,
                    const struct mime_part *p, unsigned flags);

static int put_multipart(struct buf *out, const struct mime_msg *m,
                         const struct mime_part *p, unsigned flags)
{
	if (put_lit(out, "(") < 0)
		return -1;
	for (const struct mime_part *c = p->children; c; c = c->next)
		if (put_part(out, m, c, flags) < 0)
			return -1;
	if (put_lit(out, " ") < 0 || put_upper(out, &p->subtype) < 0)
		return -1;
	if (flags & IMAP_STRUCT_EXTENDED)
		if (put_lit(out, " ") < 0 ||
		    put_params(out, p->params, p->nparams, false) < 0 ||
		    put_lit(out, " ") < 0 || put_ext_tail(out, p) < 0)
			return -1;
	return put_lit(out, ")");
}

/* body-type-basic / -text / -msg, then body-ext-1part. */
static int put_single(struct buf *out, const struct mime_msg *m,
                      const struct mime_part *p, unsigned flags)
{
	static const struct rfc822_str seven = {"7BIT", 4};
	bool text = str_is(&p->type, "text");
	bool msg = p->kind == MIME_MESSAGE && (str_is(&p->subtype, "rfc822") ||
	                                       (flags & IMAP_STRUCT_GLOBAL));
	if (put_lit(out, "(") < 0 || put_upper(out, &p->type) < 0 ||
	    put_lit(out, " ") < 0 || put_upper(out, &p->subtype) < 0 ||
	    put_lit(out, " ") < 0 ||
	    put_params(out, p->params, p->nparams, text) < 0 ||
	    put_lit(out, " ") < 0 || imap_struct_nstring(out, &p->id) < 0 ||
	    put_lit(out, " ") < 0 ||
	    imap_struct_nstring(out, &p->description) < 0 ||
	    put_lit(out, " ") < 0 ||
	    put_upper(out, p->encoding.p ? &p->encoding : &seven) < 0 ||
	    buf_printf(out, " %zu", p->body_size) < 0)
		return -1;
	if (msg) {
		const struct mime_part *c = p->children;
		if (put_lit(out, " ") < 0 ||
		    imap_struct_envelope(out, m->data + c->off, c->hdr_len) <
		            0 ||
		    put_lit(out, " ") < 0 || put_part(out, m, c, flags) < 0)
			return -1;
	}
	if ((text || msg) && buf_printf(out, " %zu", p->body_lines) < 0)
		return -1;
	if (flags & IMAP_STRUCT_EXTENDED)
		if (put_lit(out, " ") < 0 ||
		    imap_struct_nstring(out, &p->md5) < 0 ||
		    put_lit(out, " ") < 0 || put_ext_tail(out, p) < 0)
			return -1;
	return put_lit(out, ")");
}

static int put_part(struct buf *out, const struct mime_msg *m,
                    const struct mime_part *p, unsigned flags)
{
	if (p->kind == MIME_MULTIPART)
		return put_multipart(out, m, p, flags);
	return put_single(out, m, p, flags);
}

int imap_struct_body(struct buf *out, const struct mime_msg *m, unsigned flags)
{
	return put_part(out, m, m->root, flags);
}

/* ---- the cache blob ------------------------------------------------ */

static const char cache_magic[3] = {'P', 'H', 'S'};

static int put_be(struct buf *out, uint64_t v, int bytes)
{
	unsigned char b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	return buf_append(out, b, (size_t)bytes);
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Appends a u32 length, then the string written by the caller. */
static int put_section(struct buf *out, const struct mime_msg *m, int which)
{
	size_t at = out->len;
	if (put_be(out, 0, 4) < 0)
		return -1;
	size_t start = out->len;
	int r = which == 0   ? imap_struct_envelope(out, m->data + m->root->off,
	                                            m->root->hdr_len)
	        : which == 1 ? imap_struct_body(out, m, IMAP_STRUCT_EXTENDED)
	                     : imap_struct_body(out, m, 0);
	if (r < 0 || out->len - start > UINT32_MAX)
		return -1;
	uint64_t n = out->len - start;
	for (int i = 0; i < 4; i++)
		out->data[at + (size_t)i] = (char)(n >> (8 * (3 - i)));
	return 0;
}

int imap_struct_cache_build(struct buf *out, const struct mime_msg *m)
{
	if (buf_append(out, cache_magic, 3) < 0 ||
	    buf_append_char(out, IMAP_STRUCT_CACHE_VERSION) < 0 ||
	    put_be(out, mime_msg_size(m), 8) < 0 ||
	    put_be(out, m->root->body_lines, 8) < 0)
		return -1;
	for (int k = 0; k < 3; k++)
		if (put_section(out, m, k) < 0)
			return -1;
	return 0;
}

/* Reads a u32-length string at *pos; 0 or -1 when it overruns. */
static int get_section(const unsigned char *b, size_t len, size_t *pos,
                       const char **s, size_t *n)
{
	if (len - *pos < 4)
		return -1;
	uint64_t l = get_be(b + *pos, 4);
	*pos += 4;
	if (l > len - *pos)
		return -1;
	*s = (const char *)b + *pos;
	*n = (size_t)l;
	*pos += (size_t)l;
	return 0;
}

int imap_struct_cache_parse(const void *blob, size_t len,
                            struct imap_struct_cache *out)
{
	const unsigned char *b = blob;
	size_t pos = 20;
	if (!b || len < pos || memcmp(b, cache_magic, 3) != 0 ||
	    b[3] != IMAP_STRUCT_CACHE_VERSION)
		return -1;
	out->size = get_be(b + 4, 8);
	out->lines = get_be(b + 12, 8);
	if (get_section(b, len, &pos, &out->envelope, &out->envelope_len) < 0 ||
	    get_section(b, len, &pos, &out->bodystructure,
	                &out->bodystructure_len) < 0 ||
	    get_section(b, len, &pos, &out->body, &out->body_len) < 0 ||
	    pos != len)
		return -1;
	return 0;
}
