/* SPDX-License-Identifier: MIT */
/*
 * smtp_body.c - message content for the wire: CRLF, dot-stuffing, 8-bit
 * to quoted-printable
 *
 * Queue files hold LF-ended lines; this module adds the CRs and the
 * RFC 5321 4.5.2 transparency dots while writing, without copying the
 * message. When a server lacks 8BITMIME, smtp_body_downgrade() rewrites
 * the 8-bit parts as quoted-printable using the MIME tree from
 * common/mime.h; every byte of a part it does not touch is copied as is.
 * It refuses (so the caller bounces with 5.6.3) what cannot be made 7-bit
 * without changing its meaning: 8-bit header text, or 8-bit bytes inside
 * an encoding that must already be 7-bit. The Delivered-To: lines of a
 * forwarded copy are made here too; they go on the wire in front of the
 * message, which stays as it is (conversion included).
 */
#include "smtp_body.h"

#include <string.h>

#include "common/mime.h"
#include "common/mime_codec.h"
#include "common/queue_env.h"
#include "common/rfc822.h"

int smtp_body_write(const char *data, size_t len, smtp_write_fn w, void *ctx)
{
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;
		size_t seg = end;
		if (nl && seg > pos && data[seg - 1] == '\r')
			seg--; /* a CR LF pair is one line end */
		if (data[pos] == '.' && w(ctx, ".", 1) < 0)
			return -1;
		if (seg > pos && w(ctx, data + pos, seg - pos) < 0)
			return -1;
		if (w(ctx, "\r\n", 2) < 0)
			return -1;
		pos = nl ? end + 1 : len;
	}
	return w(ctx, ".\r\n", 3);
}

int smtp_body_delivered_to(const char *s, size_t len, bool allow_8bit,
                           struct buf *out)
{
	size_t pos = 0, alen;
	const char *a;
	while (queue_dlvto_next(s, len, &pos, &a, &alen))
		if ((allow_8bit || !smtp_body_has_8bit(a, alen)) &&
		    (buf_append_str(out, "Delivered-To: ") < 0 ||
		     buf_append(out, a, alen) < 0 ||
		     buf_append(out, "\r\n", 2) < 0))
			return -1;
	return 0;
}

bool smtp_body_has_8bit(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	/* Word at a time would be faster; this runs once per message and
	 * only when the server lacks 8BITMIME or SMTPUTF8. */
	for (size_t i = 0; i < len; i++)
		if (s[i] & 0x80)
			return true;
	return false;
}

uint64_t smtp_body_wire_size(const char *data, size_t len)
{
	return mime_crlf_size(data, len);
}

/* ---- 8-bit to 7-bit --------------------------------------------------- */

static bool enc_is(const struct mime_part *p, const char *name)
{
	return p->encoding.p && rfc822_eq_nocase(p->encoding.p, p->encoding.len,
	                                         name, strlen(name));
}

/* True for an absent, 7bit or 8bit Content-Transfer-Encoding: the ones a
 * line-oriented body may carry and we may re-encode. */
static bool enc_plain(const struct mime_part *p)
{
	return !p->encoding.p || enc_is(p, "7bit") || enc_is(p, "8bit");
}

/* True when the header line at h[0..n) starts the field called name. */
static bool starts_field(const char *h, size_t n, const char *name)
{
	size_t k = strlen(name);
	if (n <= k || !rfc822_eq_nocase(h, k, name, k))
		return false;
	size_t i = k;
	while (i < n && (h[i] == ' ' || h[i] == '\t'))
		i++; /* RFC 5322 4.5.3: obsolete white space before ':' */
	return i < n && h[i] == ':';
}

/*
 * Copies a header block, dropping every Content-Transfer-Encoding field
 * (continuation lines included) and adding add[] lines before the empty
 * line that ends it (or at its end when there is none).
 */
static int rewrite_header(const char *h, size_t n, const char *const *add,
                          struct buf *out)
{
	size_t pos = 0;
	bool skipping = false;
	while (pos < n) {
		const char *nl = memchr(h + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - h) + 1 : n;
		const char *line = h + pos;
		size_t llen = end - pos;
		bool blank = llen == 1 || (llen == 2 && line[0] == '\r');
		if (blank)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			if (!skipping && buf_append(out, line, llen) < 0)
				return -1;
		} else {
			skipping = starts_field(line, llen,
			                        "Content-Transfer-Encoding");
			if (!skipping && buf_append(out, line, llen) < 0)
				return -1;
			if (!skipping && line[llen - 1] != '\n' &&
			    buf_append_char(out, '\n') < 0)
				return -1;
		}
		pos = end;
	}
	for (size_t i = 0; add[i]; i++)
		if (buf_append_str(out, add[i]) < 0 ||
		    buf_append_char(out, '\n') < 0)
			return -1;
	/* The empty line; a block without one gets one. */
	if (pos == n)
		return buf_append_char(out, '\n');
	return buf_append(out, h + pos, n - pos);
}

static int convert_part(const struct mime_msg *m, const struct mime_part *p,
                        struct buf *out, struct err *e);

