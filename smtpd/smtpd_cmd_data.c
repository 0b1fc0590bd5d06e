/* SPDX-License-Identifier: MIT */
/*
 * smtpd_cmd_data.c - DATA and BDAT: the message into the queue
 *
 * Writes our Received: header and the content (smtpd_data.c does the
 * line rules) into the queue file opened at the first RCPT, then hands
 * it to qmgr (qmgr_commit: the durable hand-off of DESIGN.md step 3).
 * "250 2.0.0 Ok: queued as ID" is sent only after qmgr acknowledged;
 * any failure before that aborts the file and answers 4xx/5xx, so a
 * client never hears "queued" for something that is not.
 *
 * The content is read with stream_read_part() (DATA) or in counted
 * pieces (BDAT), never past its end, so commands pipelined after it stay
 * in the stream for the command loop. A refused message is still read
 * to its end, to stay in step with the client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/params.h"
#include "common/qmgr_client.h"
#include "common/queue_file.h"
#include "common/stream.h"
#include "common/str.h"
#include "common/tls.h"
#include "smtpd_cmd.h"
#include "smtpd_log.h"

#define PIECE 16384
/* Stored bytes are written to the queue file in pieces of this size. */
#define FLUSH_AT 65536

/* Header text from the client: printable ASCII only (a HELO name ends
 * up inside a header field). */
static void header_safe(char *out, size_t outsz, const char *in)
{
	size_t o = 0;
	for (; *in && o + 1 < outsz; in++)
		out[o++] = (*in > ' ' && *in < 0x7f) ? *in : '?';
	out[o] = 0;
}

/* Received: (RFC 5321 4.4, RFC 5322 3.6.7), stored with LF line ends. */
static void received_header(struct smtpd_session *s)
{
	struct smtpd_tx *t = &s->tx;
	char helo[256], date[64];
	time_t now = time(NULL);
	struct tm tm;
	(void)localtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z (%Z)",
		       &tm);
	header_safe(helo, sizeof(helo), s->helo[0] ? s->helo : s->addr);
	(void)buf_printf(&s->out, "Received: from %s (%s [%s])\n", helo,
			 s->name, s->addr);
	struct tls_conn *tc = stream_tls(s->st);
	if (tc)
		(void)buf_printf(&s->out, "\t(using %s)\n",
				 tls_conn_summary(tc));
	(void)buf_printf(&s->out, "\tby %s (%s) with %s id %s", params->myhostname,
			 params->mail_name, smtpd_protocol(s),
			 queue_file_id(t->qf));
	if (t->nrcpt == 1)
		(void)buf_printf(&s->out, "\n\tfor <%s>", t->rcpts[0].address);
	(void)buf_printf(&s->out, "; %s\n", date);
}

/* Writes what is buffered to the queue file. 0, or -1 (logged; errno
 * kept in *errno_out for the reply). */
static int drain(struct smtpd_session *s, int *errno_out)
{
	struct err e;
	if (s->out.len == 0 || !s->tx.qf)
		return 0;
	errno = 0;
	int rc = queue_file_write(s->tx.qf, s->out.data, s->out.len, &e);
	buf_reset(&s->out);
	if (rc < 0) {
		*errno_out = errno;
		log_warn("%s: %s: %s", smtpd_queue_id(s), s->namaddr, e.msg);
	}
	return rc;
}

/* Refuses the finished content per the machine's flags. */
static void refuse_content(struct smtpd_session *s, const struct smtpd_data *d)
{
	struct smtpd_verdict v;
	if (d->too_big)
		smtpd_verdict_set(&v, 552, "5.3.4",
				  "Error: message file too big");
	else if (d->too_long)
		smtpd_verdict_set(&v, 500, "5.5.0", "Error: line too long");
	else if (d->bare_lf)
		smtpd_verdict_set(&v, 550, "5.5.2",
				  "Error: bare <LF> received");
	else
		smtpd_verdict_set(&v, 550, "5.5.2",
				  "Error: bare <CR> received");
	smtpd_reject(s, &v, NULL, NULL);
}

/* Content complete: commit and answer. Ends the transaction. 0/-1. */
static int finish_message(struct smtpd_session *s, struct smtpd_data *d,
			  int write_errno)
{
	struct smtpd_tx *t = &s->tx;
	struct err e;
	int rc = -1;
	if (smtpd_data_failed(d)) {
		refuse_content(s, d);
		goto out;
	}
	if (d->bare_lf || d->bare_cr)
		log_info("%s: bare %s received from %s (normalized)",
			 smtpd_queue_id(s), d->bare_lf ? "<LF>" : "<CR>",
			 s->namaddr);
	if (write_errno == 0 && drain(s, &write_errno) == 0 &&
	    queue_file_finish(t->qf, &e) < 0) {
		write_errno = errno ? errno : EIO;
		log_warn("%s: %s", smtpd_queue_id(s), e.msg);
	}
	if (write_errno) {
		if (write_errno == ENOSPC || write_errno == EDQUOT)
			smtpd_reply(s, 452, "4.3.1",
				    "Insufficient system storage");
		else
			smtpd_reply(s, 451, "4.3.0",
				    "Error: queue file write error");
		goto out;
	}
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	(void)snprintf(env.queue_id, sizeof(env.queue_id), "%s",
		       queue_file_id(t->qf));
	env.sender = t->sender;
	env.arrival_us = t->arrival_us;
	env.size = queue_file_size(t->qf);
	env.client_name = s->name;
	env.client_addr = s->addr;
	env.helo = s->helo;
	env.protocol = smtpd_protocol(s);
	env.sasl_user = s->sasl_user;
	env.envid = t->mp.envid[0] ? t->mp.envid : NULL;
	env.ret = t->mp.ret;
	env.body = t->mp.body;
	env.smtputf8 = t->mp.smtputf8;
	env.bounce = t->sender[0] == 0;
	env.next_attempt = (int64_t)time(NULL);
	env.rcpts = t->rcpts;
	env.nrcpt = t->nrcpt;
	/* Replies waiting in the buffer go out now: the commit may take a
	 * group-commit interval, and the client need not wait for them. */
	(void)stream_flush(s->st);
	if (qmgr_commit(&env, &e) < 0) {
		log_warn("%s: commit failed: %s", env.queue_id, e.msg);
		smtpd_reply(s, 451, "4.3.0",
			    "Error: queue unavailable, try again later");
		goto out;
	}
	queue_file_free(&t->qf);
	smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", env.queue_id);
	rc = 0;
out:
	smtpd_tx_reset(s);
	return rc;
}

