/* SPDX-License-Identifier: MIT */
/*
 * smtpd_data.c - the DATA/BDAT content state machine
 *
 * Byte-driven, so the result cannot depend on how the network split the
 * input (the unit tests feed every case one byte at a time and whole).
 * Recognises line ends, dot-stuffing and the end of DATA, converts line
 * ends to LF and counts size and line length. It does no I/O: the caller
 * reads the socket (stream_read_part, never past the end line) and
 * writes d->out to the queue file.
 */
#include "smtpd_data.h"

#include <string.h>

#include "common/str.h"

enum {
	ST_BOL,    /* at the start of a line */
	ST_MID,    /* inside a line */
	ST_CR,     /* a CR inside a line, LF or not to follow */
	ST_DOT,    /* DATA: "." at the start of a line */
	ST_DOT_CR, /* DATA: ".\r" at the start of a line */
};

int smtpd_bare_mode_parse(const char *s, enum smtpd_bare_mode *out)
{
	if (str_eq_nocase(s, "normalize") || str_eq_nocase(s, "yes"))
		*out = SMTPD_BARE_NORMALIZE;
	else if (str_eq_nocase(s, "reject"))
		*out = SMTPD_BARE_REJECT;
	else if (str_eq_nocase(s, "no"))
		*out = SMTPD_BARE_NO;
	else
		return -1;
	return 0;
}

void smtpd_data_init(struct smtpd_data *d, bool dot, enum smtpd_bare_mode mode,
		     uint64_t max_size, size_t max_line, struct buf *out)
{
	memset(d, 0, sizeof(*d));
	d->dot = dot;
	d->mode = mode;
	d->max_size = max_size;
	d->max_line = max_line;
	d->out = out;
	d->st = ST_BOL;
	/* The CR LF of the DATA command itself precedes the content, so
	 * "DATA\r\n.\r\n" is an empty message (RFC 5321 4.1.1.4). */
	d->prev_crlf = true;
}

bool smtpd_data_failed(const struct smtpd_data *d)
{
	return d->too_big || d->too_long ||
	       (d->mode == SMTPD_BARE_REJECT && (d->bare_lf || d->bare_cr));
}

/* Appends to the output unless the message is refused already: a refused
 * message is read to its end but not stored. */
static void put(struct smtpd_data *d, const char *p, size_t n)
{
	if (d->size > d->max_size)
		d->too_big = true;
	if (smtpd_data_failed(d))
		return;
	if (!d->eightbit)
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] >= 0x80)
				d->eightbit = true;
	if (buf_append(d->out, p, n) < 0)
		d->too_big = true; /* the caller's buffer bound */
}

/* Line content (not terminators). */
static void content(struct smtpd_data *d, const char *p, size_t n)
{
	d->line_len += n;
	/* max_line counts the CR LF too (RFC 5321 4.5.3.1.6). */
	if (d->line_len + 2 > d->max_line)
		d->too_long = true;
	put(d, p, n);
}

static void line_end(struct smtpd_data *d, bool crlf)
{
	put(d, "\n", 1);
	d->prev_crlf = crlf;
	d->line_len = 0;
	d->st = ST_BOL;
}

/* A CR not followed by LF (the byte after it is not consumed). */
static void bare_cr(struct smtpd_data *d)
{
	d->bare_cr = true;
	if (d->mode == SMTPD_BARE_NO) {
		content(d, "\r", 1);
		d->st = ST_MID;
	} else
		line_end(d, false);
}

int smtpd_data_feed(struct smtpd_data *d, const char *p, size_t n,
		    size_t *used_out)
{
	size_t i = 0;
	if (d->done) {
		*used_out = 0;
		return 1;
	}
	while (i < n) {
		char c = p[i];
		switch (d->st) {
		case ST_BOL:
			if (d->dot && c == '.') {
				d->st = ST_DOT;
				d->line_len = 1;
				d->size++;
				i++;
			} else
				d->st = ST_MID;
			break;
		case ST_MID: {
			size_t j = i;
			while (j < n && p[j] != '\r' && p[j] != '\n')
				j++;
			if (j > i) {
				d->size += j - i;
				content(d, p + i, j - i);
				i = j;
				break;
			}
			d->size++;
			i++;
			if (c == '\r')
				d->st = ST_CR;
			else {
				d->bare_lf = true;
				line_end(d, false);
			}
			break;
		}
		case ST_CR:
			if (c == '\n') {
				d->size++;
				i++;
				line_end(d, true);
			} else
				bare_cr(d); /* c is looked at again */
			break;
		case ST_DOT:
			if (c == '\r') {
				d->st = ST_DOT_CR;
				d->size++;
				i++;
			} else if (c == '\n') {
				/* ".\n": content, kept as "." */
				d->bare_lf = true;
				d->size++;
				i++;
				put(d, ".", 1);
				line_end(d, false);
			} else
				d->st = ST_MID; /* unstuffed: drop the dot */
			break;
		case ST_DOT_CR:
			if (c == '\n' && d->prev_crlf) {
				/* CR LF . CR LF: the end (the marker's
				 * three bytes are not content). */
				d->size -= 2;
				d->done = true;
				*used_out = i + 1;
				return 1;
			}
			if (c == '\n') {
				/* "." CR LF after a bare line end. */
				d->size++;
				i++;
				put(d, ".", 1);
				line_end(d, true);
			} else if (d->mode == SMTPD_BARE_NO) {
				/* ".\r" + data: an unstuffed line. */
				d->st = ST_CR;
				d->line_len = 0;
			} else {
				/* "." ended by a bare CR: kept as ".". */
				put(d, ".", 1);
				d->st = ST_CR;
			}
			break;
		}
	}
	*used_out = n;
	return 0;
}

void smtpd_data_finish(struct smtpd_data *d)
{
	if (d->done)
		return;
	if (d->st == ST_CR)
		bare_cr(d);
	if (d->st == ST_MID)
		line_end(d, false);
	d->done = true;
}
