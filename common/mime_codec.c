/* SPDX-License-Identifier: MIT */
/*
 * mime_codec.c - base64, quoted-printable, CRLF normalisation
 *
 * Decoders are lenient (a stored message must still be shown) but report
 * what they skipped; encoders produce strictly valid RFC 2045 output, as
 * the smtp client uses the QP encoder to downgrade 8-bit bodies for
 * servers without 8BITMIME. Output always goes to a struct buf, whose
 * maximum bounds the work a hostile input can cause.
 */
#include "common/mime_codec.h"

#include <string.h>

#include "common/b64.h"

static const char hex_upper[] = "0123456789ABCDEF";

int mime_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void mime_b64_dec_init(struct mime_b64_dec *d)
{
	memset(d, 0, sizeof(*d));
}

int mime_b64_dec_update(struct mime_b64_dec *d, const char *in, size_t len,
                        struct buf *out)
{
	unsigned char tmp[192];
	size_t nt = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (is_space((char)c))
			continue;
		if (c == '=') {
			d->pad = 1;
			continue;
		}
		int v = b64_value(c);
		if (v < 0) {
			d->flags |= MIME_DEC_BAD_CHAR;
			continue;
		}
		if (d->pad) {
			/* RFC 2045 6.8: data after the pad is not part of
			 * the body; drop it but say so. */
			d->flags |= MIME_DEC_BAD_END;
			continue;
		}
		d->acc = (d->acc << 6) | (uint32_t)v;
		if (++d->nacc == 4) {
			tmp[nt++] = (unsigned char)(d->acc >> 16);
			tmp[nt++] = (unsigned char)(d->acc >> 8);
			tmp[nt++] = (unsigned char)d->acc;
			d->acc = 0;
			d->nacc = 0;
			if (nt == sizeof(tmp)) {
				if (buf_append(out, tmp, nt) < 0)
					return -1;
				nt = 0;
			}
		}
	}
	return nt ? buf_append(out, tmp, nt) : 0;
}

int mime_b64_dec_final(struct mime_b64_dec *d, struct buf *out)
{
	unsigned char tmp[2];
	int r = 0;
	if (d->nacc == 2) {
		tmp[0] = (unsigned char)(d->acc >> 4);
		r = buf_append(out, tmp, 1);
	} else if (d->nacc == 3) {
		tmp[0] = (unsigned char)(d->acc >> 10);
		tmp[1] = (unsigned char)(d->acc >> 2);
		r = buf_append(out, tmp, 2);
	} else if (d->nacc == 1) {
		d->flags |= MIME_DEC_BAD_END;
	}
	if (d->nacc >= 2 && !d->pad)
		d->flags |= MIME_DEC_BAD_END; /* unpadded final quantum */
	d->acc = 0;
	d->nacc = 0;
	return r;
}

int mime_b64_decode(const char *in, size_t len, struct buf *out,
                    unsigned *flags_out)
{
	struct mime_b64_dec d;
	mime_b64_dec_init(&d);
	int r = mime_b64_dec_update(&d, in, len, out);
	if (r == 0)
		r = mime_b64_dec_final(&d, out);
	if (flags_out)
		*flags_out |= d.flags;
	return r;
}

int mime_b64_encode(const void *in, size_t len, bool wrap, struct buf *out)
{
	const unsigned char *s = in;
	char line[80];
	size_t n = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		size_t k = len - i < 3 ? len - i : 3;
		if (k > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (k > 2)
			v |= s[i + 2];
		line[n++] = b64_alphabet[(v >> 18) & 63];
		line[n++] = b64_alphabet[(v >> 12) & 63];
		line[n++] = k > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		line[n++] = k > 2 ? b64_alphabet[v & 63] : '=';
		if (n == 76 || i + 3 >= len) {
			if (wrap) {
				line[n++] = '\r';
				line[n++] = '\n';
			}
			if (buf_append(out, line, n) < 0)
				return -1;
			n = 0;
		}
	}
	return 0;
}

/* Decodes one line's content (no line end) of quoted-printable. */
static int qp_decode_span(const char *s, size_t n, unsigned flags,
                          struct buf *out, unsigned *bad)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && s[run] != '=' &&
		       !(s[run] == '_' && (flags & MIME_QP_Q)))
			run++;
		if (run > i && buf_append(out, s + i, run - i) < 0)
			return -1;
		if (run == n)
			break;
		char c = s[run];
		i = run + 1;
		if (c == '_') {
			c = ' ';
		} else if (i + 2 <= n && mime_hex_value(s[i]) >= 0 &&
		           mime_hex_value(s[i + 1]) >= 0) {
			c = (char)(mime_hex_value(s[i]) * 16 +
			           mime_hex_value(s[i + 1]));
			i += 2;
		} else {
			*bad |= MIME_DEC_BAD_CHAR; /* keep the '=' */
		}
		if (buf_append_char(out, c) < 0)
			return -1;
	}
	return 0;
}

