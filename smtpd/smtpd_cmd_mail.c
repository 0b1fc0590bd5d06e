/* SPDX-License-Identifier: MIT */
/*
 * smtpd_cmd_mail.c - MAIL FROM and RCPT TO
 *
 * Parses the path and parameters (smtpd_addr.c, smtpd_params.c), asks
 * smtpd_rcpt.c for the policy decision, and builds the transaction: the
 * sender, the DSN fields, the recipient list. The queue file is created
 * at the first accepted recipient (so a session that is refused
 * everything never touches the disk, and the "ID: client=" line appears
 * where Postfix logs it).
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/params.h"
#include "common/queue_file.h"
#include "common/str.h"
#include "smtpd_cmd.h"
#include "smtpd_log.h"

/* Skips "FROM:" / "TO:" and the spaces some clients put after it (RFC
 * 5321 has none; Postfix tolerates them and so do we). Returns the
 * offset of the path, or -1. */
static long keyword(const char *arg, size_t len, const char *kw)
{
	size_t kl = strlen(kw);
	if (len < kl || !str_prefix_nocase(arg, len, kw))
		return -1;
	while (kl < len && arg[kl] == ' ')
		kl++;
	return (long)kl;
}

static int64_t now_us(void)
{
	struct timeval tv;
	(void)gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The reply for a path that did not parse; which is "sender" or
 * "recipient", x the RFC 3463 subject (7 sender, 3 recipient). */
static void bad_path(struct smtpd_session *s, enum smtpd_addr_err err,
		     const char *which, char x)
{
	char dsn[8];
	(void)snprintf(dsn, sizeof(dsn), "5.1.%c", x);
	if (err == SMTPD_ADDR_ETOOLONG)
		smtpd_reply(s, 501, dsn, "Error: %s address too long", which);
	else if (err == SMTPD_ADDR_E8BIT)
		smtpd_reply(s, 553, "5.6.7",
			    "Error: non-ASCII %s address needs SMTPUTF8",
			    which);
	else
		smtpd_reply(s, 553, dsn, "Error: bad %s address syntax",
			    which);
}

/* Valid RFC 5321, but not something the queue may carry (angle brackets
 * in a quoted local part: they would break every "<%s>" downstream). */
static void unsafe_path(struct smtpd_session *s, const char *which, char x)
{
	char dsn[8];
	(void)snprintf(dsn, sizeof(dsn), "5.1.%c", x);
	smtpd_reply(s, 553, dsn, "Error: unsupported %s address", which);
}

int smtpd_cmd_mail(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_tx *t = &s->tx;
	if (params->smtpd_helo_required && !s->helo[0]) {
		smtpd_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return -1;
	}
	long off = keyword(arg, len, "FROM:");
	if (off < 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return -1;
	}
	/* SMTPUTF8 comes after the path: parse allowing UTF-8, then
	 * refuse it if the parameter is missing. */
	struct smtpd_addr a;
	size_t used;
	enum smtpd_addr_err err =
		smtpd_addr_parse(arg + off, len - (size_t)off,
				 SMTPD_ADDR_NULL_OK | SMTPD_ADDR_UTF8, &a, &used);
	if (err != SMTPD_ADDR_OK) {
		bad_path(s, err, "sender", '7');
		return -1;
	}
	const char *rest = arg + off + used;
	size_t rlen = len - (size_t)off - used;
	struct smtpd_mail_params mp;
	struct smtpd_reply_err pe;
	if (smtpd_params_mail(rest, rlen, &mp, &pe) < 0) {
		smtpd_reply(s, pe.code, pe.dsn, "%s", pe.text);
		return -1;
	}
	if (a.utf8 && !mp.smtputf8) {
		bad_path(s, SMTPD_ADDR_E8BIT, "sender", '7');
		return -1;
	}
	char text[SMTPD_ADDR_TEXT_MAX + 1];
	(void)smtpd_addr_format(&a, params->myhostname, text, sizeof(text));
	if (!queue_addr_safe(text, strlen(text))) {
		unsafe_path(s, "sender", '7');
		return -1;
	}
	/* RFC 1870 6.1: refuse early what would be refused after DATA. */
	if (mp.has_size && mp.size > params->message_size_limit) {
		struct smtpd_verdict v;
		smtpd_verdict_set(&v, 552, "5.3.4",
				  "Message size exceeds fixed limit");
		smtpd_reject(s, &v, text, NULL);
		return -1;
	}
	struct smtpd_who w;
	struct smtpd_verdict v;
	smtpd_who(s, &w);
	w.sender = &a;
	w.sender_text = text;
	if (smtpd_sender_check(&w, &a, text, &v) != 0) {
		smtpd_reject(s, &v, text, NULL);
		return -1;
	}
	smtpd_tx_reset(s);
	t->sender = arena_strdup(t->arena, text);
	t->sender_addr = a;
	t->mp = mp;
	t->arrival_us = now_us();
	smtpd_state_set(s, SMTPD_STATE_MAIL);
	smtpd_reply(s, 250, "2.1.0", "Ok");
	return 0;
}

static bool already_listed(const struct smtpd_tx *t, const char *text)
{
	for (size_t i = 0; i < t->nrcpt; i++)
		if (str_eq_nocase(t->rcpts[i].address, text))
			return true;
	return false;
}

static void add_rcpt(struct smtpd_tx *t, const char *text,
		     const struct smtpd_rcpt_params *rp)
{
	if (t->nrcpt == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct queue_rcpt *n =
			arena_calloc(t->arena, cap, sizeof(*n));
		if (t->nrcpt)
			memcpy(n, t->rcpts, t->nrcpt * sizeof(*n));
		t->rcpts = n;
		t->cap = cap;
	}
	struct queue_rcpt *r = &t->rcpts[t->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->address = arena_strdup(t->arena, text);
	r->orcpt = rp->orcpt[0] ? arena_strdup(t->arena, rp->orcpt) : NULL;
	r->notify = rp->notify;
	r->status = QUEUE_RCPT_PENDING;
}

/* The first accepted recipient opens the queue file. */
static int open_queue_file(struct smtpd_session *s)
{
	struct err e;
	if (s->tx.qf)
		return 0;
	if (queue_file_create(&s->tx.qf, params->queue_directory, &e) < 0) {
		log_warn("%s: %s", s->namaddr, e.msg);
		smtpd_reply(s, 451, "4.3.0", "Error: queue file write error");
		return -1;
	}
	smtpd_log_client(s);
	return 0;
}

int smtpd_cmd_rcpt(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_tx *t = &s->tx;
	long off = keyword(arg, len, "TO:");
	if (off < 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return -1;
	}
	t->rcpt_tried++;
	size_t limit = (size_t)params->smtpd_recipient_limit;
	if (limit > QUEUE_RCPT_MAX)
		limit = QUEUE_RCPT_MAX;
	if (t->nrcpt >= limit) {
		/* Tolerated as long as Postfix's overshoot limit would
		 * (here: another recipient-limit's worth), then errors. */
		if (++t->overshoot <= limit)
			smtpd_reply_free(s, 452, "4.5.3",
					 "Error: too many recipients");
		else
			smtpd_reply(s, 452, "4.5.3",
				    "Error: too many recipients");
		return -1;
	}
	unsigned flags = SMTPD_ADDR_POSTMASTER;
	if (t->mp.smtputf8)
		flags |= SMTPD_ADDR_UTF8;
	struct smtpd_addr a;
	size_t used;
	enum smtpd_addr_err err = smtpd_addr_parse(
		arg + off, len - (size_t)off, flags, &a, &used);
	if (err != SMTPD_ADDR_OK) {
		bad_path(s, err, "recipient", '3');
		return -1;
	}
	struct smtpd_rcpt_params rp;
	struct smtpd_reply_err pe;
	if (smtpd_params_rcpt(arg + off + used, len - (size_t)off - used,
			      t->mp.smtputf8, &rp, &pe) < 0) {
		smtpd_reply(s, pe.code, pe.dsn, "%s", pe.text);
		return -1;
	}
	char text[SMTPD_ADDR_TEXT_MAX + 1];
	(void)smtpd_addr_format(&a, params->myhostname, text, sizeof(text));
	if (!queue_addr_safe(text, strlen(text))) {
		unsafe_path(s, "recipient", '3');
		return -1;
	}
	if (rp.orcpt[0] && !queue_addr_safe(rp.orcpt, strlen(rp.orcpt))) {
		smtpd_reply(s, 501, "5.5.4", "Bad ORCPT parameter");
		return -1;
	}
	struct smtpd_who w;
	struct smtpd_verdict v;
	smtpd_who(s, &w);
	if (smtpd_rcpt_check(&w, &a, text, &v) != 0) {
		smtpd_reject(s, &v, NULL, text);
		return -1;
	}
	if (open_queue_file(s) < 0)
		return -1;
	/* A repeated recipient is accepted once (Postfix's cleanup drops
	 * duplicates the same way). */
	if (!already_listed(t, text))
		add_rcpt(t, text, &rp);
	smtpd_state_set(s, SMTPD_STATE_RCPT);
	smtpd_reply(s, 250, "2.1.5", "Ok");
	return 0;
}
