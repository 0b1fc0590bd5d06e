/* SPDX-License-Identifier: MIT */
/*
 * qmgr_bounce.c - the text of delivery status notifications (RFC 3464)
 *
 * One notice is a multipart/report; report-type=delivery-status message
 * (RFC 6522) with three parts:
 *   1. text/plain for the person: what happened, one line per recipient;
 *   2. message/delivery-status: per-message fields (Reporting-MTA,
 *      Original-Envelope-Id, Arrival-Date) and per-recipient fields
 *      (Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 *      Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until);
 *   3. the original: message/rfc822 (whole message, RET=FULL) or
 *      text/rfc822-headers (its header block).
 * Written with LF line ends like every queue file. Values that arrive
 * from elsewhere (reasons, addresses) were cleaned by qmgr_reply.c and
 * are folded here so no line passes RFC 5322's 998 characters.
 *
 * This module only builds text; qmgr_store.c decides when a notice is
 * owed, reads the original and queues the result. Pure, for unit tests.
 */
#include "qmgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/xtext.h"

#define FOLD_AT 76     /* preferred line length */
#define HARD_LINE 900  /* a longer unbroken run is broken anyway */

const char *qmgr_rfc822_date(int64_t t, char *out, size_t outsz)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
	                                   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
	                                     "May", "Jun", "Jul", "Aug",
	                                     "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm)) {
		(void)snprintf(out, outsz, "Thu, 01 Jan 1970 00:00:00 +0000");
		return out;
	}
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	/* Names spelled out here: strftime would follow the locale. */
	(void)snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	               days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	               tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	               off / 60, off % 60);
	return out;
}

/* Appends "prefix" + text, breaking lines at spaces near FOLD_AT; each
 * continuation line starts with cont (" " folds a header field). */
static int put_wrapped(struct buf *b, const char *prefix, const char *text,
                       const char *cont)
{
	size_t col = strlen(prefix);
	int rc = buf_append_str(b, prefix);
	const char *p = text;
	while (*p && rc == 0) {
		size_t w = strcspn(p, " ");
		if (col > strlen(cont) && col + w > FOLD_AT) {
			rc |= buf_append_char(b, '\n');
			rc |= buf_append_str(b, cont);
			col = strlen(cont);
		}
		while (w > HARD_LINE && rc == 0) {
			rc |= buf_append(b, p, HARD_LINE);
			rc |= buf_append_char(b, '\n');
			rc |= buf_append_str(b, cont);
			p += HARD_LINE;
			w -= HARD_LINE;
			col = strlen(cont);
		}
		rc |= buf_append(b, p, w);
		col += w;
		p += w;
		if (*p == ' ') {
			rc |= buf_append_char(b, ' ');
			col++;
			p++;
		}
	}
	rc |= buf_append_char(b, '\n');
	return rc ? -1 : 0;
}

static int put_field(struct buf *b, const char *name, const char *value)
{
	char prefix[64];
	(void)snprintf(prefix, sizeof(prefix), "%s: ", name);
	return put_wrapped(b, prefix, value, " ");
}

/* xtext (RFC 3461 4) decoded into out (NUL-terminated), for a person
 * to read. The queue holds it as received, printable; decoded it may
 * hold any byte, and a line break would let a sender add fields of its
 * own to the report (ENVID=x+0AAction:+20delivered): then the xtext is
 * shown as it is. -1 when it does not decode or fit. */
static long xtext_show(const char *x, char *out, size_t outsz)
{
	size_t len = strlen(x);
	long n = outsz ? xtext_decode(x, len, out, outsz - 1) : -1;
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c < 0x20 || c == 0x7f) {
			if (len >= outsz)
				return -1;
			memcpy(out, x, len + 1);
			return (long)len;
		}
	}
	out[n] = 0;
	return n;
}

/* The address of an ORCPT value, decoded, with its type: "rfc822;
 * a@b". Empty when it does not decode. */
static void orcpt_text(const char *orcpt, char *out, size_t outsz)
{
	const char *semi = strchr(orcpt, ';');
	out[0] = 0;
	if (!semi || outsz < 4)
		return;
	size_t tlen = (size_t)(semi - orcpt);
	if (tlen + 3 >= outsz)
		return;
	memcpy(out, orcpt, tlen);
	memcpy(out + tlen, "; ", 2);
	if (xtext_show(semi + 1, out + tlen + 2, outsz - tlen - 2) < 0)
		out[0] = 0;
}

static bool remote_relay(const char *relay)
{
	return relay && relay[0] && strcmp(relay, "local") != 0 &&
	       strcmp(relay, "none") != 0 && strcmp(relay, "discard") != 0 &&
	       strcmp(relay, "error") != 0 && strcmp(relay, "retry") != 0;
}

