/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_POP3D_POP3D_SEND_H
#define POSTHORN_POP3D_POP3D_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * The encoding of a message for RETR and TOP (RFC 1939 sections 3, 7):
 * the stored bytes with every LF not preceded by CR sent as CRLF (the
 * same rule as mbox_crlf_size(), so the octets counted here equal the
 * vsize LIST announces), a "." added before every line that starts with
 * ".", and the terminating ".CRLF" (with a CRLF first when the message
 * does not end with one). TOP sends the header, the empty line after it
 * and then at most n lines of the body.
 *
 * Works on pieces of any size (a line may span pieces); pure, no I/O.
 */
struct pop3d_send {
	bool top;          /* TOP: stop after the header and `lines` lines */
	uint64_t lines;    /* body lines still to send (TOP) */
	bool in_header;    /* before the empty line that ends the header */
	bool done;         /* TOP has sent all it must */
	bool bol;          /* at the start of a line */
	bool prev_cr;      /* the last byte sent was a CR */
	uint64_t line_len; /* bytes of the current line so far */
	uint64_t octets;   /* message octets sent, CRLF, without stuffing */
	uint64_t stuffed;  /* dots added by byte-stuffing */
};

/* Starts a RETR (top false) or a TOP with `lines` body lines. */
void pop3d_send_init(struct pop3d_send *ps, bool top, uint64_t lines);

/*
 * Encodes in[0..len) and appends the result to out (whose max must allow
 * 2 * len + 1 more bytes). Returns the bytes of in used: len, or fewer
 * once TOP is done (ps->done; the rest of the message is not needed).
 */
size_t pop3d_send_chunk(struct pop3d_send *ps, const char *in, size_t len,
                        struct buf *out);

/* Appends the end of the multi-line response: CRLF when the last line
 * had none, then ".CRLF". */
void pop3d_send_finish(struct pop3d_send *ps, struct buf *out);

#endif
