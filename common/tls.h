/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_TLS_H
#define POSTHORN_COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * TLS on OpenSSL, behind Posthorn's own types: no caller includes an
 * OpenSSL header. A struct tls_ctx holds what is loaded once per process
 * (certificate, key, CA file, ticket key, protocol range); a struct
 * tls_conn is one TLS session on one socket.
 *
 * tls_conn_* operations never block: they return TLS_IO_WANT_READ or
 * TLS_IO_WANT_WRITE when the socket is not ready, and the caller waits
 * (common/stream.c with poll() and a deadline; an event loop could do the
 * same). The socket is read and written with recv()/send(MSG_NOSIGNAL), so
 * TLS writes never raise SIGPIPE.
 *
 * Errors come back as text in a struct err, OpenSSL's error queue included
 * ("unsupported protocol", "key values mismatch" ...).
 */

/* Client security levels, with Postfix's meaning (smtp_tls_security_level):
 * NONE: no TLS. MAY: TLS when offered, no verification; on failure the
 * caller may retry in plaintext. ENCRYPT: TLS required, no verification.
 * VERIFY: TLS required, chain verified against the CA file and the
 * certificate must name the host (the MX host name). SECURE: as VERIFY, but
 * the certificate must name the next-hop domain or a subdomain of it. */
enum tls_level {
	TLS_LEVEL_NONE,
	TLS_LEVEL_MAY,
	TLS_LEVEL_ENCRYPT,
	TLS_LEVEL_VERIFY,
	TLS_LEVEL_SECURE,
};

/* Parses "none", "may", "encrypt", "verify", "secure" (ASCII case
 * ignored). 0 and *out set, or -1 when s is none of them. */
int tls_level_parse(const char *s, enum tls_level *out);
/* The lower-case name of a level. */
const char *tls_level_name(enum tls_level level);

/*
 * Parses a protocol specification into a version range. Versions are the
 * TLS wire codes: 0x0301 TLSv1, 0x0302 TLSv1.1, 0x0303 TLSv1.2, 0x0304
 * TLSv1.3. Accepted forms, items separated by commas, colons or spaces:
 *   ">=TLSv1.2", ">=TLSv1.3", "<=TLSv1.2" (bounds, Postfix 3.6 style);
 *   "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1" (exclusions, older Postfix style);
 *   "TLSv1.2 TLSv1.3" (an explicit list).
 * An empty or NULL spec means ">=TLSv1.2". SSLv2 and SSLv3 are accepted by
 * name but never enabled. The enabled set must be contiguous ("!TLSv1.2"
 * alone would leave 1.1 and 1.3 with a hole, which OpenSSL cannot express
 * with a range): -1 and e filled then, and for an unknown name.
 * *max_out is 0 when there is no upper bound.
 */
int tls_protocols_parse(const char *spec, int *min_out, int *max_out,
                        struct err *e);

/* Server side (smtpd, pop3d, imapd). */
struct tls_server_config {
	/* PEM certificate chain: the server certificate first, then the
	 * intermediates. Required. */
	const char *cert_file;
	/* PEM private key; NULL or "" means it is in cert_file. */
	const char *key_file;
	/* As for tls_protocols_parse(); NULL means ">=TLSv1.2". */
	const char *protocols;
	/* An OpenSSL cipher string for TLS 1.2 and older; NULL means
	 * OpenSSL's defaults (the normal choice). */
	const char *ciphers;
	/* The key that encrypts session tickets, shared by every process of
	 * the service so a client can resume with any of them. 80 random
	 * bytes; the file is created (mode 0600) when missing. NULL or ""
	 * means tickets use a per-process key (resumption only within the
	 * same process). */
	const char *ticket_key_file;
	/* Lifetime of a ticket in seconds; 0 disables resumption. */
	long ticket_lifetime;
};

