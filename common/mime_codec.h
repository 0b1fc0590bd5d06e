/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_MIME_CODEC_H
#define POSTHORN_COMMON_MIME_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * Content-Transfer-Encodings (RFC 2045 6.7 quoted-printable, 6.8 base64)
 * and CRLF line-end normalisation, on struct buf with its hard maximum.
 *
 * Every function that appends returns 0, or -1 when out's maximum would be
 * exceeded; on -1 out may hold part of the result (the caller discards it
 * or turns it into a protocol error). Decoders never fail on bad input:
 * they decode what they can, skip what they cannot, and report it in flags.
 */

/* Decoder findings, OR-ed into *flags_out. */
#define MIME_DEC_BAD_CHAR 0x1u /* bytes outside the alphabet, bad escapes */
#define MIME_DEC_BAD_END 0x2u  /* truncated quantum, data after padding */

/* The value of a hexadecimal digit (either case), or -1. */
int mime_hex_value(char c);

/* ---- base64 ---------------------------------------------------------- */

/* Streaming base64 decoder: feed any split of the input. */
struct mime_b64_dec {
	uint32_t acc;   /* pending bits */
	unsigned nacc;  /* sextets in acc (0..3) */
	unsigned pad;   /* '=' seen: the data has ended */
	unsigned flags; /* MIME_DEC_* so far */
};

void mime_b64_dec_init(struct mime_b64_dec *d);
/* Decodes in[0..len) onto out. White space is skipped silently, other
 * bytes outside the alphabet are skipped and flagged. */
int mime_b64_dec_update(struct mime_b64_dec *d, const char *in, size_t len,
                        struct buf *out);
/* Flushes a partial final quantum (2 or 3 sextets give 1 or 2 bytes; one
 * lone sextet is dropped and flagged). */
int mime_b64_dec_final(struct mime_b64_dec *d, struct buf *out);
/* One-shot decode; flags_out (may be NULL) gets MIME_DEC_*. */
int mime_b64_decode(const char *in, size_t len, struct buf *out,
                    unsigned *flags_out);

/* Encodes with padding. wrap: lines of 76 characters, each ended by CRLF
 * (a body); no wrap: one unbroken run (an RFC 2047 "B" word). */
int mime_b64_encode(const void *in, size_t len, bool wrap, struct buf *out);

/* ---- quoted-printable ------------------------------------------------ */

#define MIME_QP_Q 0x1u      /* decode RFC 2047 "Q": '_' is a space */
#define MIME_QP_BINARY 0x2u /* encode CR and LF as data (=0D, =0A) */

/*
 * Decodes quoted-printable: "=XX" (either case) is a byte, "=" before the
 * line end is a soft break, white space at the end of a line is dropped
 * (RFC 2045 6.7 rule 3); hard line breaks keep the input's CRLF or LF.
 * A "=" not followed by two hex digits is kept literally and flagged.
 * Stateless: input split at line ends decodes the same in pieces.
 */
int mime_qp_decode(const char *in, size_t len, unsigned flags, struct buf *out,
                   unsigned *flags_out);

/*
 * Encodes as quoted-printable with lines of at most 76 characters: "=",
 * controls and 8-bit bytes as =XX, white space before a line end as =20 or
 * =09, soft breaks "=\r\n". Text (flags 0): every LF or CRLF of the input
 * is a hard line break written as CRLF, a bare CR is =0D. MIME_QP_BINARY:
 * CR and LF are encoded too. Stateless: input split after LFs (text mode)
 * encodes the same in pieces, so a body can be encoded line by line.
 */
int mime_qp_encode(const void *in, size_t len, unsigned flags, struct buf *out);

/* ---- CRLF normalisation -------------------------------------------- */

/*
 * IMAP (and SMTP) peers get lines ending in CRLF, while maildir files
 * usually end lines in a bare LF. "Normalised" octets are the bytes with
 * every LF not preceded by CR turned into CRLF (a bare CR stays as it is).
 * RFC822.SIZE, body sizes and partial FETCH offsets count normalised
 * octets. Line counts: the LFs, plus one for a final line without one.
 */

/* Normalised size and line count of p[0..len); either out may be NULL. */
void mime_crlf_measure(const char *p, size_t len, size_t *size_out,
                       size_t *lines_out);
static inline size_t mime_crlf_size(const char *p, size_t len)
{
	size_t n;
	mime_crlf_measure(p, len, &n, NULL);
	return n;
}

#define MIME_CRLF_NUL 0x1u /* NUL becomes 0x80 (IMAP literals: CHAR8) */

/* Appends the normalised octets of p[0..len), skipping the first skip of
 * them and appending at most max (IMAP partial FETCH <skip.max>). */
int mime_crlf_append(struct buf *out, const char *p, size_t len, size_t skip,
                     size_t max, unsigned flags);

#endif
