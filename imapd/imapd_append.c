/* SPDX-License-Identifier: MIT */
/*
 * imapd_append.c - APPEND (RFC 3501 6.3.11, RFC 4315 APPENDUID)
 *
 * The message arrives as a literal inside the command (the reader has
 * bounded it by imapd_literal_size_limit). Its CRLF line ends become LF
 * in place, because the store keeps maildir files with LF, and it is
 * added with mbox_append(), which returns only once file and index entry
 * are durable: the tagged OK is a promise (DESIGN.md "Durability").
 */
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/str.h"
#include "imapd/imapd_date.h"
#include "imapd/imapd_session.h"

/* CRLF to LF in place; a bare CR stays. Returns the new length. */
static size_t crlf_to_lf(char *p, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			continue;
		p[o++] = p[i];
	}
	return o;
}

void imapd_cmd_append(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_str raw, date, msg;
	struct imapd_flags fl;
	memset(&fl, 0, sizeof(fl));
	int64_t t = 0;
	int tz = 0;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &raw) < 0 ||
	    imapd_args_sp(a) < 0)
		return imapd_cmd_syntax(c, s);
	if (imapd_args_peek(a, '(')) {
		if (imapd_parse_flags(a, false, &fl) < 0 ||
		    imapd_args_sp(a) < 0)
			return imapd_cmd_syntax(c, s);
	}
	if (imapd_args_peek(a, '"')) {
		if (imapd_args_string(a, &date) < 0 || imapd_args_sp(a) < 0)
			return imapd_cmd_syntax(c, s);
		if (imapd_datetime_parse(date.p, date.len, &t, &tz) < 0)
			return imapd_cmd_bad(c, s,
			                     "Error in IMAP command "
			                     "APPEND: Invalid date-time");
	}
	if (imapd_args_literal_ref(a, &msg) < 0 || imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	const char *name = imapd_folder_name(s, c, &raw);
	if (!name)
		return;
	if (msg.len == 0)
		return imapd_cmd_no(c, s, "Can't save a zero byte message.");
	struct mbox_folder *f;
	struct err e;
	if (!imapd_folder_target(s, c, name, raw.p, &f))
		return;
	/* The literal lives in the command buffer, which is ours until the
	 * next command: convert it where it is. */
	size_t len = crlf_to_lf((char *)msg.p, msg.len);
	struct mbox_part part = {msg.p, len};
	struct mbox_new nm = {
	        .parts = &part,
	        .nparts = 1,
	        .flags = fl.flags,
	        .keywords = fl.kw,
	        .nkeywords = fl.nkw,
	        .internal_date = t ? t : (int64_t)time(NULL),
	        .tz_minutes = tz,
	};
	uint32_t uid;
	struct mbox_status st;
	int rc = mbox_append(f, &nm, &uid, &e);
	if (rc == 0)
		rc = mbox_folder_status(f, &st, &e);
	mbox_folder_close(&f);
	if (rc < 0) {
		log_error("user=<%s>: append to %s: %s", s->user, name, e.msg);
		return imapd_cmd_no(c, s, "[CANNOT] Append failed: %s", e.msg);
	}
	imapd_cmd_ok(c, s, "[APPENDUID %u %u] Append completed.",
	             st.uidvalidity, uid);
}
