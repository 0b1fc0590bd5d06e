/* SPDX-License-Identifier: MIT */
/*
 * smtp_proto.c - one mail transaction: MAIL, RCPT, DATA with pipelining
 *
 * Decides what the message needs from the server (SIZE, 8BITMIME or a
 * conversion, SMTPUTF8, BINARYMIME with CHUNKING), sends the envelope in
 * groups (RFC 2920: a client may send MAIL, RCPT and DATA without waiting,
 * then must read every reply, in order), and maps each reply to the
 * recipients it concerns. Groups are bounded so neither side can fill
 * its socket buffer with replies the other is not reading.
 * A forwarded copy (a request with a delivered-to chain) gets its
 * Delivered-To: lines in front of the content, by DATA or BDAT, counted
 * in SIZE=; the content itself is sent as for any other request.
 * Connecting and the pre-MAIL dialogue are smtp_session.c's.
 */
#include "smtp_proto.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/params.h"
#include "common/rfc822.h"
#include "common/xalloc.h"

#include "smtp_body.h"

#define PIPE_GROUP 32 /* commands sent before reading their replies */

int smtp_xtext(const char *s, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc;
		if (c < 33 || c > 126 || c == '+' || c == '=') {
			char enc[3] = {'+', hex[c >> 4], hex[c & 15]};
			rc = buf_append(out, enc, 3);
		} else {
			rc = buf_append_char(out, (char)c);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

enum cmd_kind { CMD_MAIL, CMD_RCPT, CMD_DATA };

struct cmd {
	enum cmd_kind kind;
	struct smtp_rcpt *rcpt;
};

struct txn {
	struct smtp_session *s;
	struct smtp_request *req;
	const char *data; /* the content to send: the queue file or */
	size_t len;       /* its 7-bit conversion */
	const char *pre;  /* wire-ready lines in front of it (a forwarded */
	size_t plen;      /* copy's Delivered-To:), or none */
	bool body8;       /* BODY=8BITMIME */
	bool utf8;        /* SMTPUTF8 */
	bool bdat;        /* BINARYMIME through BDAT */
	bool mail_failed;
	size_t naccepted;
};

/* ---- what the message needs ------------------------------------------- */

static bool has_8bit_str(const char *s)
{
	return smtp_body_has_8bit(s, strlen(s));
}

/* RFC 6531 3.2: SMTPUTF8 is needed when an address or a header is not
 * ASCII; a message flagged SMTPUTF8 that is all ASCII goes without it. */
static bool needs_smtputf8(const struct smtp_request *req)
{
	if (has_8bit_str(req->sender))
		return true;
	for (size_t i = 0; i < req->nrcpt; i++)
		if (!req->rcpt[i].final && has_8bit_str(req->rcpt[i].addr))
			return true;
	size_t hlen = rfc822_header_len(req->data, req->len, NULL);
	return smtp_body_has_8bit(req->data, hlen);
}

/* Settles the body type and parameters; -1 when this server cannot take
 * the message (recipients then have their reason). */
static int prepare(struct txn *t, struct buf *converted)
{
	struct smtp_session *s = t->s;
	struct smtp_request *req = t->req;
	unsigned ext = s->ehlo.ext;
	if (req->body == SMTP_BODY_BINARYMIME) {
		if ((ext & (SMTP_EXT_BINARYMIME | SMTP_EXT_CHUNKING)) !=
		    (SMTP_EXT_BINARYMIME | SMTP_EXT_CHUNKING)) {
			smtp_rcpt_set_all(req, SMTP_RES_BOUNCE, false, "5.6.3",
			                  s->relay,
			                  "message has binary content, but "
			                  "host %s does not announce "
			                  "BINARYMIME and CHUNKING support",
			                  s->hostaddr);
			return -1;
		}
		t->bdat = true;
	}
	if (req->smtputf8) {
		if (ext & SMTP_EXT_SMTPUTF8) {
			t->utf8 = true;
		} else if (needs_smtputf8(req)) {
			smtp_rcpt_set_all(req, SMTP_RES_BOUNCE, false, "5.6.7",
			                  s->relay,
			                  "SMTPUTF8 is required, but was not "
			                  "offered by host %s",
			                  s->hostaddr);
			return -1;
		}
	}
	if (t->bdat)
		return 0;
	bool declared = req->body == SMTP_BODY_8BITMIME;
	if (!declared && !smtp_request_has_8bit(req))
		return 0;
	if (ext & SMTP_EXT_8BITMIME) {
		t->body8 = true;
		return 0;
	}
	if (!smtp_request_has_8bit(req))
		return 0; /* declared 8BITMIME, but all 7-bit */
	struct err e;
	if (smtp_body_downgrade(req->data, req->len, converted, &e) < 0) {
		smtp_rcpt_set_all(req, SMTP_RES_BOUNCE, false, "5.6.3",
		                  s->relay,
		                  "message has 8-bit content, but host %s "
		                  "does not announce 8BITMIME support, and "
		                  "conversion to 7 bits failed: %s",
		                  s->hostaddr, e.msg);
		return -1;
	}
	log_debug(1, "%s: converted 8-bit content to quoted-printable for %s",
	          req->queue_id, s->relay);
	t->data = converted->data;
	t->len = converted->len;
	return 0;
}

/* The size of what goes on the wire, as SIZE= and the server's limit
 * count it (RFC 1870: CRLF line ends, no dot-stuffing). */
static uint64_t wire_size(const struct txn *t)
{
	return t->plen + smtp_body_wire_size(t->data, t->len);
}

/* ---- commands ----------------------------------------------------------- */

/* ORCPT "type;addr" with addr xtext-encoded; "" when malformed. */
static void orcpt_param(const char *orcpt, struct buf *out)
{
	const char *semi = strchr(orcpt, ';');
	if (!semi || semi == orcpt)
		return;
	for (const char *p = orcpt; p < semi; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return;
	(void)buf_append_str(out, " ORCPT=");
	(void)buf_append(out, orcpt, (size_t)(semi - orcpt + 1));
	(void)smtp_xtext(semi + 1, strlen(semi + 1), out);
}

static bool notify_ok(const char *n)
{
	if (!n[0])
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      *p == ','))
			return false;
	return true;
}

static int send_cmd(struct txn *t, const struct cmd *c)
{
	struct smtp_session *s = t->s;
	struct smtp_request *req = t->req;
	bool dsn = s->ehlo.ext & SMTP_EXT_DSN;
	struct buf p;
	buf_init(&p, 4096);
	int rc;
	switch (c->kind) {
	case CMD_MAIL:
		if (s->ehlo.ext & SMTP_EXT_SIZE)
			(void)buf_printf(&p, " SIZE=%llu",
			                 (unsigned long long)wire_size(t));
		if (t->body8)
			(void)buf_append_str(&p, " BODY=8BITMIME");
		if (t->bdat)
			(void)buf_append_str(&p, " BODY=BINARYMIME");
		if (t->utf8)
			(void)buf_append_str(&p, " SMTPUTF8");
		if (dsn && req->ret)
			(void)buf_printf(&p, " RET=%s", req->ret);
		if (dsn && req->envid) {
			(void)buf_append_str(&p, " ENVID=");
			(void)smtp_xtext(req->envid, strlen(req->envid), &p);
		}
		rc = smtp_session_cmd(s, "MAIL FROM", "MAIL FROM:<%s>%s",
		                      req->sender, buf_cstr(&p));
		break;
	case CMD_RCPT:
		if (dsn && notify_ok(c->rcpt->notify))
			(void)buf_printf(&p, " NOTIFY=%s", c->rcpt->notify);
		if (dsn && c->rcpt->orcpt[0])
			orcpt_param(c->rcpt->orcpt, &p);
		rc = smtp_session_cmd(s, "RCPT TO", "RCPT TO:<%s>%s",
		                      c->rcpt->addr, buf_cstr(&p));
		break;
	case CMD_DATA:
	default:
		rc = smtp_session_cmd(s, "DATA", "DATA");
		break;
	}
	buf_deinit(&p);
	return rc;
}

/* ---- replies ------------------------------------------------------------ */

/* A rejection: 5xx final, 4xx open for the next host. */
static void reject(struct txn *t, struct smtp_rcpt *r, const char *cmd)
{
	struct smtp_session *s = t->s;
	char dsn[12];
	bool perm = s->reply.code / 100 == 5;
	smtp_reply_status(&s->reply, perm ? "5.0.0" : "4.0.0", dsn,
	                  sizeof(dsn));
	const char *text = buf_cstr(&s->reply.text);
	if (r) {
		smtp_rcpt_set(t->req, r,
		              perm ? SMTP_RES_BOUNCE : SMTP_RES_DEFER, perm,
		              dsn, s->relay,
		              "host %s said: %s (in reply to %s command)",
		              s->hostaddr, text, cmd);
		return;
	}
	for (size_t i = 0; i < t->req->nrcpt; i++) {
		struct smtp_rcpt *x = &t->req->rcpt[i];
		if (!x->final && (x->accepted || !strcmp(cmd, "MAIL FROM")))
			smtp_rcpt_set(t->req, x,
			              perm ? SMTP_RES_BOUNCE : SMTP_RES_DEFER,
			              perm, dsn, s->relay,
			              "host %s said: %s (in reply to %s "
			              "command)",
			              s->hostaddr, text, cmd);
	}
}

/* The final reply to the content: every accepted recipient shares it. */
static void content_reply(struct txn *t, const char *cmd)
{
	struct smtp_session *s = t->s;
	if (s->reply.code / 100 != 2) {
		reject(t, NULL, cmd);
		return;
	}
	char dsn[12];
	smtp_reply_status(&s->reply, "2.0.0", dsn, sizeof(dsn));
	for (size_t i = 0; i < t->req->nrcpt; i++) {
		struct smtp_rcpt *r = &t->req->rcpt[i];
		if (!r->final && r->accepted)
			smtp_rcpt_set(t->req, r, SMTP_RES_SENT, true, dsn,
			              s->relay, "%s", buf_cstr(&s->reply.text));
	}
}

static int stream_writer(void *ctx, const void *p, size_t n)
{
	return stream_write(ctx, p, n);
}

/* Reads the reply to the end of the content and settles the accepted
 * recipients with it. */
static int content_done(struct txn *t, const char *cmd)
{
	/* Past this point the server may have the message even if we never
	 * see its reply (RFC 1047). */
	if (smtp_session_read(t->s, params->smtp_data_done_timeout,
	                      "sending end of data -- message may be sent "
	                      "more than once") < 0)
		return -1;
	content_reply(t, cmd);
	return 0;
}

/* After a 354: the content, then its reply. */
static int send_content(struct txn *t)
{
	struct smtp_session *s = t->s;
	stream_set_timeout(s->st, (int)(params->smtp_data_xfer_timeout * 1000));
	if ((t->plen && stream_write(s->st, t->pre, t->plen) < 0) ||
	    smtp_body_write(t->data, t->len, stream_writer, s->st) < 0) {
		smtp_session_fail(s, "sending message body");
		return -1;
	}
	return content_done(t, "end of DATA");
}

/* RFC 3030: the whole binary body as one last chunk. */
static int send_bdat(struct txn *t)
{
	struct smtp_session *s = t->s;
	if (smtp_session_cmd(s, "BDAT", "BDAT %zu LAST", t->plen + t->len) < 0)
		return -1;
	stream_set_timeout(s->st, (int)(params->smtp_data_xfer_timeout * 1000));
	if ((t->plen && stream_write(s->st, t->pre, t->plen) < 0) ||
	    (t->len && stream_write(s->st, t->data, t->len) < 0)) {
		smtp_session_fail(s, "sending message body");
		return -1;
	}
	return content_done(t, "BDAT");
}

static int handle_reply(struct txn *t, const struct cmd *c)
{
	struct smtp_session *s = t->s;
	int cls = s->reply.code / 100;
	switch (c->kind) {
	case CMD_MAIL:
		if (cls != 2) {
			t->mail_failed = true;
			reject(t, NULL, "MAIL FROM");
		}
		return 0;
	case CMD_RCPT:
		if (t->mail_failed)
			return 0; /* 503s after a failed MAIL say nothing */
		if (cls == 2) {
			c->rcpt->accepted = true;
			t->naccepted++;
		} else {
			reject(t, c->rcpt, "RCPT TO");
		}
		return 0;
	case CMD_DATA:
	default:
		if (s->reply.code != 354) {
			if (t->naccepted && !t->mail_failed)
				reject(t, NULL, "DATA");
			return 0;
		}
		if (t->naccepted && !t->mail_failed)
			return send_content(t);
		/* RFC 2920 3.1: DATA was accepted with no recipient (a
		 * broken server); end it with an empty message. */
		if (smtp_session_cmd(s, "end of DATA", ".") < 0 ||
		    smtp_session_read(s, params->smtp_data_done_timeout,
		                      "sending end of data") < 0)
			return -1;
		return 0;
	}
}

static long timeout_of(const struct cmd *c)
{
	switch (c->kind) {
	case CMD_MAIL:
		return params->smtp_mail_timeout;
	case CMD_RCPT:
		return params->smtp_rcpt_timeout;
	case CMD_DATA:
	default:
		return params->smtp_data_init_timeout;
	}
}

static const char *waiting_for(const struct cmd *c)
{
	switch (c->kind) {
	case CMD_MAIL:
		return "sending MAIL FROM";
	case CMD_RCPT:
		return "sending RCPT TO";
	case CMD_DATA:
	default:
		return "sending DATA command";
	}
}

/* Sends the commands in groups and handles each reply; -1 on I/O
 * failure. Without pipelining a group is one command, and the dialogue
 * stops as soon as there is nothing left to do. */
static int run(struct txn *t, struct cmd *cmds, size_t n)
{
	struct smtp_session *s = t->s;
	size_t group = (s->ehlo.ext & SMTP_EXT_PIPELINING) ? PIPE_GROUP : 1;
	for (size_t i = 0; i < n; i += group) {
		size_t end = i + group < n ? i + group : n;
		if (group == 1 && (t->mail_failed ||
		                   (cmds[i].kind == CMD_DATA && !t->naccepted)))
			return 0;
		for (size_t k = i; k < end; k++)
			if (send_cmd(t, &cmds[k]) < 0)
				return -1;
		for (size_t k = i; k < end; k++) {
			if (smtp_session_read(s, timeout_of(&cmds[k]),
			                      waiting_for(&cmds[k])) < 0 ||
			    handle_reply(t, &cmds[k]) < 0)
				return -1;
		}
	}
	if (t->bdat && t->naccepted && !t->mail_failed)
		return send_bdat(t);
	return 0;
}

void smtp_proto_transaction(struct smtp_session *s, struct smtp_request *req)
{
	struct txn t = {.s = s, .req = req, .data = req->data, .len = req->len};
	struct buf converted, pre;
	size_t cmax;
	/* Quoted-printable at most triples the size, plus soft breaks. */
	if (size_mul(req->len, 4, &cmax) < 0 ||
	    size_add(cmax, 65536, &cmax) < 0)
		cmax = SIZE_MAX;
	buf_init(&converted, cmax);
	s->transactions++;
	for (size_t i = 0; i < req->nrcpt; i++)
		req->rcpt[i].accepted = false;
	if (prepare(&t, &converted) < 0) {
		buf_deinit(&converted);
		return;
	}
	/* A forwarded copy: its Delivered-To: lines go in front of the
	 * content, converted or not (prepare() decided on SMTPUTF8). */
	buf_init(&pre, 0);
	if (req->dlvto) {
		(void)smtp_body_delivered_to(req->dlvto, strlen(req->dlvto),
		                             t.utf8, &pre);
		t.pre = pre.data;
		t.plen = pre.len;
	}
	if (s->ehlo.size && wire_size(&t) > s->ehlo.size) {
		/* RFC 1870 6: do not send what the server said it would
		 * refuse. */
		smtp_rcpt_set_all(req, SMTP_RES_BOUNCE, false, "5.3.4",
		                  s->relay,
		                  "message size %llu exceeds size limit %lu "
		                  "of server %s",
		                  (unsigned long long)wire_size(&t),
		                  s->ehlo.size, s->hostaddr);
		buf_deinit(&pre);
		buf_deinit(&converted);
		return;
	}
	struct cmd *cmds =
	        arena_calloc(req->arena, req->nrcpt + 2, sizeof(*cmds));
	size_t n = 0;
	cmds[n++].kind = CMD_MAIL;
	for (size_t i = 0; i < req->nrcpt; i++) {
		if (req->rcpt[i].final)
			continue;
		cmds[n].kind = CMD_RCPT;
		cmds[n++].rcpt = &req->rcpt[i];
	}
	if (!t.bdat)
		cmds[n++].kind = CMD_DATA;
	if (run(&t, cmds, n) < 0) {
		/* Whatever was not settled waits for the next host. */
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.4.2", s->relay,
		                  "%s", s->io_why);
	}
	buf_deinit(&pre);
	buf_deinit(&converted);
}