/* Why DATA/BDAT cannot start now (state MAIL, or BDAT before MAIL). */
static void not_ready(struct smtpd_session *s)
{
	if (s->state == SMTPD_STATE_MAIL && s->tx.rcpt_tried)
		smtpd_reply(s, 554, "5.5.1", "Error: no valid recipients");
	else if (s->state == SMTPD_STATE_MAIL)
		smtpd_reply(s, 503, "5.5.1", "Error: need RCPT command");
	else
		smtpd_reply(s, 503, "5.5.1", "Error: need MAIL command");
}

static void start_content(struct smtpd_session *s, struct smtpd_data *d,
			  bool dot)
{
	buf_reset(&s->out);
	received_header(s);
	smtpd_data_init(d, dot, s->bare_mode, params->message_size_limit,
			params->smtpd_line_length_limit, &s->out);
	s->data_bytes = 0;
}

int smtpd_cmd_data(struct smtpd_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (len) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: DATA");
		return -1;
	}
	if (s->tx.bdat) {
		smtpd_reply(s, 503, "5.5.1", "Error: BDAT in progress");
		return -1;
	}
	if (s->state != SMTPD_STATE_RCPT) {
		not_ready(s);
		return -1;
	}
	struct smtpd_data d;
	start_content(s, &d, true);
	smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	stream_set_timeout(s->st, (int)(params->smtpd_data_timeout * 1000));
	int werr = 0;
	char piece[PIECE];
	for (;;) {
		ssize_t n = stream_read_part(s->st, piece, sizeof(piece));
		if (n < 0) {
			smtpd_stream_failed(s);
			return -1;
		}
		size_t used;
		int end = smtpd_data_feed(&d, piece, (size_t)n, &used);
		s->data_bytes = d.size;
		if (s->out.len >= FLUSH_AT && !werr)
			(void)drain(s, &werr);
		if (end)
			break;
	}
	return finish_message(s, &d, werr);
}

/* BDAT chunk-size [ SP "LAST" ] (RFC 3030 2). */
static int bdat_args(const char *arg, size_t len, uint64_t *size, bool *last)
{
	size_t n = 0;
	while (n < len && arg[n] != ' ')
		n++;
	if (n == 0 || n > 20 || parse_uintn(arg, n, 0, UINT64_MAX, size) < 0)
		return -1;
	*last = false;
	if (n == len)
		return 0;
	if (!strn_eq_nocase(arg + n + 1, len - n - 1, "LAST"))
		return -1;
	*last = true;
	return 0;
}

/* Reads a chunk of size bytes, feeding d (NULL: discard). 0 or -1 when
 * the stream failed. */
static int read_chunk(struct smtpd_session *s, uint64_t size,
		      struct smtpd_data *d, int *werr)
{
	char piece[PIECE];
	stream_set_timeout(s->st, (int)(params->smtpd_data_timeout * 1000));
	while (size > 0) {
		size_t want = size < sizeof(piece) ? (size_t)size : sizeof(piece);
		ssize_t n = stream_read_some(s->st, piece, want);
		if (n < 0) {
			smtpd_stream_failed(s);
			return -1;
		}
		size -= (uint64_t)n;
		if (!d)
			continue;
		size_t used;
		(void)smtpd_data_feed(d, piece, (size_t)n, &used);
		s->data_bytes = d->size;
		if (s->out.len >= FLUSH_AT && !*werr)
			(void)drain(s, werr);
	}
	return 0;
}

int smtpd_cmd_bdat(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_tx *t = &s->tx;
	uint64_t size;
	bool last;
	int werr = 0;
	if (bdat_args(arg, len, &size, &last) < 0) {
		/* Without a count the chunk cannot be skipped: what follows
		 * is read as commands and refused one by one. */
		smtpd_reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]");
		return -1;
	}
	if (size > params->message_size_limit) {
		/* Larger than any message we take: reading it just to
		 * stay in step is not worth it. */
		smtpd_reply(s, 552, "5.3.4", "Error: message file too big");
		s->quit = true;
		return -1;
	}
	bool ok = s->state == SMTPD_STATE_RCPT;
	if (!ok) {
		if (read_chunk(s, size, NULL, &werr) < 0)
			return -1;
		not_ready(s);
		return -1;
	}
	if (!t->bdat) {
		t->bdat = true;
		start_content(s, &t->data, false);
	}
	if (read_chunk(s, size, &t->data, &werr) < 0)
		return -1;
	if (smtpd_data_failed(&t->data) || werr) {
		smtpd_data_finish(&t->data);
		return finish_message(s, &t->data, werr);
	}
	if (!last) {
		smtpd_reply(s, 250, "2.0.0", "Ok: %llu bytes",
			    (unsigned long long)size);
		return 0;
	}
	smtpd_data_finish(&t->data);
	return finish_message(s, &t->data, werr);
}