/* Client side (the smtp delivery agent). */
struct tls_client_config {
	enum tls_level level;
	/* PEM file of trusted CAs; NULL or "" means the system's default
	 * store. Used at every level: at may/encrypt only to tell a
	 * "Trusted" from an "Untrusted" connection in the log. */
	const char *ca_file;
	const char *protocols;
	const char *ciphers;
};

struct tls_ctx;

/* Creates a context; NULL with e filled (which file, what OpenSSL said)
 * when a file is missing, unreadable, malformed, when key and certificate
 * do not match, or when the protocol spec is wrong. Reads files: call it
 * while the files are readable (before a chroot or privilege drop). Free
 * with tls_ctx_free(). */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_config *cfg,
                                   struct err *e);
struct tls_ctx *tls_client_ctx_new(const struct tls_client_config *cfg,
                                   struct err *e);
/* Frees *ctxp (NULL allowed), wipes key material and sets *ctxp to NULL.
 * Every tls_conn made from it must be freed first. */
void tls_ctx_free(struct tls_ctx **ctxp);
/* The security level of a client context (TLS_LEVEL_NONE for a server). */
enum tls_level tls_ctx_level(const struct tls_ctx *ctx);

/* How far the peer's certificate was checked, named as in Postfix's log
 * ("Anonymous TLS connection established from ..."). */
enum tls_trust {
	TLS_TRUST_ANONYMOUS, /* no certificate (every smtpd client) */
	TLS_TRUST_UNTRUSTED, /* a certificate whose chain did not verify */
	TLS_TRUST_TRUSTED,   /* chain verified, name not checked */
	TLS_TRUST_VERIFIED,  /* chain and name verified (verify/secure) */
};
/* "Anonymous", "Untrusted", "Trusted", "Verified". */
const char *tls_trust_name(enum tls_trust trust);

/* Who a client connection talks to. */
struct tls_peer {
	/* The server's host name (the MX host): sent as SNI unless it is an
	 * IP address, and the name checked at level verify. */
	const char *host;
	/* The next-hop domain: at level secure the certificate must name it
	 * or a subdomain of it. */
	const char *nexthop;
	/* A session saved by tls_conn_session_export() to resume, or NULL.
	 * It must come from a connection with the same level, host and
	 * names: a resumed session is not verified again. */
	const void *session;
	size_t session_len;
	/* The level for this connection (a per-destination policy);
	 * TLS_LEVEL_NONE means the context's. Any level works with any
	 * client context: they all load the CA file. */
	enum tls_level level;
	/* At levels verify and secure, the names the certificate must carry
	 * (one is enough) instead of the defaults (host for verify; nexthop
	 * and its subdomains for secure). A name with a leading dot matches
	 * any subdomain of it, not the name itself; an IP address matches
	 * an iPAddress entry. NULL or nmatch 0: the defaults. */
	const char *const *match;
	size_t nmatch;
};

enum tls_io {
	TLS_IO_OK,
	TLS_IO_WANT_READ,  /* wait until the socket is readable, retry */
	TLS_IO_WANT_WRITE, /* wait until the socket is writable, retry */
	TLS_IO_EOF,        /* the peer closed (with or without close_notify) */
	TLS_IO_ERROR,      /* TLS protocol or verification error; e says */
	TLS_IO_SYSERR,     /* recv/send failed (reset ...); e has strerror */
};

struct tls_conn;

/* A connection over socket fd, not yet handshaken. peer is for client
 * contexts only (NULL for a server); its strings are copied. The fd stays
 * the caller's, and ctx must outlive the connection. NULL with e filled
 * when the peer lacks a name its level needs. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd,
                              const struct tls_peer *peer, struct err *e);
/* Frees *cp (NULL allowed) without sending anything; sets it to NULL. */
void tls_conn_free(struct tls_conn **cp);

/* Advances the handshake. TLS_IO_OK when it is complete (and, at levels
 * verify and secure, the certificate verified: otherwise TLS_IO_ERROR with
 * "certificate verification failed: <reason>" in e). This and the calls
 * below answer a WANT code (wait, then call again), TLS_IO_EOF,
 * TLS_IO_ERROR or TLS_IO_SYSERR when they cannot complete; after ERROR or
 * SYSERR the connection is dead. */
