/* SPDX-License-Identifier: MIT */
/*
 * mime_words.c - RFC 2047 encoded words, RFC 2231 values, charsets to UTF-8
 *
 * Produces display text (UTF-8) from header bytes. Only a handful of
 * single-byte sets are converted, by table; see mime_words.h for why and
 * for what happens to the others. Decoded bytes of adjacent encoded words
 * in the same set are converted together, because senders split a
 * multi-byte character across two words more often than the RFC admits.
 * Nothing here is used to build ENVELOPE or BODYSTRUCTURE: IMAP sends the
 * raw header text and clients decode it themselves.
 */
#include "common/mime_words.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/mime_codec.h"
#include "common/str.h"

enum charset {
	CS_UNKNOWN,
	CS_UTF8,
	CS_ASCII,
	CS_LATIN1,
	CS_LATIN9,
	CS_CP1252,
};

static const struct {
	const char *name;
	enum charset cs;
} charset_names[] = {
        {"utf-8", CS_UTF8},           {"utf8", CS_UTF8},
        {"us-ascii", CS_ASCII},       {"ascii", CS_ASCII},
        {"ansi_x3.4-1968", CS_ASCII}, {"iso-8859-1", CS_LATIN1},
        {"iso8859-1", CS_LATIN1},     {"iso_8859-1", CS_LATIN1},
        {"latin1", CS_LATIN1},        {"l1", CS_LATIN1},
        {"iso-8859-15", CS_LATIN9},   {"iso8859-15", CS_LATIN9},
        {"iso_8859-15", CS_LATIN9},   {"latin-9", CS_LATIN9},
        {"latin9", CS_LATIN9},        {"windows-1252", CS_CP1252},
        {"cp1252", CS_CP1252},        {"x-cp1252", CS_CP1252},
};

/* Windows-1252 0x80..0x9F; 0xFFFD where the code page has a hole. */
static const uint16_t cp1252_high[32] = {
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
        0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};

static enum charset charset_lookup(const char *cs, size_t len)
{
	const char *star = memchr(cs, '*', len);
	if (star)
		len = (size_t)(star - cs); /* RFC 2231 5: charset*language */
	for (size_t i = 0; i < sizeof(charset_names) / sizeof(charset_names[0]);
	     i++)
		if (strn_eq_nocase(cs, len, charset_names[i].name))
			return charset_names[i].cs;
	return CS_UNKNOWN;
}

/* Appends code point cp as UTF-8, with NUL, CR and LF made spaces. */
static int put_cp(struct buf *out, uint32_t cp)
{
	char u[4];
	if (cp == 0 || cp == '\r' || cp == '\n')
		cp = ' ';
	if (cp < 0x80)
		return buf_append_char(out, (char)cp);
	if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		return buf_append(out, u, 2);
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		return buf_append(out, u, 3);
	}
	u[0] = (char)(0xF0 | (cp >> 18));
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	u[3] = (char)(0x80 | (cp & 0x3F));
	return buf_append(out, u, 4);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 (RFC 3629 4:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t min, v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, min = 0x80, v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, min = 0x800, v = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, min = 0x10000, v = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

static bool utf8_valid(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i, &cp);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

static uint32_t single_byte_cp(enum charset cs, unsigned char c)
{
	if (c < 0x80)
		return c;
	switch (cs) {
	case CS_ASCII:
		return 0xFFFD;
	case CS_CP1252:
		return c < 0xA0 ? cp1252_high[c - 0x80] : c;
	case CS_LATIN9:
		switch (c) {
		case 0xA4:
			return 0x20AC;
		case 0xA6:
			return 0x0160;
		case 0xA8:
			return 0x0161;
		case 0xB4:
			return 0x017D;
		case 0xB8:
			return 0x017E;
		case 0xBC:
			return 0x0152;
		case 0xBD:
			return 0x0153;
		case 0xBE:
			return 0x0178;
		default:
			return c;
		}
	default:
		return c;
	}
}

static int convert(enum charset cs, const char *in, size_t len, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = 1;
		if (cs == CS_UTF8) {
			k = utf8_seq(s + i, len - i, &cp);
			if (k == 0) {
				k = 1;
				cp = 0xFFFD;
			}
		} else {
			cp = single_byte_cp(cs, s[i]);
		}
		if (put_cp(out, cp) < 0)
			return -1;
		i += k;
	}
	return 0;
}

int mime_charset_to_utf8(const char *cs, size_t cslen, const char *in,
                         size_t len, struct buf *out)
{
	enum charset c = charset_lookup(cs, cslen);
	if (c == CS_UNKNOWN)
		return 0;
	return convert(c, in, len, out) < 0 ? -1 : 1;
}

int mime_text_to_utf8(const char *in, size_t len, struct buf *out)
{
	return convert(utf8_valid(in, len) ? CS_UTF8 : CS_CP1252, in, len, out);
}

/* One parsed =?charset?e?text?= at the start of s. */
struct word {
	const char *cs;
	size_t cs_len;
	char enc; /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t len; /* of the whole word */
};

/*
 * Parses the word at s. When its text runs into white space or the end
 * without "?=", *dead_out gets where: no word starting before that point
 * can end either, so the caller skips them (else "=?c?q?x=?c?q?x..." would
 * cost quadratic time).
 */
