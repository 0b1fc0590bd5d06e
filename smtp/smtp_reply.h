/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTP_SMTP_REPLY_H
#define POSTHORN_SMTP_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * SMTP server replies (RFC 5321 4.2), fed one line at a time, and the
 * EHLO keywords a reply announces. Pure parsing on (pointer, length):
 * no I/O, bounded memory whatever the server sends.
 */

#define SMTP_REPLY_TEXT_MAX 4096 /* bytes of reply text kept */
#define SMTP_REPLY_LINES_MAX 200 /* lines in one reply */

struct smtp_reply {
	int code;     /* 200..599 once complete */
	char dsn[12]; /* RFC 3463 code from the first line, "" if none or
	                 of another class than the reply */
	/* The lines as received, without line ends, joined by one space
	 * (how Postfix quotes a reply in a bounce); cut at
	 * SMTP_REPLY_TEXT_MAX with "..." */
	struct buf text;
	/* The lines' texts after "ddd-" / "ddd ", NUL-separated, for
	 * smtp_reply_line(); bounded like text. */
	struct buf lines;
	size_t nlines;
	bool complete;
};

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_deinit(struct smtp_reply *r);
/* Empties r for the next reply. */
void smtp_reply_reset(struct smtp_reply *r);

/*
 * Feeds one line, its CRLF (or LF) already removed. Returns 1 when this
 * was the last line of the reply (r->complete), 0 when more lines follow
 * ("ddd-"), -1 with e set when the line is not a reply line (no 3-digit
 * code in 200..599, a character other than ' ' or '-' after it), when it
 * continues a reply with another code, or past SMTP_REPLY_LINES_MAX.
 * A bare "ddd" ends a reply (seen in the wild). Feeding a complete reply
 * starts a new one.
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
                    struct err *e);

/* The i-th line's text after the code and separator (i < nlines), NUL
 * terminated; NULL past the last kept line. */
const char *smtp_reply_line(const struct smtp_reply *r, size_t i);

/* The reply's DSN code, or def ("4.0.0" style) when it has none; for a
 * reply class 2/4/5 def's class is replaced by the reply's. Writes into
 * out (>= 12 bytes) and returns it. */
const char *smtp_reply_status(const struct smtp_reply *r, const char *def,
                              char *out, size_t outsz);

/*
 * Recognises an RFC 3463 status code "c.sss.ddd" at s[0..len) followed by
 * white space or the end: class 2, 4 or 5, subject and detail of 1-3
 * digits. Returns its length (0 if none) and copies it NUL-terminated
 * into out (>= 12 bytes) when out is not NULL.
 */
size_t smtp_dsn_parse(const char *s, size_t len, char *out);

/* EHLO keywords (RFC 5321 4.1.1.1 and the extensions' RFCs). */
#define SMTP_EXT_PIPELINING 0x001u
#define SMTP_EXT_SIZE 0x002u
#define SMTP_EXT_8BITMIME 0x004u
#define SMTP_EXT_SMTPUTF8 0x008u
#define SMTP_EXT_DSN 0x010u
#define SMTP_EXT_STARTTLS 0x020u
#define SMTP_EXT_AUTH 0x040u
#define SMTP_EXT_ENHANCEDSTATUSCODES 0x080u
#define SMTP_EXT_CHUNKING 0x100u
#define SMTP_EXT_BINARYMIME 0x200u

/* SASL mechanisms we can use (AUTH keyword). */
#define SMTP_AUTH_PLAIN 0x1u
#define SMTP_AUTH_LOGIN 0x2u

struct smtp_ehlo {
	unsigned ext;       /* SMTP_EXT_* */
	unsigned auth;      /* SMTP_AUTH_* */
	unsigned long size; /* SIZE value; 0: none announced or no limit */
	char name[256];     /* the first word of the first line */
};

/* Reads the keywords of a complete EHLO reply into *out. Unknown keywords
 * and malformed parameters are ignored ("SIZE abc" announces no limit).
 * "AUTH=LOGIN" (an old form) counts as AUTH. */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out);

#endif