/* A leaf with 8-bit bytes in its body: quoted-printable. */
static int convert_leaf(const struct mime_msg *m, const struct mime_part *p,
                        struct buf *out, struct err *e)
{
	const char *hdr = m->data + p->off;
	const char *body = m->data + p->body_off;
	if (!enc_plain(p)) {
		err_set(e,
		        "8-bit data in a part with Content-Transfer-"
		        "Encoding %.*s",
		        (int)(p->encoding.len > 40 ? 40 : p->encoding.len),
		        p->encoding.p);
		return -1;
	}
	/* Composite types may not be encoded (RFC 2045 6.4); one that
	 * did not parse as such is served as a leaf but stays composite. */
	if ((p->flags & MIME_PF_DOWNGRADED) ||
	    mime_part_is(p, "message", NULL) ||
	    mime_part_is(p, "multipart", NULL)) {
		err_set(e, "8-bit data in a malformed %.*s part",
		        (int)(p->type.len > 40 ? 40 : p->type.len), p->type.p);
		return -1;
	}
	const char *add[4] = {NULL, NULL, NULL, NULL};
	size_t k = 0;
	if (p->depth == 0) {
		/* A message without MIME: say what it is (RFC 1428). */
		struct rfc822_field f;
		if (!rfc822_header_find(hdr, p->hdr_len, "MIME-Version", &f))
			add[k++] = "MIME-Version: 1.0";
		if (p->flags & MIME_PF_DEFAULT_TYPE)
			add[k++] = "Content-Type: text/plain; "
			           "charset=unknown-8bit";
	}
	add[k] = "Content-Transfer-Encoding: quoted-printable";
	if (rewrite_header(hdr, p->hdr_len, add, out) < 0 ||
	    mime_qp_encode(body, p->body_len, 0, out) < 0) {
		err_set(e, "converted message too large");
		return -1;
	}
	return 0;
}

/* Copies raw bytes between parts, which must be 7-bit already. */
static int copy_7bit(const char *p, size_t n, struct buf *out, struct err *e)
{
	if (smtp_body_has_8bit(p, n)) {
		err_set(e, "8-bit data outside the MIME parts");
		return -1;
	}
	if (buf_append(out, p, n) < 0) {
		err_set(e, "converted message too large");
		return -1;
	}
	return 0;
}

/* A multipart or message/rfc822: its header (8bit becomes 7bit), then
 * each child converted, with the delimiters between them as they were. */
static int convert_container(const struct mime_msg *m,
                             const struct mime_part *p, struct buf *out,
                             struct err *e)
{
	const char *hdr = m->data + p->off;
	if (p->kind == MIME_MESSAGE && !mime_part_is(p, "message", "rfc822")) {
		err_set(e, "8-bit data in a message/%.*s part",
		        (int)(p->subtype.len > 40 ? 40 : p->subtype.len),
		        p->subtype.p);
		return -1;
	}
	if (!enc_plain(p)) {
		err_set(e,
		        "8-bit data in a composite part with "
		        "Content-Transfer-Encoding %.*s",
		        (int)(p->encoding.len > 40 ? 40 : p->encoding.len),
		        p->encoding.p);
		return -1;
	}
	int rc;
	if (enc_is(p, "8bit")) {
		const char *add[] = {"Content-Transfer-Encoding: 7bit", NULL};
		rc = rewrite_header(hdr, p->hdr_len, add, out);
	} else {
		rc = buf_append(out, hdr, p->hdr_len);
	}
	if (rc < 0) {
		err_set(e, "converted message too large");
		return -1;
	}
	size_t pos = p->body_off, end = p->body_off + p->body_len;
	for (const struct mime_part *c = p->children; c; c = c->next) {
		if (copy_7bit(m->data + pos, c->off - pos, out, e) < 0 ||
		    convert_part(m, c, out, e) < 0)
			return -1;
		pos = c->body_off + c->body_len;
	}
	return copy_7bit(m->data + pos, end - pos, out, e);
}

static int convert_part(const struct mime_msg *m, const struct mime_part *p,
                        struct buf *out, struct err *e)
{
	const char *hdr = m->data + p->off;
	size_t whole = p->hdr_len + p->body_len;
	if (smtp_body_has_8bit(hdr, p->hdr_len)) {
		err_set(e, "8-bit data in a message header");
		return -1;
	}
	if (!smtp_body_has_8bit(hdr, whole)) {
		if (buf_append(out, hdr, whole) < 0) {
			err_set(e, "converted message too large");
			return -1;
		}
		return 0;
	}
	if (p->kind == MIME_LEAF)
		return convert_leaf(m, p, out, e);
	return convert_container(m, p, out, e);
}

int smtp_body_downgrade(const char *data, size_t len, struct buf *out,
                        struct err *e)
{
	struct mime_msg *m = mime_parse(data, len);
	int rc = 0;
	if (m->flags & MIME_PF_LIMIT) {
		err_set(e, "too many MIME parts to convert");
		rc = -1;
	} else {
		rc = convert_part(m, m->root, out, e);
	}
	mime_free(&m);
	return rc;
}
