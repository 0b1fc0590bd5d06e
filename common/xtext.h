/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_XTEXT_H
#define POSTHORN_COMMON_XTEXT_H

#include <stddef.h>

#include "common/buf.h"

/*
 * RFC 3461 section 4 xtext, the encoding of ENVID and ORCPT values:
 * printable ASCII other than '+' and '=' stands for itself, any other
 * byte is "+XX" with two upper-case hex digits.
 */

/* Decodes p[0..len) into out (at most outsz bytes, not NUL-terminated).
 * The decoded length, or -1 when the text is malformed or does not fit. */
long xtext_decode(const char *p, size_t len, char *out, size_t outsz);
/* Appends the xtext form of p[0..len) to out. 0, or -1 past out's max. */
int xtext_encode(const char *p, size_t len, struct buf *out);

#endif