static bool has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

static const char *subject_of(enum qmgr_notice k)
{
	switch (k) {
	case QMGR_NOTICE_DELAY:
		return "Delayed Mail (still being retried)";
	case QMGR_NOTICE_SUCCESS:
		return "Successful Mail Delivery Report";
	case QMGR_NOTICE_2BOUNCE:
		return "Postmaster Copy: Undelivered Mail";
	default:
		return "Undelivered Mail Returned to Sender";
	}
}

static int put_headers(struct buf *b, const struct qmgr_dsn *d,
                       const char *boundary, bool eight)
{
	char date[64];
	int rc = 0;
	rc |= put_field(b, "Date", qmgr_rfc822_date(d->now_s, date, sizeof(date)));
	rc |= buf_printf(b, "From: %s (Mail Delivery System)\n", d->from);
	rc |= put_field(b, "Subject", subject_of(d->kind));
	rc |= buf_printf(b, "To: <%s>\n", d->to);
	rc |= buf_printf(b, "Message-Id: <%s@%s>\n", d->report_id, d->hostname);
	rc |= buf_append_str(b, "Auto-Submitted: auto-replied\n"
	                        "MIME-Version: 1.0\n"
	                        "Content-Type: multipart/report; "
	                        "report-type=delivery-status;\n");
	rc |= buf_printf(b, "\tboundary=\"%s\"\n", boundary);
	if (eight)
		rc |= buf_append_str(b, "Content-Transfer-Encoding: 8bit\n");
	rc |= buf_append_str(b, "\nThis is a MIME-encapsulated message.\n\n");
	return rc ? -1 : 0;
}

static int put_human(struct buf *b, const struct qmgr_dsn *d,
                     const struct qmgr_dsn_rcpt *r, size_t n)
{
	char until[64];
	int rc = buf_printf(b,
	                    "Content-Description: Notification\n"
	                    "Content-Type: text/plain; charset=us-ascii\n\n"
	                    "This is the mail system at host %s.\n\n",
	                    d->hostname);
	switch (d->kind) {
	case QMGR_NOTICE_DELAY:
		rc |= buf_printf(
		        b,
		        "Your message has not been delivered yet to the\n"
		        "recipients listed below. The mail system keeps trying\n"
		        "until %s;\n"
		        "you do not need to send it again. If it cannot be\n"
		        "delivered by then, you will receive another notice.\n",
		        qmgr_rfc822_date(d->retry_until_s, until, sizeof(until)));
		break;
	case QMGR_NOTICE_SUCCESS:
		rc |= buf_append_str(
		        b, "Your message was delivered to the recipients listed\n"
		           "below, as you asked with a delivery status\n"
		           "notification request.\n");
		break;
	case QMGR_NOTICE_2BOUNCE:
		rc |= buf_printf(
		        b,
		        "A delivery status notification for the sender <%s>\n"
		        "could not be delivered. Its header and the reasons\n"
		        "follow.\n",
		        d->sender);
		break;
	default:
		rc |= buf_printf(
		        b,
		        "Your message could not be delivered to one or more of\n"
		        "its recipients. It is returned to you with this report.\n\n"
		        "If you need help, contact <postmaster@%s> and\n"
		        "include this report.\n",
		        d->hostname);
		break;
	}
	rc |= buf_append_str(b, "\n                   The mail system\n\n");
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* The address goes through the wrapping too: one of
		 * QUEUE_ADDR_MAX bytes would not fit in a line by itself. */
		struct buf t;
		buf_init(&t, 0);
		(void)buf_printf(&t, "<%s>: %s", r[i].address,
		                 r[i].reason ? r[i].reason : "");
		rc |= put_wrapped(b, "", buf_cstr(&t), "    ");
		rc |= buf_append_char(b, '\n');
		buf_deinit(&t);
	}
	return rc ? -1 : 0;
}

