/* SPDX-License-Identifier: MIT */
/*
 * smtp_reply.c - parse SMTP server replies and EHLO keywords
 *
 * A reply is one or more lines "ddd-text" ended by "ddd text" (RFC 5321
 * 4.2.1); the first line may carry an RFC 3463 enhanced status code
 * (RFC 2034). The server is not trusted: every line is checked, the text
 * kept is bounded, and a reply cannot go on forever.
 * No I/O here; smtp_proto.c reads the lines.
 */
#include "smtp_reply.h"

#include <stdio.h>
#include <string.h>

#include "common/str.h"

void smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, SMTP_REPLY_TEXT_MAX + 4);
	buf_init(&r->lines, SMTP_REPLY_TEXT_MAX + SMTP_REPLY_LINES_MAX);
}

void smtp_reply_deinit(struct smtp_reply *r)
{
	buf_deinit(&r->text);
	buf_deinit(&r->lines);
}

void smtp_reply_reset(struct smtp_reply *r)
{
	buf_reset(&r->text);
	buf_reset(&r->lines);
	r->code = 0;
	r->dsn[0] = '\0';
	r->nlines = 0;
	r->complete = false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

size_t smtp_dsn_parse(const char *s, size_t len, char *out)
{
	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	size_t i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < len && is_digit(s[i]) && i - start < 4)
			i++;
		if (i == start || i - start > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ' && s[i] != '\t')
		return 0;
	if (out) {
		memcpy(out, s, i); /* at most 1+1+3+1+3 = 9 bytes */
		out[i] = '\0';
	}
	return i;
}

/* Appends to the bounded text, marking a cut once with "...". */
static void text_add(struct smtp_reply *r, const char *p, size_t n)
{
	if (r->text.len >= SMTP_REPLY_TEXT_MAX)
		return;
	size_t room = SMTP_REPLY_TEXT_MAX - r->text.len;
	if (n > room) {
		(void)buf_append(&r->text, p, room);
		(void)buf_append_str(&r->text, "...");
		return;
	}
	(void)buf_append(&r->text, p, n);
}

int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
                    struct err *e)
{
	if (r->complete)
		smtp_reply_reset(r);
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !is_digit(line[2]) ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		err_set(e, "malformed reply line");
		return -1;
	}
	int code =
	        (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code) {
		err_set(e, "reply code changed from %d to %d inside a reply",
		        r->code, code);
		return -1;
	}
	if (r->nlines >= SMTP_REPLY_LINES_MAX) {
		err_set(e, "reply longer than %d lines", SMTP_REPLY_LINES_MAX);
		return -1;
	}
	bool last = len == 3 || line[3] == ' ';
	const char *txt = len > 4 ? line + 4 : line + len;
	size_t tlen = len > 4 ? len - 4 : 0;
	if (r->nlines == 0) {
		r->code = code;
		char dsn[12];
		if (smtp_dsn_parse(txt, tlen, dsn) && dsn[0] == line[0])
			memcpy(r->dsn, dsn, sizeof(dsn));
	} else {
		text_add(r, " ", 1);
	}
	text_add(r, line, len);
	/* A NUL in a line would cut smtp_reply_line()'s string; such
	 * replies are garbage anyway, so the kept copy stops there. */
	const char *nul = memchr(txt, '\0', tlen);
	if (nul)
		tlen = (size_t)(nul - txt);
	if (r->lines.len + tlen + 1 <= r->lines.max) {
		(void)buf_append(&r->lines, txt, tlen);
		(void)buf_append_char(&r->lines, '\0');
	}
	r->nlines++;
	r->complete = last;
	return last ? 1 : 0;
}

const char *smtp_reply_line(const struct smtp_reply *r, size_t i)
{
	size_t off = 0;
	for (size_t k = 0; off < r->lines.len; k++) {
		const char *s = r->lines.data + off;
		size_t n = strlen(s);
		if (k == i)
			return s;
		off += n + 1;
	}
	return NULL;
}

const char *smtp_reply_status(const struct smtp_reply *r, const char *def,
                              char *out, size_t outsz)
{
	if (r->dsn[0])
		snprintf(out, outsz, "%s", r->dsn);
	else
		snprintf(out, outsz, "%s", def);
	int cls = r->code / 100;
	if ((cls == 2 || cls == 4 || cls == 5) && outsz > 0)
		out[0] = (char)('0' + cls);
	return out;
}

/* ---- EHLO keywords ---------------------------------------------------- */

static bool word_is(const char *w, size_t n, const char *kw)
{
	return strn_eq_nocase(w, n, kw);
}

static void parse_auth(const char *p, struct smtp_ehlo *out)
{
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - w);
		if (word_is(w, n, "PLAIN"))
			out->auth |= SMTP_AUTH_PLAIN;
		else if (word_is(w, n, "LOGIN"))
			out->auth |= SMTP_AUTH_LOGIN;
	}
}

void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < r->nlines; i++) {
		const char *s = smtp_reply_line(r, i);
		if (!s)
			break;
		while (*s == ' ')
			s++;
		const char *kw = s;
		while (*s && *s != ' ' && *s != '=')
			s++;
		size_t n = (size_t)(s - kw);
		const char *arg = *s ? s + 1 : s;
		if (i == 0) {
			/* The greeting line names the server, then text. */
			snprintf(out->name, sizeof(out->name), "%.*s",
			         (int)(n < 255 ? n : 255), kw);
			continue;
		}
		if (word_is(kw, n, "PIPELINING"))
			out->ext |= SMTP_EXT_PIPELINING;
		else if (word_is(kw, n, "8BITMIME"))
			out->ext |= SMTP_EXT_8BITMIME;
		else if (word_is(kw, n, "SMTPUTF8"))
			out->ext |= SMTP_EXT_SMTPUTF8;
		else if (word_is(kw, n, "DSN"))
			out->ext |= SMTP_EXT_DSN;
		else if (word_is(kw, n, "STARTTLS"))
			out->ext |= SMTP_EXT_STARTTLS;
		else if (word_is(kw, n, "ENHANCEDSTATUSCODES"))
			out->ext |= SMTP_EXT_ENHANCEDSTATUSCODES;
		else if (word_is(kw, n, "CHUNKING"))
			out->ext |= SMTP_EXT_CHUNKING;
		else if (word_is(kw, n, "BINARYMIME"))
			out->ext |= SMTP_EXT_BINARYMIME;
		else if (word_is(kw, n, "AUTH")) {
			out->ext |= SMTP_EXT_AUTH;
			parse_auth(arg, out);
		} else if (word_is(kw, n, "SIZE")) {
			/* RFC 1870: SIZE [limit]; 0 or absent = no limit. */
			uint64_t v;
			size_t alen = strcspn(arg, " \t");
			out->ext |= SMTP_EXT_SIZE;
			if (alen && parse_uintn(arg, alen, 0,
			                        UINT32_MAX * 1024ull, &v) == 0)
				out->size = (unsigned long)v;
		}
	}
}
