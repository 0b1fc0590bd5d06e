/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_DATA_H
#define POSTHORN_SMTPD_SMTPD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * The message-content state machine of DATA (RFC 5321 4.1.1.4, 4.5.2)
 * and BDAT (RFC 3030), fed any split of the client's bytes, producing
 * the stored form (queue_file.h: lines ending in a bare LF).
 *
 * DATA ends only at CR LF "." CR LF: the "." line must end in CR LF and
 * the line before it too (the DATA command's own CR LF counts). That
 * alone defeats the 2023 SMTP smuggling variants: "\n.\n", "\n.\r\n",
 * "\r.\r", "\r\n.\r" and the like are content, never an end, so bytes
 * after them can never become a second message. A line "." that is not
 * the end is kept as "." (not unstuffed: an empty line there could
 * change the header/body split); any other line starting with "." loses
 * that dot (dot-unstuffing, 4.5.2).
 *
 * Bare line ends, after Postfix's smtpd_forbid_bare_newline:
 *   NORMALIZE  a bare LF, and a bare CR, end a line as CR LF would
 *              (stored as LF); they never make an end of DATA.
 *   REJECT     the same, but the message is marked (bare_lf/bare_cr)
 *              for the caller to refuse once the real end arrives.
 *   NO         a bare LF ends a line; a bare CR is kept as a data byte.
 *              Unlike Postfix's "no", ".\n" still does not end DATA
 *              (DESIGN.md: bare LF never ends a message).
 *
 * Limits: a line longer than max_line (terminator included) sets
 * too_long; content beyond max_size sets too_big. Either stops output
 * but not the search for the end, so the session stays in step and the
 * caller answers once (500 / 552).
 */
enum smtpd_bare_mode {
	SMTPD_BARE_NORMALIZE,
	SMTPD_BARE_REJECT,
	SMTPD_BARE_NO,
};

/* "normalize" (also "yes"), "reject", "no"; 0 or -1 for anything else. */
int smtpd_bare_mode_parse(const char *s, enum smtpd_bare_mode *out);

struct smtpd_data {
	/* settings */
	bool dot; /* DATA (dot rules and end marker); false for BDAT */
	enum smtpd_bare_mode mode;
	uint64_t max_size;
	size_t max_line;
	struct buf *out; /* stored bytes are appended here */
	/* state */
	int st;
	bool prev_crlf; /* the last line ended in a real CR LF */
	size_t line_len;
	/* results */
	uint64_t size; /* content bytes received (as sent, terminators
			  included, the end marker excluded) */
	bool bare_lf, bare_cr, too_long, too_big;
	bool eightbit; /* a byte >= 0x80 was stored */
	bool done;
};

/* Starts a message. out receives the stored bytes; the caller drains it
 * (writes and resets it) between feeds as it likes. */
void smtpd_data_init(struct smtpd_data *d, bool dot, enum smtpd_bare_mode mode,
		     uint64_t max_size, size_t max_line, struct buf *out);

/*
 * Feeds p[0..n). Returns 1 when the end of DATA was reached, with
 * *used_out the bytes consumed through the final LF (the rest belongs to
 * the next command), else 0 with all n consumed. Never fails: problems
 * are recorded in the result flags. Calling it after the end returns 1
 * with nothing consumed.
 */
int smtpd_data_feed(struct smtpd_data *d, const char *p, size_t n,
		    size_t *used_out);

/* BDAT LAST: ends the message. A pending CR becomes a bare CR, and a
 * last line without a line end gets one (stored files end in LF). */
void smtpd_data_finish(struct smtpd_data *d);

/* True when the message must be refused (any flag set). The output of
 * a refused message is partial (how much depends on how the input was
 * split) and must be thrown away. */
bool smtpd_data_failed(const struct smtpd_data *d);

#endif