enum tls_io tls_conn_handshake(struct tls_conn *c, struct err *e);
/* Reads up to n > 0 bytes; TLS_IO_OK with *got_out > 0, or another code
 * with *got_out = 0. */
enum tls_io tls_conn_read(struct tls_conn *c, void *p, size_t n,
                          size_t *got_out, struct err *e);
/* Writes up to n > 0 bytes; TLS_IO_OK with *put_out > 0. After a WANT
 * the caller must retry with the same bytes (at least the first one). */
enum tls_io tls_conn_write(struct tls_conn *c, const void *p, size_t n,
                           size_t *put_out, struct err *e);
/* Sends close_notify once, without waiting for the peer's; TLS_IO_OK, a
 * WANT code, or TLS_IO_ERROR. */
enum tls_io tls_conn_shutdown(struct tls_conn *c);
/* Decrypted bytes OpenSSL holds that tls_conn_read() returns without
 * touching the socket. */
size_t tls_conn_pending(const struct tls_conn *c);

/* About a connection whose handshake is complete. Strings live as long as
 * the connection; names from the certificate are made printable. */
const char *tls_conn_protocol(const struct tls_conn *c); /* "TLSv1.3" */
const char *tls_conn_cipher(const struct tls_conn *c);
/* Secret bits used; *alg_bits_out (may be NULL) the algorithm's bits. */
int tls_conn_bits(const struct tls_conn *c, int *alg_bits_out);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" */
const char *tls_conn_summary(const struct tls_conn *c);
enum tls_trust tls_conn_trust(const struct tls_conn *c);
/* Why the chain did not verify ("self-signed certificate"), "" if it did
 * or there was no certificate. Also set after a handshake that failed
 * verification at level verify or secure ("hostname mismatch"). */
const char *tls_conn_verify_error(const struct tls_conn *c);
/* Subject and issuer common names of the peer certificate ("" if none). */
const char *tls_conn_peer_cn(const struct tls_conn *c);
const char *tls_conn_issuer_cn(const struct tls_conn *c);
/* True when the session was resumed from a ticket. */
bool tls_conn_reused(const struct tls_conn *c);
/* Formats Postfix's line into out and returns out:
 *   "Anonymous TLS connection established from host[addr]: TLSv1.3 with
 *    cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
 * ("to" instead of "from" on a client; peer is the caller's host[addr]). */
const char *tls_conn_describe(const struct tls_conn *c, const char *peer,
                              char *out, size_t outsz);

/* How many more seconds the session tls_conn_session_export() writes
 * may be offered: what is left of its timeout, capped by the server's
 * ticket lifetime hint; 0 when there is no session to resume. */
long tls_conn_session_lifetime(const struct tls_conn *c);

/* Appends the client session (DER) to out for a later tls_peer.session.
 * 1 when a resumable session was written, 0 when there is none yet (with
 * TLS 1.3 the ticket arrives after the handshake, with the first data the
 * client reads), -1 when out's maximum is too small. */
int tls_conn_session_export(const struct tls_conn *c, struct buf *out);

/*
 * Certificate generation for `posthorn init` (common/tls_cert.c).
 */
enum tls_key_type {
	TLS_KEY_EC_P256,
	TLS_KEY_RSA_2048,
};

/* Creates a new key and a self-signed certificate for hostname (subject
 * CN and subjectAltName DNS:hostname), valid from now for days days.
 * Writes the key to key_path (mode 0600) and the certificate to cert_path
 * (mode 0644); when both paths are equal, one 0600 file holds the key and
 * then the certificate. Each file is written to a temporary name and
 * renamed, so an existing file is replaced whole or not at all. 0, or -1
 * with e filled. */
int tls_cert_generate(const char *hostname, enum tls_key_type type,
                      unsigned days, const char *cert_path,
                      const char *key_path, struct err *e);

#endif
