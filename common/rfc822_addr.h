/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_RFC822_ADDR_H
#define POSTHORN_COMMON_RFC822_ADDR_H

#include <stddef.h>

#include "common/arena.h"
#include "common/rfc822.h"

/*
 * RFC 5322 3.4 address lists (From, To, Cc, ...) parsed into the four
 * parts an IMAP ENVELOPE address has (RFC 3501 7.4.2):
 *
 *   name     display name, RFC 5322 quoting removed, words joined by one
 *            space, encoded words left as they are; NULL when none. With no
 *            display name, a comment after the address is used instead
 *            ("user@host (Real Name)", the old convention).
 *   adl      source route "@a,@b" of an obsolete route-addr, or NULL
 *   mailbox  local part, quoting removed
 *   host     domain (or [literal]); "" (never NULL) when the address has
 *            none, because NIL there means "group syntax" in IMAP
 *
 * Groups ("team: a@b, c@d;") are reported as IMAP does: a start marker
 * with host NULL and the group name in mailbox, the members, then an end
 * marker with all four NULL. An unterminated group is closed at the end.
 *
 * Parsing is lenient (obsolete forms, comments anywhere, CR/LF folding,
 * 8-bit text) and bounded: empty elements are skipped, junk between
 * addresses is ignored, and no more than max addresses (markers
 * included) are returned.
 */
struct rfc822_addr {
	struct rfc822_str name, adl, mailbox, host;
	struct rfc822_addr *next;
};

/*
 * Parses the raw value v[0..len) of an address field. Returns the list (in
 * arena a, like all its strings), or NULL when it holds no address.
 */
struct rfc822_addr *rfc822_addr_parse(struct arena *a, const char *v,
                                      size_t len, size_t max);

#endif
