/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_RESP_H
#define POSTHORN_IMAPD_IMAPD_RESP_H

#include <stddef.h>

#include "common/buf.h"

/*
 * Strings in server responses (RFC 3501 4.3, 9): an atom where the
 * grammar allows one and the text is one, a quoted string for short
 * 7-bit text without CR, LF, NUL, and a literal otherwise. Each appends
 * to out and returns 0, or -1 when out's maximum would be exceeded.
 */

/* string: quoted or literal. */
int imapd_resp_string(struct buf *out, const char *s, size_t len);
/* astring: atom when every byte is an ASTRING-CHAR (and it is not the
 * word NIL), else as imapd_resp_string. */
int imapd_resp_astring(struct buf *out, const char *s, size_t len);
/* nstring: NIL for s NULL. */
int imapd_resp_nstring(struct buf *out, const char *s, size_t len);

#endif
