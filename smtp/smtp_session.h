/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTP_SMTP_SESSION_H
#define POSTHORN_SMTP_SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/stream.h"

#include "smtp.h"
#include "smtp_reply.h"

/*
 * One SMTP connection to one server address: opened (connect, greeting,
 * EHLO/HELO, STARTTLS, AUTH) by smtp_session.c, used for one or more mail
 * transactions by smtp_proto.c, then closed with or without QUIT.
 */
struct smtp_session {
	struct stream *st;
	struct smtp_target t;
	char hostaddr[DNS_NAME_MAX + 64]; /* "host[addr]" for reasons */
	char relay[DNS_NAME_MAX + 72];    /* "host[addr]:port" */
	struct smtp_ehlo ehlo;
	bool esmtp;  /* EHLO worked (else HELO) */
	bool tls;    /* STARTTLS done */
	bool broken; /* I/O failed or the server said 421: no QUIT, no reuse */
	struct smtp_reply reply;
	struct buf line;
	char key[NEXTHOP_HOST_MAX + 16]; /* next hop it was opened for */
	uint64_t born_ms;                /* monotonic */
	unsigned transactions;
	/* The last I/O failure, in Postfix's words, e.g. "lost connection
	 * with host[addr] while sending RCPT TO". */
	char io_why[1024];
};

/* Results of smtp_session_open(). */
enum smtp_open {
	SMTP_OPEN_OK,
	SMTP_OPEN_FAILED,      /* pending recipients got a result */
	SMTP_OPEN_RETRY_PLAIN, /* TLS failed at level may: reconnect
	                          without STARTTLS */
};

/*
 * Connects to t and gets the session ready for MAIL FROM. On failure the
 * pending recipients of req get the reason (kept open for the next host,
 * or final for a loop) and *out stays NULL. no_tls skips STARTTLS (the
 * plaintext retry after a failed handshake at level may). Blocks, within
 * smtp_connect_timeout and smtp_helo_timeout.
 */
enum smtp_open smtp_session_open(struct smtp_request *req,
                                 const struct smtp_target *t, bool no_tls,
                                 struct smtp_session **out);
/* RSET before reusing a session for another message: 0, or -1 (the
 * session is then broken: close it). */
int smtp_session_reset(struct smtp_session *s);
/* Sends QUIT when the session is healthy and quit is true, then closes
 * and frees *sp (NULL allowed). */
void smtp_session_close(struct smtp_session **sp, bool quit);
/* True when another transaction may use s. */
bool smtp_session_reusable(const struct smtp_session *s);

/* Milliseconds on the monotonic clock. */
uint64_t smtp_now_ms(void);

/* ---- helpers shared with smtp_proto.c --------------------------------- */

/* Queues a command line (CRLF added) without flushing. 0 or -1 (broken,
 * io_why set with "while sending <what>"). */
int smtp_session_cmd(struct smtp_session *s, const char *what, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));
/* Flushes and reads one reply into s->reply within timeout seconds. 0, or
 * -1 (broken, io_why set with "while <what>" e.g. "receiving the initial
 * server greeting"). A 421 reply marks the session broken too (RFC 5321
 * 3.8: the server is closing), but returns 0. */
int smtp_session_read(struct smtp_session *s, long timeout, const char *what);
/* Marks s broken after an I/O failure of its stream; io_why says why. */
void smtp_session_fail(struct smtp_session *s, const char *what);

#endif
