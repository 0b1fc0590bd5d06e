/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_ADDR_H
#define POSTHORN_SMTPD_SMTPD_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * RFC 5321 4.1.2 paths as they appear in MAIL FROM and RCPT TO:
 *   "<" [ A-d-l ":" ] Mailbox ">", the null path "<>" (MAIL only), and
 *   "<Postmaster>" without a domain (RCPT only, RFC 5321 4.1.1.3).
 * Strict: the angle brackets are required, dot-strings have no empty
 * atoms, quoted strings use only qtextSMTP and quoted-pairSMTP, domains
 * are LDH labels, address literals are IPv4 or "IPv6:" addresses (general
 * literals are refused: nothing here could route them). A source route
 * (@a,@b:user@c) is checked and then ignored (RFC 5321 C). With
 * SMTPUTF8 (RFC 6531 3.3) well-formed UTF-8 is allowed in local parts,
 * quoted strings and domain labels; without it any non-ASCII byte is
 * refused with its own error (553 5.6.7, not a syntax error).
 *
 * Lengths: RFC 5321 4.5.3.1 limits a local part to 64 octets, but
 * VERP and SRS addresses often exceed it and RFC 5321 asks servers to be
 * liberal here, so the bounds are 256 (local part), 255 (domain, labels
 * 63) and 1000 for the whole path including any source route.
 */
#define SMTPD_ADDR_LOCAL_MAX 256
#define SMTPD_ADDR_DOMAIN_MAX 255
#define SMTPD_ADDR_PATH_MAX 1000
/* The external form: local part quoted (every byte may need a
 * backslash), "@", domain. */
#define SMTPD_ADDR_TEXT_MAX (2 * SMTPD_ADDR_LOCAL_MAX + 2 + 1 + \
			     SMTPD_ADDR_DOMAIN_MAX)

/* smtpd_addr_parse() flags */
#define SMTPD_ADDR_NULL_OK 0x1u    /* "<>" is allowed (MAIL FROM) */
#define SMTPD_ADDR_UTF8 0x2u       /* SMTPUTF8 was given */
#define SMTPD_ADDR_POSTMASTER 0x4u /* "<Postmaster>" is allowed (RCPT) */

enum smtpd_addr_err {
	SMTPD_ADDR_OK = 0,
	SMTPD_ADDR_ESYNTAX,  /* not a path */
	SMTPD_ADDR_ETOOLONG, /* a part over its bound */
	SMTPD_ADDR_E8BIT,    /* non-ASCII without SMTPUTF8 */
};

struct smtpd_addr {
	/* Local part in internal form: quotes and backslashes removed.
	 * May hold any printable ASCII (and UTF-8), never NUL or controls. */
	char local[SMTPD_ADDR_LOCAL_MAX + 1];
	size_t local_len;
	/* Domain in lower case (ASCII letters folded), or the literal as
	 * written with its brackets ("[192.0.2.1]", "[IPv6:2001:db8::1]");
	 * "" for the null path and for bare <Postmaster>. */
	char domain[SMTPD_ADDR_DOMAIN_MAX + 1];
	/* The literal's address without brackets or tag, "" otherwise. */
	char literal[64];
	bool null;       /* <> */
	bool postmaster; /* <Postmaster> without domain */
	bool quoted;     /* the local part was a quoted string */
	bool utf8;       /* non-ASCII bytes occur */
	bool routed;     /* a source route was given (and dropped) */
};

/*
 * Parses the path at p[0..len), which must start with '<'. flags as
 * above. On success fills *out and sets *used_out to the bytes up to and
 * including '>' (what follows is the caller's: parameters). Returns an
 * error code; *out is undefined after an error.
 */
enum smtpd_addr_err smtpd_addr_parse(const char *p, size_t len,
				     unsigned flags, struct smtpd_addr *out,
				     size_t *used_out);

/*
 * Writes the external form of a into out: "" for the null path,
 * "local@domain" with the local part as a dot-string when it is one and
 * as a minimal quoted string otherwise. Bare <Postmaster> gives
 * "Postmaster" followed by "@" and default_domain. Returns the length,
 * or -1 when out is too small (size SMTPD_ADDR_TEXT_MAX + 1 always fits).
 */
int smtpd_addr_format(const struct smtpd_addr *a, const char *default_domain,
		      char *out, size_t outsz);

/*
 * Length of the well-formed UTF-8 sequence for one non-ASCII character at
 * p[0..n) (2..4), or 0 when it is malformed (overlong, surrogate, above
 * U+10FFFF, truncated) or p[0] is ASCII.
 */
size_t smtpd_utf8_char(const unsigned char *p, size_t n);

/* True when s[0..len) is ASCII letters, digits and hyphens in labels
 * separated by single dots, no label starting or ending with a hyphen,
 * labels <= 63, total <= 255 (a HELO name or a relay domain); with utf8,
 * well-formed non-ASCII characters count as letters. */
bool smtpd_domain_valid(const char *s, size_t len, bool utf8);

#endif