static int put_rcpt_status(struct buf *b, const struct qmgr_dsn *d,
                           const struct qmgr_dsn_rcpt *r)
{
	char tmp[QUEUE_ADDR_MAX + 64], date[64];
	int rc = buf_append_char(b, '\n');
	(void)snprintf(tmp, sizeof(tmp), "%s; %s",
	               has_8bit(r->address, strlen(r->address)) ? "utf-8"
	                                                        : "rfc822",
	               r->address);
	rc |= put_field(b, "Final-Recipient", tmp);
	if (r->orcpt) {
		orcpt_text(r->orcpt, tmp, sizeof(tmp));
		if (tmp[0])
			rc |= put_field(b, "Original-Recipient", tmp);
	}
	rc |= buf_printf(b, "Action: %s\nStatus: %s\n", r->action, r->status);
	const char *reason = r->reason ? r->reason : "";
	if (remote_relay(r->relay)) {
		size_t hl = strcspn(r->relay, "[:");
		(void)snprintf(tmp, sizeof(tmp), "dns; %.*s", (int)hl, r->relay);
		rc |= put_field(b, "Remote-MTA", tmp);
		/* smtp reports "host X said: 550 ..."; the code is what
		 * the remote server said. */
		const char *said = strstr(reason, " said: ");
		struct buf v;
		buf_init(&v, 0);
		(void)buf_printf(&v, "smtp; %s", said ? said + 7 : reason);
		rc |= put_field(b, "Diagnostic-Code", buf_cstr(&v));
		buf_deinit(&v);
	} else if (reason[0]) {
		struct buf v;
		buf_init(&v, 0);
		(void)buf_printf(&v, "x-unix; %s", reason);
		rc |= put_field(b, "Diagnostic-Code", buf_cstr(&v));
		buf_deinit(&v);
	}
	if (r->last_attempt)
		rc |= put_field(b, "Last-Attempt-Date",
		                qmgr_rfc822_date(r->last_attempt, date,
		                                 sizeof(date)));
	if (d->kind == QMGR_NOTICE_DELAY && d->retry_until_s)
		rc |= put_field(b, "Will-Retry-Until",
		                qmgr_rfc822_date(d->retry_until_s, date,
		                                 sizeof(date)));
	return rc ? -1 : 0;
}

static int put_status(struct buf *b, const struct qmgr_dsn *d,
                      const struct qmgr_dsn_rcpt *r, size_t n)
{
	char tmp[QUEUE_ADDR_MAX + 64], date[64];
	int rc = buf_append_str(b, "Content-Description: Delivery report\n"
	                           "Content-Type: message/delivery-status\n\n");
	rc |= buf_printf(b, "Reporting-MTA: dns; %s\n", d->hostname);
	rc |= buf_printf(b, "X-Posthorn-Queue-ID: %s\n", d->queue_id);
	(void)snprintf(tmp, sizeof(tmp), "rfc822; %s", d->sender);
	rc |= put_field(b, "X-Posthorn-Sender", tmp);
	if (d->envid && d->envid[0] &&
	    xtext_show(d->envid, tmp, sizeof(tmp)) > 0)
		rc |= put_field(b, "Original-Envelope-Id", tmp);
	rc |= put_field(b, "Arrival-Date",
	                qmgr_rfc822_date(d->arrival_s, date, sizeof(date)));
	for (size_t i = 0; i < n && rc == 0; i++)
		rc |= put_rcpt_status(b, d, &r[i]);
	return rc ? -1 : 0;
}

int qmgr_dsn_build(const struct qmgr_dsn *d, const struct qmgr_dsn_rcpt *r,
                   size_t n, struct buf *out)
{
	char boundary[QUEUE_ID_SIZE + 64];
	bool eight = has_8bit(d->orig, d->orig_len);
	for (size_t i = 0; i < n; i++)
		eight |= has_8bit(r[i].address, strlen(r[i].address));
	(void)snprintf(boundary, sizeof(boundary), "%s.%lld/%s", d->report_id,
	               (long long)d->now_s, d->hostname);
	int rc = put_headers(out, d, boundary, eight);
	rc |= buf_printf(out, "--%s\n", boundary);
	rc |= put_human(out, d, r, n);
	rc |= buf_printf(out, "--%s\n", boundary);
	rc |= put_status(out, d, r, n);
	rc |= buf_printf(out, "\n--%s\n", boundary);
	rc |= buf_printf(out,
	                 "Content-Description: %s\n"
	                 "Content-Type: %s\n",
	                 d->kind == QMGR_NOTICE_2BOUNCE
	                         ? "Undelivered Notification Headers"
	                 : d->full ? "Undelivered Message"
	                           : "Message Headers",
	                 d->full ? "message/rfc822" : "text/rfc822-headers");
	if (eight)
		rc |= buf_append_str(out, "Content-Transfer-Encoding: 8bit\n");
	rc |= buf_append_char(out, '\n');
	rc |= buf_append(out, d->orig, d->orig_len);
	if (d->orig_len == 0 || d->orig[d->orig_len - 1] != '\n')
		rc |= buf_append_char(out, '\n');
	rc |= buf_printf(out, "\n--%s--\n", boundary);
	return rc ? -1 : 0;
}
