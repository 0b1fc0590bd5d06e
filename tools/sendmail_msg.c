/* SPDX-License-Identifier: MIT */
/*
 * sendmail_msg.c - what sendmail does to a message before queueing it
 *
 * Local programs hand sendmail whatever they produce: CRLF or LF lines,
 * an mbox "From " line, no Date: or Message-ID:, recipients only in the
 * headers (-t). This file turns that into a well-formed message the way
 * Postfix's sendmail + cleanup do for local submissions, and finds the
 * -t recipients. It never talks to the mail system (sendmail_submit.c).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/str.h"
#include "tools/sendmail.h"

int sendmail_read(FILE *f, bool dot_ends, uint64_t max, struct buf *out,
                  struct err *e)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		size_t len = (size_t)n;
		bool nl = line[len - 1] == '\n';
		if (nl) {
			len--;
			if (len > 0 && line[len - 1] == '\r')
				len--;
		}
		if (dot_ends && len == 1 && line[0] == '.')
			break;
		if (out->len + len + 1 > max) {
			err_set(e, "message too large (limit %llu bytes)",
			        (unsigned long long)max);
			rc = -1;
			break;
		}
		if (buf_append(out, line, len) < 0 ||
		    buf_append_char(out, '\n') < 0) {
			err_set(e, "out of buffer space");
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		err_set(e, "error reading the message");
		rc = -1;
	}
	free(line);
	return rc;
}

void sendmail_date(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	if (strftime(out, size, "%a, %d %b %Y %H:%M:%S %z",
	             localtime_r(&now, &tm)) == 0 &&
	    size > 0)
		out[0] = 0;
}

/* ---- address lists (RFC 5322 3.4) ---------------------------------- */

/* Ends one list element: the text inside <> if there was one, else the
 * element itself; a source route (@a,@b:user@c) is reduced to its
 * mailbox. */
static void flush_element(struct buf *plain, struct buf *angle, bool have_angle,
                          struct strv *out)
{
	const struct buf *b = have_angle ? angle : plain;
	const char *p = b->data ? b->data : "";
	size_t n = b->len;
	if (n > 0 && p[0] == '@') {
		const char *colon = memchr(p, ':', n);
		if (colon) {
			n -= (size_t)(colon + 1 - p);
			p = colon + 1;
		}
	}
	if (n > 0)
		strv_pushn(out, p, n);
	buf_reset(plain);
	buf_reset(angle);
}

void sendmail_parse_addresses(const char *s, size_t len, struct strv *out)
{
	struct buf plain, angle;
	bool quote = false, in_angle = false, have_angle = false;
	int comment = 0;
	buf_init(&plain, 0);
	buf_init(&angle, 0);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		struct buf *dst = in_angle ? &angle : &plain;
		if (comment > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (quote) {
			/* RFC 5322 2.2.3: unfolding removes the line
			 * breaks of a folded field, inside quotes too. */
			if (c == '\r' || c == '\n')
				continue;
			(void)buf_append_char(dst, c);
			if (c == '\\' && i + 1 < len && s[i + 1] != '\r' &&
			    s[i + 1] != '\n')
				(void)buf_append_char(dst, s[++i]);
			else if (c == '"')
				quote = false;
			continue;
		}
		switch (c) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		case '"':
			quote = true;
			(void)buf_append_char(dst, c);
			break;
		case '(':
			comment = 1;
			break;
		case '<':
			in_angle = have_angle = true;
			buf_reset(&angle);
			break;
		case '>':
			in_angle = false;
			break;
		case ':':
			if (in_angle) {
				(void)buf_append_char(dst, c);
				break;
			}
			/* A group's display name: not an address. */
			buf_reset(&plain);
			have_angle = false;
			break;
		case ',':
		case ';':
			if (in_angle) {
				(void)buf_append_char(dst, c);
				break;
			}
			flush_element(&plain, &angle, have_angle, out);
			have_angle = false;
			break;
		default:
			(void)buf_append_char(dst, c);
		}
	}
	flush_element(&plain, &angle, have_angle, out);
	buf_deinit(&plain);
	buf_deinit(&angle);
}

