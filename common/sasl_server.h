/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_SASL_SERVER_H
#define POSTHORN_COMMON_SASL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/account.h"
#include "common/buf.h"
#include "common/err.h"

/*
 * Server-side SASL (RFC 4422) for smtpd AUTH (RFC 4954), pop3d AUTH
 * (RFC 5034) and imapd AUTHENTICATE, through Cyrus SASL, checking
 * passwords against the account map (account.h). Mechanisms: PLAIN,
 * LOGIN, and SCRAM-SHA-256 for accounts that carry a SCRAM verifier.
 * IMAP LOGIN and POP3 USER/PASS use sasl_server_check_plain(), the same
 * check without a mechanism.
 *
 * Cyrus SASL is configured entirely in-process (no /etc/sasl2 config file, no
 * sasldb, no saslauthd): see sasl_server.c for what was found necessary.
 *
 * Usage, per process: sasl_server_setup() once (before any chroot: it
 * loads the mechanism plugins from the system library directory). Per
 * client connection: sasl_server_session_new(); after STARTTLS/STLS (or
 * for implicit TLS) sasl_server_session_security(); then for each AUTH
 * command start_b64() and step_b64() until a result other than CONTINUE.
 * Nothing here logs passwords or AUTH payloads; decoded client data is
 * wiped before it is freed. Not thread-safe (one event loop per process).
 */

/* Result of one exchange step; the reply each protocol gives is the
 * caller's (SMTP codes from RFC 4954 6 in brackets). */
enum sasl_server_status {
	SASL_SERVER_CONTINUE, /* send the challenge, await a response (334) */
	SASL_SERVER_OK,       /* authenticated: sasl_server_session_user() */
	SASL_SERVER_FAIL,     /* bad credentials or identity (535 5.7.8) */
	SASL_SERVER_NOMECH,   /* unknown mechanism, or not allowed without
			       * TLS (504 5.5.4 / 538 5.7.11) */
	SASL_SERVER_BADPROT,  /* malformed base64 or client data (501 5.5.2) */
	SASL_SERVER_CANCEL,   /* the client sent "*" (501 5.0.0) */
	SASL_SERVER_TEMPFAIL, /* account database or library trouble
			       * (454 4.7.0) */
};

/* Mechanisms this wrapper can serve. */
#define SASL_SERVER_MECHS_SUPPORTED "PLAIN LOGIN SCRAM-SHA-256"
/* Bounds on one exchange: decoded bytes per client message, and client
 * messages per exchange. */
#define SASL_SERVER_INPUT_MAX 8192
#define SASL_SERVER_STEPS_MAX 8

/*
 * Initialises Cyrus SASL for this process. mechanisms: the mechanisms to
 * offer, separated by spaces or commas (e.g. "PLAIN LOGIN"); each must be
 * one of SASL_SERVER_MECHS_SUPPORTED and present as a plugin (Debian:
 * libsasl2-modules), else -1 with e naming it. accounts: the account map
 * every check uses (the caller keeps it open until sasl_server_cleanup).
 * Calling it again without a cleanup in between is an error.
 */
int sasl_server_setup(struct account_db *accounts, const char *mechanisms,
		      struct err *e);
/* Releases Cyrus SASL; every session must have been freed. */
void sasl_server_cleanup(void);

/*
 * IMAP LOGIN, POP3 USER/PASS: checks user[0..ulen) and pass[0..plen)
 * against the account map. 1 ok (canonical address in canon_out, size
 * > ACCOUNT_ADDR_MAX), 0 bad user or password, -1 temporary failure (e
 * set). The caller wipes pass. Slow (one scrypt).
 */
int sasl_server_check_plain(const char *user, size_t ulen, const char *pass,
			    size_t plen, char *canon_out, size_t canon_outsz,
			    struct err *e);

struct sasl_server_session;

/*
 * A per-connection authentication state. service: "smtp", "pop" or
 * "imap" (the GSSAPI service names, used by Cyrus in its logs);
 * server_fqdn: our host name; local_addr, remote_addr: "ip;port" strings
 * or NULL. Starts as not encrypted with plaintext mechanisms refused.
 * Never fails; free with sasl_server_session_free.
 */
struct sasl_server_session *sasl_server_session_new(const char *service,
						    const char *server_fqdn,
						    const char *local_addr,
						    const char *remote_addr);
/* Frees the session; *sp = NULL; accepts NULL. */
void sasl_server_session_free(struct sasl_server_session **sp);

/*
 * Tells the session about the channel: tls_bits, the cipher strength of
 * the TLS layer (0: not encrypted); plaintext_ok: allow PLAIN and LOGIN on
 * an unencrypted channel (smtpd_tls_auth_only = no). Takes effect at the
 * next start.
 */
void sasl_server_session_security(struct sasl_server_session *s,
				  unsigned tls_bits, bool plaintext_ok);

/* The mechanisms usable now, space-separated ("" when none: then AUTH is
 * not offered). Valid until the next call on s. */
const char *sasl_server_session_mechs(struct sasl_server_session *s);

/*
 * Starts an exchange with mechanism mech (case-insensitive) and the
 * client's initial response ir[0..irlen) (RFC 4954 4: ir NULL when none
 * was sent; irlen 0 for an empty one, sent as "="). On CONTINUE the
 * challenge to send is in *out, *outlen (bytes, may be empty; valid until
 * the next call on s). A new start abandons an exchange in progress.
 */
enum sasl_server_status
sasl_server_session_start(struct sasl_server_session *s, const char *mech,
			  const void *ir, size_t irlen, const void **out,
			  size_t *outlen);
/* Feeds the client's response in[0..len) to the exchange in progress. */
enum sasl_server_status
sasl_server_session_step(struct sasl_server_session *s, const void *in,
			 size_t len, const void **out, size_t *outlen);

/*
 * The same with the base64 text of the protocols: ir/line as the client
 * sent it (without CRLF); "=" is an empty initial response, "*" cancels
 * (step only). On CONTINUE the base64 challenge is appended to *challenge
 * (empty for an empty challenge; the caller writes "334 " + it).
 */
enum sasl_server_status
sasl_server_session_start_b64(struct sasl_server_session *s, const char *mech,
			      const char *ir, size_t irlen,
			      struct buf *challenge);
enum sasl_server_status
sasl_server_session_step_b64(struct sasl_server_session *s, const char *line,
			     size_t len, struct buf *challenge);

/* After OK: the canonical account address (lower case). "" otherwise. */
const char *sasl_server_session_user(const struct sasl_server_session *s);
/* The mechanism of the last exchange, for the log ("" if none). */
const char *sasl_server_session_mech(const struct sasl_server_session *s);
/* After a failure: why, for the log only (never for the client; may
 * name the user, never the password). */
const char *sasl_server_session_reason(const struct sasl_server_session *s);

/*
 * Strict base64 (RFC 4648 4, padded, no white space), used for SASL
 * payloads. decode appends the bytes to out (the caller wipes them after
 * use: they may be a password); 0, or -1 on malformed input or when out's
 * maximum is reached. encode appends the text; 0 or -1 over out's max.
 */
int sasl_server_b64_decode(const char *in, size_t len, struct buf *out);
int sasl_server_b64_encode(const void *in, size_t len, struct buf *out);

#endif