static bool parse_word(const char *s, size_t n, struct word *w,
                       size_t *dead_out)
{
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return false;
	size_t j = 2;
	while (j < n && s[j] != '?' && s[j] != ' ' && s[j] != '\t')
		j++;
	if (j == 2 || j + 2 >= n || s[j] != '?' || s[j + 2] != '?')
		return false;
	char e = s[j + 1];
	if (e == 'b' || e == 'q')
		e = (char)(e - 32);
	if (e != 'B' && e != 'Q')
		return false;
	size_t k = j + 3;
	for (; k + 1 < n; k++) {
		if (s[k] == ' ' || s[k] == '\t') {
			*dead_out = k;
			return false;
		}
		if (s[k] == '?' && s[k + 1] == '=')
			break;
	}
	if (k + 1 >= n) {
		*dead_out = n;
		return false;
	}
	w->cs = s + 2;
	w->cs_len = j - 2;
	w->enc = e;
	w->text = s + j + 3;
	w->text_len = k - (j + 3);
	w->len = k + 2;
	return true;
}

struct words_state {
	struct buf pending; /* decoded bytes not yet converted */
	const char *cs;     /* their charset */
	size_t cs_len;
	struct buf *out;
};

static int flush_pending(struct words_state *st)
{
	int r = 0;
	if (st->pending.len > 0)
		r = mime_charset_to_utf8(st->cs, st->cs_len, st->pending.data,
		                         st->pending.len, st->out);
	buf_reset(&st->pending);
	st->cs = NULL;
	return r < 0 ? -1 : 0;
}

static bool all_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static int emit_plain(struct words_state *st, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (flush_pending(st) < 0)
		return -1;
	return mime_text_to_utf8(s, n, st->out);
}

/* Decodes w (of a known set) into st->pending. */
static int take_word(struct words_state *st, const struct word *w)
{
	if (st->cs && charset_lookup(st->cs, st->cs_len) !=
	                      charset_lookup(w->cs, w->cs_len))
		if (flush_pending(st) < 0)
			return -1;
	st->cs = w->cs;
	st->cs_len = w->cs_len;
	unsigned bad = 0;
	if (w->enc == 'B')
		return mime_b64_decode(w->text, w->text_len, &st->pending,
		                       &bad);
	return mime_qp_decode(w->text, w->text_len, MIME_QP_Q, &st->pending,
	                      &bad);
}

static int words_run(struct words_state *st, const char *s, size_t n)
{
	size_t i = 0, plain = 0, dead = 0, d = 0;
	bool after_word = false;
	while (i < n) {
		struct word w;
		if (s[i] != '=' || i < dead ||
		    !parse_word(s + i, n - i, &w, &d)) {
			if (d) {
				dead = i + d;
				d = 0;
			}
			i++;
			continue;
		}
		if (charset_lookup(w.cs, w.cs_len) == CS_UNKNOWN) {
			/* Kept as it was, with the text before it. */
			if (emit_plain(st, s + plain, i + w.len - plain) < 0)
				return -1;
			after_word = false;
		} else {
			/* White space alone between two decoded words is
			 * dropped (RFC 2047 6.2). */
			if (!(after_word && all_space(s + plain, i - plain)) &&
			    emit_plain(st, s + plain, i - plain) < 0)
				return -1;
			if (take_word(st, &w) < 0)
				return -1;
			after_word = true;
		}
		i += w.len;
		plain = i;
	}
	return emit_plain(st, s + plain, n - plain) < 0 ? -1
	                                                : flush_pending(st);
}

int mime_words_decode(const char *in, size_t len, struct buf *out)
{
	struct buf text;
	struct words_state st = {.out = out};
	buf_init(&text, len + 1);
	buf_init(&st.pending, len + 1);
	for (size_t i = 0; i < len; i++)
		if (in[i] != '\r' && in[i] != '\n')
			(void)buf_append_char(&text, in[i]);
	int r = words_run(&st, buf_cstr(&text), text.len);
	buf_deinit(&text);
	buf_deinit(&st.pending);
	return r;
}

int mime_words_decode_2231(const char *in, size_t len, struct buf *out)
{
	const char *q1 = memchr(in, '\'', len);
	const char *q2 = NULL;
	if (q1)
		q2 = memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - in));
	size_t cs_len = q2 ? (size_t)(q1 - in) : 0;
	const char *data = q2 ? q2 + 1 : in;
	size_t dlen = len - (size_t)(data - in);
	struct buf raw;
	buf_init(&raw, dlen + 1);
	for (size_t i = 0; i < dlen; i++) {
		char c = data[i];
		if (c == '%' && i + 2 < dlen &&
		    mime_hex_value(data[i + 1]) >= 0 &&
		    mime_hex_value(data[i + 2]) >= 0) {
			c = (char)(mime_hex_value(data[i + 1]) * 16 +
			           mime_hex_value(data[i + 2]));
			i += 2;
		}
		(void)buf_append_char(&raw, c);
	}
	const char *r_p = buf_cstr(&raw);
	int r = mime_charset_to_utf8(in, cs_len, r_p, raw.len, out);
	if (r == 0)
		r = mime_text_to_utf8(r_p, raw.len, out);
	buf_deinit(&raw);
	return r < 0 ? -1 : 0;
}
