/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_READER_H
#define POSTHORN_IMAPD_IMAPD_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * Assembles IMAP commands from the bytes a client sends (RFC 3501 2.2,
 * 7.5; RFC 7888 LITERAL+): lines, and the literals announced at their
 * ends. A push parser: the caller feeds whatever arrived, in pieces of
 * any size, and acts on the event returned; nothing here does I/O.
 *
 * A finished command is in cmd as received, without its final line end,
 * each literal kept inline as "{n}\r\n" followed by its n bytes (the "+"
 * of a non-synchronizing literal is dropped, a bare LF after the header
 * becomes CRLF), so imapd_args.h can parse it in one pass.
 *
 * Bounds: the line text of one command (literals excluded) is at most
 * line_max bytes; one literal at most literal_max; all literals of one
 * command together at most literal_max + line_max. An over-long line is
 * read to its end and thrown away; a non-synchronizing literal that is
 * too big is read and thrown away with the rest of its command; a
 * synchronizing one is refused before the client sends it. Either way the
 * next command is read normally (resynchronisation).
 */

enum imapd_read_event {
	IMAPD_READ_MORE,     /* everything given was consumed; feed more */
	IMAPD_READ_CONTINUE, /* a synchronizing literal is next: send a
	                        continuation ("+ ..."), then feed more */
	IMAPD_READ_COMMAND,  /* a complete command is in cmd */
	IMAPD_READ_TOO_LONG, /* the command's line text was too long; the
	                        command has been skipped */
	IMAPD_READ_TOO_BIG,  /* a literal over the limit; the command has
	                        been skipped (or, synchronizing, refused) */
};

#define IMAPD_READER_TAG_MAX 64

struct imapd_reader {
	struct buf cmd;     /* the command being assembled / finished */
	size_t line_max;    /* bound on line text per command */
	size_t literal_max; /* bound on one literal */
	size_t line_used;   /* line text of the current command so far */
	size_t seg;         /* where the current line's text starts in cmd
	                       (after the last literal) */
	uint64_t lit_total; /* literal bytes of the current command */
	uint64_t lit_left;  /* bytes of the current literal still to come */
	int state;          /* see imapd_reader.c */
	bool done;          /* an event ended the command: reset first */
	int skip_event;     /* the event to report once skipping ends */
	char tail[24];      /* last bytes of a line being skipped */
	size_t tail_len;
	char tag[IMAPD_READER_TAG_MAX + 1]; /* tag of an aborted command */
	uint64_t bytes_in; /* every byte consumed, for the log */
};

/* Prepares r with the two bounds (bytes). */
void imapd_reader_init(struct imapd_reader *r, size_t line_max,
                       size_t literal_max);
/* Releases r's storage. */
void imapd_reader_deinit(struct imapd_reader *r);

/*
 * Consumes bytes of p[0..n) until an event: *used_out says how many were
 * consumed (the rest belongs to later commands: feed it again). A new
 * command starts after COMMAND, TOO_LONG and TOO_BIG (the next call
 * empties cmd first). Never fails; n may be 0.
 */
enum imapd_read_event imapd_reader_feed(struct imapd_reader *r, const char *p,
                                        size_t n, size_t *used_out);

/* After TOO_LONG or TOO_BIG: the tag of the command, or "*" when none
 * could be read. */
const char *imapd_reader_tag(const struct imapd_reader *r);

/* True while the reader is inside a command (some of it has arrived). */
bool imapd_reader_busy(const struct imapd_reader *r);

#endif