int mime_qp_decode(const char *in, size_t len, unsigned flags, struct buf *out,
                   unsigned *flags_out)
{
	unsigned bad = 0;
	size_t pos = 0;
	int r = 0;
	while (pos < len && r == 0) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t eol = nl ? (size_t)(nl - in) : len;
		size_t end = eol;
		bool crlf = nl && end > pos && in[end - 1] == '\r';
		if (crlf)
			end--;
		/* Transport may add trailing white space: drop it. */
		while (end > pos && (in[end - 1] == ' ' || in[end - 1] == '\t'))
			end--;
		bool soft = end > pos && in[end - 1] == '=';
		r = qp_decode_span(in + pos, soft ? end - 1 - pos : end - pos,
		                   flags, out, &bad);
		if (r == 0 && nl && !soft)
			r = buf_append(out, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
		pos = nl ? eol + 1 : len;
	}
	if (flags_out)
		*flags_out |= bad;
	return r;
}

/* Appends one encoded unit (w = 1 or 3 bytes), breaking the line first
 * when it would pass 75 characters (76 with the soft break's '='). */
static int qp_put(struct buf *out, size_t *col, const char *unit, size_t w)
{
	if (*col + w > 75) {
		if (buf_append(out, "=\r\n", 3) < 0)
			return -1;
		*col = 0;
	}
	*col += w;
	return buf_append(out, unit, w);
}

int mime_qp_encode(const void *in, size_t len, unsigned flags, struct buf *out)
{
	const unsigned char *s = in;
	bool text = !(flags & MIME_QP_BINARY);
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		if (text && c == '\n') {
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
			col = 0;
			continue;
		}
		if (text && c == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue; /* the LF writes the CRLF */
		/* White space is literal unless a line end (or the end of
		 * the input) follows, where a transport might strip it. */
		bool at_eol = i + 1 == len ||
		              (text && (s[i + 1] == '\n' ||
		                        (s[i + 1] == '\r' && i + 2 < len &&
		                         s[i + 2] == '\n')));
		bool literal = (c >= 33 && c <= 126 && c != '=') ||
		               ((c == ' ' || c == '\t') && !at_eol);
		char unit[3] = {(char)c, 0, 0};
		if (!literal) {
			unit[0] = '=';
			unit[1] = hex_upper[c >> 4];
			unit[2] = hex_upper[c & 15];
		}
		if (qp_put(out, &col, unit, literal ? 1 : 3) < 0)
			return -1;
	}
	return 0;
}

void mime_crlf_measure(const char *p, size_t len, size_t *size_out,
                       size_t *lines_out)
{
	size_t size = len, lines = 0, pos = 0;
	const char *nl;
	while (pos < len && (nl = memchr(p + pos, '\n', len - pos)) != NULL) {
		size_t i = (size_t)(nl - p);
		if (i == 0 || p[i - 1] != '\r')
			size++;
		lines++;
		pos = i + 1;
	}
	if (len > 0 && p[len - 1] != '\n')
		lines++;
	if (size_out)
		*size_out = size;
	if (lines_out)
		*lines_out = lines;
}

/* Appends p[0..n) with NULs mapped when asked. */
static int append_mapped(struct buf *out, const char *p, size_t n,
                         unsigned flags)
{
	if (!(flags & MIME_CRLF_NUL))
		return buf_append(out, p, n);
	size_t start = out->len;
	if (buf_append(out, p, n) < 0)
		return -1;
	for (size_t i = start; i < out->len; i++)
		if (out->data[i] == 0)
			out->data[i] = (char)0x80;
	return 0;
}

int mime_crlf_append(struct buf *out, const char *p, size_t len, size_t skip,
                     size_t max, unsigned flags)
{
	size_t pos = 0;
	while (pos < len && max > 0) {
		const char *nl = memchr(p + pos, '\n', len - pos);
		size_t seg_end = nl ? (size_t)(nl - p) : len;
		bool bare = nl && (seg_end == 0 || p[seg_end - 1] != '\r');
		/* The segment's normalised octets: its bytes, then CRLF
		 * for a bare LF or the LF itself. */
		size_t raw = seg_end - pos;
		size_t nlen = raw + (nl ? (bare ? 2 : 1) : 0);
		if (skip >= nlen) {
			skip -= nlen;
			pos = nl ? seg_end + 1 : len;
			continue;
		}
		char tail[2] = {'\r', '\n'};
		size_t tail_len = nl ? (bare ? 2 : 1) : 0;
		const char *tail_p = bare ? tail : tail + 1;
		/* Bytes of the segment body, then its tail, after skip. */
		if (skip < raw) {
			size_t n = raw - skip < max ? raw - skip : max;
			if (append_mapped(out, p + pos + skip, n, flags) < 0)
				return -1;
			max -= n;
			skip = 0;
		} else {
			skip -= raw;
		}
		if (max > 0 && tail_len > skip) {
			size_t n =
			        tail_len - skip < max ? tail_len - skip : max;
			if (buf_append(out, tail_p + skip, n) < 0)
				return -1;
			max -= n;
		}
		skip = 0;
		pos = nl ? seg_end + 1 : len;
	}
	return 0;
}
