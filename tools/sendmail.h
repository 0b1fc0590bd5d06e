/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_SENDMAIL_H
#define POSTHORN_TOOLS_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/str.h"

/*
 * The sendmail command's parts (the program is tools/sendmail.c):
 *   sendmail_msg.c     reading the message, header fix-ups, -t
 *   sendmail_submit.c  handing it to pickup (proto_pickup.h)
 *   sendmail_bs.c      -bs: a minimal SMTP dialogue on stdin/stdout
 */

struct sendmail_opts {
	bool extract;          /* -t: recipients from To/Cc/Bcc */
	bool dot_ends;         /* no -i: a line "." ends the input */
	const char *from_addr; /* for a From: header we add */
	const char *fullname;  /* -F, or the GECOS name; may be NULL */
	const char *hostname;  /* right side of a Message-ID we add */
	uint64_t max_size;
};

/*
 * Reads the message from f into out with LF line ends (CRLF becomes LF),
 * up to max bytes; with dot_ends, a line consisting of "." ends it (and is
 * not part of it). 0, or -1 with e set (read error, too large).
 */
int sendmail_read(FILE *f, bool dot_ends, uint64_t max, struct buf *out,
                  struct err *e);

/*
 * Turns a locally submitted message into what is queued: drops a leading
 * mbox "From " line; removes Bcc: headers; adds Date:, Message-ID: and
 * From: when missing (as Postfix's cleanup does for local mail); with
 * o->extract, appends the addresses of To:, Cc: and Bcc: to rcpts.
 * in is LF-terminated text (sendmail_read). 0, or -1 with e set.
 */
int sendmail_rewrite(const char *in, size_t len, const struct sendmail_opts *o,
                     struct buf *out, struct strv *rcpts, struct err *e);

/* Appends the addresses of an RFC 5322 address-list (a header field's
 * value, unfolded or not) to out: display names, comments and group names
 * are dropped; "<>" and empty elements are skipped. */
void sendmail_parse_addresses(const char *s, size_t len, struct strv *out);

/* Formats the current time as an RFC 5322 date into out. */
void sendmail_date(char *out, size_t size);

/* DSN requests from -N, -R, -V (RFC 3461); all optional. */
struct sendmail_dsn {
	unsigned notify;   /* QUEUE_NOTIFY_* for every recipient, 0: none */
	const char *ret;   /* "full" or "hdrs" or NULL */
	const char *envid; /* or NULL */
};

/* Hands msg to pickup (dsn may be NULL). With qid_out (QUEUE_ID_SIZE
 * bytes) the queue id is returned. 0 queued, -1 temporary failure, -2
 * permanent (e set). */
int sendmail_submit(const char *msg, size_t len, const char *sender,
                    const struct strv *rcpts, const struct sendmail_dsn *dsn,
                    char *qid_out, struct err *e);

/* -bs: speaks SMTP on in/out, submitting each message. Exit status. */
int sendmail_smtp(FILE *in, FILE *out, const struct sendmail_opts *o);

#endif
