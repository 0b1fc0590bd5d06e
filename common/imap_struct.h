/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_IMAP_STRUCT_H
#define POSTHORN_COMMON_IMAP_STRUCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/mime.h"

/*
 * IMAP FETCH data computed from a parsed message (RFC 3501 7.4.2 and the
 * grammar in section 9): ENVELOPE, BODYSTRUCTURE and BODY, as the exact
 * response text imapd writes after the item name. Data only: no session,
 * no socket. A value is written as NIL, a quoted string, or a literal
 * {n}CRLF... when it holds CR, LF or 8-bit bytes (IMAP4rev1 quoted
 * strings are 7-bit); NUL, which no IMAP string may hold, is sent as 0x80.
 *
 * Conventions (the ones the big servers use, so clients know them):
 * type, subtype, encoding, parameter and disposition names are sent in
 * upper case; a text part without a charset is given ("CHARSET" "US-ASCII")
 * (RFC 2045 5.2); an absent encoding is "7BIT"; RFC 2231 parameters are
 * sent merged but still encoded, named with a trailing "*" (see
 * mime_params.h); ENVELOPE strings are the unfolded header text, encoded
 * words included, for the client to decode.
 */

/* Flags for imap_struct_body(). */
#define IMAP_STRUCT_EXTENDED 0x1u /* BODYSTRUCTURE; without it: BODY */
#define IMAP_STRUCT_GLOBAL                                                     \
	0x2u /* IMAP4rev2 (RFC 9051): describe                                 \
	        message/global like message/rfc822;                            \
	        IMAP4rev1 has it as a basic part */

/* Appends s as an IMAP string (quoted or literal), or NIL when s->p is
 * NULL. 0, or -1 when out's maximum would be exceeded. */
int imap_struct_nstring(struct buf *out, const struct rfc822_str *s);

/* Appends the ENVELOPE of the message whose header is hdr[0..len): the
 * parenthesised list, RFC 3501 7.4.2. 0 or -1 (out full). */
int imap_struct_envelope(struct buf *out, const char *hdr, size_t len);

/* Appends BODYSTRUCTURE (IMAP_STRUCT_EXTENDED) or BODY of m. 0 or -1. */
int imap_struct_body(struct buf *out, const struct mime_msg *m, unsigned flags);

/*
 * The mailbox index caches, per message, what FETCH answers most often,
 * computed once at delivery (or first access): the final response strings,
 * not the part tree. Serving them is a copy, with no parse and no file
 * read; anything that needs the tree (BODY[1.2], BINARY) reads the file
 * anyway, and parsing it then costs less than reading it. The blob is
 * versioned so the format can grow; an unknown version is a cache miss.
 *
 * Blob v1 (integers big-endian):
 *   "PHS" 0x01 | u64 RFC822.SIZE | u64 body lines of the root |
 *   u32 n, n bytes ENVELOPE | u32 n, n bytes BODYSTRUCTURE | u32 n, n bytes
 * BODY
 */
#define IMAP_STRUCT_CACHE_VERSION 1

struct imap_struct_cache {
	uint64_t size;  /* RFC822.SIZE */
	uint64_t lines; /* lines of the root body (SEARCH, statistics) */
	const char *envelope, *bodystructure, *body; /* into the blob */
	size_t envelope_len, bodystructure_len, body_len;
};

/* Appends the cache blob for m (IMAP4rev1 strings). 0 or -1 (out full). */
int imap_struct_cache_build(struct buf *out, const struct mime_msg *m);

/*
 * Reads a blob (e.g. straight from LMDB) without copying: the strings in
 * *out point into blob. 0, or -1 when it is not a valid blob of a version
 * this code knows (treat as a miss: recompute and store again).
 */
int imap_struct_cache_parse(const void *blob, size_t len,
                            struct imap_struct_cache *out);

#endif
