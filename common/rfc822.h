/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_RFC822_H
#define POSTHORN_COMMON_RFC822_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/*
 * RFC 5322 header blocks on raw message bytes (pointer, length). Lines may
 * end in CRLF or in a bare LF (maildir files usually use LF); both are
 * accepted everywhere. Nothing here allocates except where a struct buf is
 * passed in, and nothing reads past the length it is given.
 */

/* A byte string that may hold NULs; p == NULL means "absent" (IMAP NIL),
 * as opposed to p != NULL with len 0 (the empty string). */
struct rfc822_str {
	const char *p;
	size_t len;
};

/* One header field as it appears in the block. */
struct rfc822_field {
	const char *name; /* field name, no trailing space or colon */
	size_t name_len;
	const char *value; /* raw value after the colon: folding kept, */
	size_t value_len;  /* final line ending not included */
	size_t off;        /* offset of the field in the block */
	size_t len;        /* whole field including its final line ending */
};

struct rfc822_iter {
	const char *p;
	size_t len;
	size_t pos;
};

/*
 * Length of the header block at the start of msg[0..len): everything up to
 * and including the empty line that ends it. A block without an empty line
 * takes the whole input (*blank_out = false); a message starting with an
 * empty line has a header of just that line. blank_out may be NULL.
 */
size_t rfc822_header_len(const char *msg, size_t len, bool *blank_out);

/* Starts iterating over the fields of a header block hdr[0..len) (as
 * measured by rfc822_header_len; the empty line ends the iteration). */
void rfc822_iter_init(struct rfc822_iter *it, const char *hdr, size_t len);

/*
 * The next well-formed field: 1 and *f filled, or 0 at the end. Lines that
 * are not fields (no colon, a name with characters outside RFC 5322
 * ftext, a continuation with no field before it, an mbox "From " line) are
 * skipped. RFC 5322 4.5.3 obsolete white space before the colon is allowed.
 */
int rfc822_iter_next(struct rfc822_iter *it, struct rfc822_field *f);

/* True when a[0..alen) equals b[0..blen) ignoring ASCII case. */
bool rfc822_eq_nocase(const char *a, size_t alen, const char *b, size_t blen);

/* True when f's name is name (ASCII case-insensitive). */
bool rfc822_field_is(const struct rfc822_field *f, const char *name);

/*
 * The first field called name in hdr[0..len): 1 and *f filled, 0 when
 * there is none.
 */
int rfc822_header_find(const char *hdr, size_t len, const char *name,
                       struct rfc822_field *f);

/*
 * Unfolds a raw value into dst (which must have room for len bytes): every
 * CR and LF is removed (RFC 5322 2.2.3 unfolding; a bare CR or LF that is
 * not part of a fold is malformed and goes too), then leading and
 * trailing white space is trimmed. Returns the new length.
 */
size_t rfc822_unfold(const char *v, size_t len, char *dst);

/*
 * FETCH BODY[HEADER.FIELDS (...)] and HEADER.FIELDS.NOT (RFC 3501 6.4.5):
 * appends to out every field of hdr[0..len) whose name is (exclude false)
 * or is not (exclude true) one of names[0..n), in message order, with lines
 * normalised to CRLF (NUL sent as 0x80, as in mime_crlf_append()), then
 * the empty line CRLF. 0, or -1 when out's maximum would be exceeded.
 */
int rfc822_header_filter(const char *hdr, size_t len,
                         const struct rfc822_str *names, size_t n, bool exclude,
                         struct buf *out);

#endif