/* ---- headers ------------------------------------------------------- */

/* Length of the header field starting at p (with continuation lines,
 * including the final LF), or 0 if p does not start a header field. */
static size_t header_len(const char *p, size_t len, size_t *name_len)
{
	size_t i = 0;
	while (i < len && p[i] != ':' && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == 0 || i >= len || p[i] != ':')
		return 0;
	*name_len = i;
	for (;;) {
		const char *nl = memchr(p + i, '\n', len - i);
		i = nl ? (size_t)(nl - p) + 1 : len;
		if (i >= len || (p[i] != ' ' && p[i] != '\t'))
			return i;
	}
}

static bool is_name(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strn_eq_nocase(p, n, name);
}

/* Quotes a display name when it holds RFC 5322 specials. */
static void append_display_name(struct buf *out, const char *name)
{
	bool special = strpbrk(name, "()<>[]:;@\\,.\"") != NULL;
	if (!special) {
		(void)buf_append_str(out, name);
		return;
	}
	(void)buf_append_char(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			(void)buf_append_char(out, '\\');
		(void)buf_append_char(out, *p);
	}
	(void)buf_append_char(out, '"');
}

static void add_missing(struct buf *out, const struct sendmail_opts *o,
                        bool from, bool date, bool msgid)
{
	if (!date) {
		char d[64];
		sendmail_date(d, sizeof(d));
		(void)buf_printf(out, "Date: %s\n", d);
	}
	if (!msgid) {
		char stamp[32];
		unsigned r = 0;
		time_t now = time(NULL);
		struct tm tm;
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (unsigned)getpid();
		(void)strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S",
		               gmtime_r(&now, &tm));
		(void)buf_printf(out, "Message-ID: <%s.%ld.%08x@%s>\n", stamp,
		                 (long)getpid(), r, o->hostname);
	}
	if (!from) {
		(void)buf_append_str(out, "From: ");
		if (o->fullname && o->fullname[0]) {
			append_display_name(out, o->fullname);
			(void)buf_printf(out, " <%s>\n", o->from_addr);
		} else {
			(void)buf_printf(out, "%s\n", o->from_addr);
		}
	}
}

int sendmail_rewrite(const char *in, size_t len, const struct sendmail_opts *o,
                     struct buf *out, struct strv *rcpts, struct err *e)
{
	size_t i = 0;
	bool from = false, date = false, msgid = false;
	/* An mbox separator is not part of the message. */
	if (len >= 5 && memcmp(in, "From ", 5) == 0) {
		const char *nl = memchr(in, '\n', len);
		i = nl ? (size_t)(nl - in) + 1 : len;
	}
	while (i < len) {
		size_t nlen, hlen = header_len(in + i, len - i, &nlen);
		if (hlen == 0)
			break;
		const char *h = in + i;
		bool keep = true;
		if (is_name(h, nlen, "From"))
			from = true;
		else if (is_name(h, nlen, "Date"))
			date = true;
		else if (is_name(h, nlen, "Message-ID"))
			msgid = true;
		if (o->extract &&
		    (is_name(h, nlen, "To") || is_name(h, nlen, "Cc") ||
		     is_name(h, nlen, "Bcc")))
			sendmail_parse_addresses(h + nlen + 1, hlen - nlen - 1,
			                         rcpts);
		if (is_name(h, nlen, "Bcc"))
			keep = false;
		if (keep && buf_append(out, h, hlen) < 0)
			goto full;
		if (keep && h[hlen - 1] != '\n' &&
		    buf_append_char(out, '\n') < 0)
			goto full;
		i += hlen;
	}
	add_missing(out, o, from, date, msgid);
	/* The body: after the empty line, or whatever did not look like a
	 * header (then the separator is ours to add). */
	if (i < len && in[i] != '\n' && buf_append_char(out, '\n') < 0)
		goto full;
	if (i < len && buf_append(out, in + i, len - i) < 0)
		goto full;
	if (out->len > o->max_size) {
		err_set(e, "message too large (limit %llu bytes)",
		        (unsigned long long)o->max_size);
		return -1;
	}
	return 0;
full:
	err_set(e, "message too large");
	return -1;
}
