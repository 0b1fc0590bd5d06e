/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_IMAPD_IMAPD_UTF7_H
#define POSTHORN_IMAPD_IMAPD_UTF7_H

#include <stddef.h>

#include "common/buf.h"

/*
 * Modified UTF-7 mailbox names (RFC 3501 5.1.3): printable ASCII stands
 * for itself except "&", written "&-"; other characters are UTF-16 in
 * base64 (with "," for "/") between "&" and "-". IMAP4rev1 clients send
 * names this way and the mailbox store keeps them so on disk, as other
 * Maildir++ servers do.
 *
 * The decoder is strict, so every name has one spelling: no printable
 * ASCII inside a base64 run, no empty or adjacent runs, zero padding
 * bits, surrogates only in pairs, no bytes outside printable ASCII.
 */

/* Appends the UTF-8 form of the modified UTF-7 s[0..len). 0, or -1 when s
 * is not valid modified UTF-7 or out is full (out may hold part). */
int imapd_utf7_to_utf8(const char *s, size_t len, struct buf *out);

/* Appends the modified UTF-7 form of UTF-8 s[0..len). 0, or -1 when s is
 * not valid UTF-8 (no surrogates, no overlongs), holds a control
 * character, or out is full. */
int imapd_utf8_to_utf7(const char *s, size_t len, struct buf *out);

/* 0 when s[0..len) is valid modified UTF-7, else -1. */
int imapd_utf7_check(const char *s, size_t len);

#endif
