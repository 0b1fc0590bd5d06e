/* SPDX-License-Identifier: MIT */
/*
 * tls.c - TLS contexts and connections on OpenSSL 3.0
 *
 * The only file (with tls_cert.c) that includes OpenSSL's TLS headers.
 * Owns: protocol-range parsing, server and client SSL_CTX setup, the
 * shared session-ticket key, a socket BIO that never raises SIGPIPE,
 * non-blocking handshake/read/write, client certificate policy (Postfix's
 * may/encrypt/verify/secure) and the log summary of a connection.
 * Not here: waiting for the socket (stream.c), deciding what to do when
 * TLS fails (the daemons).
 *
 * Daemons are one process per connection, so OpenSSL's in-memory session
 * cache is useless on the server: it is off, and resumption uses stateless
 * tickets encrypted with a key every process reads from one file.
 * Every OpenSSL call that can fail is preceded by ERR_clear_error(), so the
 * error text a caller sees belongs to that call.
 * One file past the 800-line mark on purpose: OpenSSL's TLS API stays in
 * one place, and contexts and connections share struct tls_ctx's insides.
 */
#include "common/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/str.h"
#include "common/xalloc.h"

/* Ticket key file layout: key name (sent in the clear inside each ticket,
 * so a process can tell its tickets from foreign ones), AES-256 key, HMAC
 * key. */
#define TKEY_NAME_LEN 16
#define TKEY_AES_LEN 32
#define TKEY_HMAC_LEN 32
#define TKEY_LEN (TKEY_NAME_LEN + TKEY_AES_LEN + TKEY_HMAC_LEN)

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool server;
	enum tls_level level;
	bool have_tkey;
	unsigned char tkey[TKEY_LEN];
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx;
	int fd;
	enum tls_level level; /* a client's: the context's or the peer's */
	bool done;            /* handshake complete */
	bool failed; /* a fatal error: no shutdown, no more I/O */
	enum tls_trust trust;
	char summary[160];
	char verify_error[128];
	char peer_cn[128];
	char issuer_cn[128];
};

/* ---- errors ---------------------------------------------------------- */

/* Fills e with the caller's text, then ": " and OpenSSL's queued errors
 * (reason and detail, most recent last), and empties the queue. */
__attribute__((format(printf, 2, 3))) static void ssl_err(struct err *e,
                                                          const char *fmt, ...)
{
	char head[256];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);

	char tail[384] = "";
	size_t used = 0;
	const char *data;
	int flags;
	unsigned long code;
	while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags))) {
		char one[256];
		const char *reason = ERR_reason_error_string(code);
		if (!reason) {
			ERR_error_string_n(code, one, sizeof(one));
			reason = one;
		}
		const char *lib = ERR_lib_error_string(code);
		bool detail = (flags & ERR_TXT_STRING) && *data;
		int n = snprintf(tail + used, sizeof(tail) - used,
		                 "%s%s%s%s%s%s%s", used ? "; " : "",
		                 lib ? lib : "", lib ? ": " : "", reason,
		                 detail ? " (" : "", detail ? data : "",
		                 detail ? ")" : "");
		if (n < 0 || (size_t)n >= sizeof(tail) - used) {
			ERR_clear_error();
			break;
		}
		used += (size_t)n;
	}
	err_set(e, "%s%s%s", head, used ? ": " : "", tail);
}

/* Opens path for reading to report a missing or unreadable file in plain
 * words before OpenSSL reports it in its own. */
static int check_readable(const char *what, const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_set(e, "cannot open %s %s: %s", what, path,
		        strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- names ------------------------------------------------------------ */

static const char *const level_names[] = {
        [TLS_LEVEL_NONE] = "none",       [TLS_LEVEL_MAY] = "may",
        [TLS_LEVEL_ENCRYPT] = "encrypt", [TLS_LEVEL_VERIFY] = "verify",
        [TLS_LEVEL_SECURE] = "secure",
};

int tls_level_parse(const char *s, enum tls_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (str_eq_nocase(s, level_names[i])) {
			*out = (enum tls_level)i;
			return 0;
		}
	}
	return -1;
}

const char *tls_level_name(enum tls_level level)
{
	return (unsigned)level < sizeof(level_names) / sizeof(level_names[0])
	               ? level_names[level]
	               : "unknown";
}

const char *tls_trust_name(enum tls_trust trust)
{
	switch (trust) {
	case TLS_TRUST_ANONYMOUS:
		return "Anonymous";
	case TLS_TRUST_UNTRUSTED:
		return "Untrusted";
	case TLS_TRUST_TRUSTED:
		return "Trusted";
	case TLS_TRUST_VERIFIED:
		return "Verified";
	}
	return "Unknown";
}

/* ---- protocol ranges -------------------------------------------------- */

static const struct {
	const char *name;
	int code;
} versions[] = {
        {"SSLv2", 0x0002},   {"SSLv3", 0x0300},   {"TLSv1", 0x0301},
        {"TLSv1.1", 0x0302}, {"TLSv1.2", 0x0303}, {"TLSv1.3", 0x0304},
};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))
#define FIRST_TLS 2 /* SSLv2 and SSLv3 are named but never enabled */

static int version_index(const char *s, size_t len)
{
	for (size_t i = 0; i < NVERSIONS; i++)
		if (strlen(versions[i].name) == len &&
		    strn_eq_nocase(s, len, versions[i].name))
			return (int)i;
	return -1;
}

int tls_protocols_parse(const char *spec, int *min_out, int *max_out,
                        struct err *e)
{
	if (!spec || !*spec)
		spec = ">=TLSv1.2";
	unsigned excluded = 0, listed = 0;
	size_t lo = 0, hi = NVERSIONS - 1;
	const char *p = spec;
	while (*p) {
		size_t skip = strspn(p, ", :\t");
		p += skip;
		size_t len = strcspn(p, ", :\t");
		if (len == 0)
			break;
		const char *name = p;
		size_t nlen = len;
		char op = 0;
		if (len > 2 && (p[0] == '>' || p[0] == '<') && p[1] == '=') {
			op = p[0];
			name += 2;
			nlen -= 2;
		} else if (len > 1 && p[0] == '!') {
			op = '!';
			name++;
			nlen--;
		}
		int i = version_index(name, nlen);
		if (i < 0) {
			err_set(e, "unknown TLS protocol \"%.*s\" in \"%s\"",
			        (int)nlen, name, spec);
			return -1;
		}
		if (op == '>' && (size_t)i > lo)
			lo = (size_t)i;
		else if (op == '<' && (size_t)i < hi)
			hi = (size_t)i;
		else if (op == '!')
			excluded |= 1u << i;
		else if (!op)
			listed |= 1u << i;
		p += len;
	}
	int first = -1, last = -1;
	for (size_t i = FIRST_TLS; i < NVERSIONS; i++) {
		bool on = i >= lo && i <= hi && !(excluded & (1u << i)) &&
		          (!listed || (listed & (1u << i)));
		if (!on)
			continue;
		if (last >= 0 && (size_t)last != i - 1) {
			err_set(e, "TLS protocols \"%s\" leave a gap", spec);
			return -1;
		}
		if (first < 0)
			first = (int)i;
		last = (int)i;
	}
	if (first < 0) {
		err_set(e, "TLS protocols \"%s\" enable no protocol", spec);
		return -1;
	}
	*min_out = versions[first].code;
	*max_out = (size_t)last == NVERSIONS - 1 ? 0 : versions[last].code;
	return 0;
}

/* ---- settings shared by both sides ------------------------------------ */

static SSL_CTX *ctx_common(const SSL_METHOD *method, const char *protocols,
                           const char *ciphers, struct err *e)
{
	int min, max;
	if (tls_protocols_parse(protocols, &min, &max, e) < 0)
		return NULL;
	ERR_clear_error();
	SSL_CTX *sc = SSL_CTX_new(method);
	if (!sc) {
		ssl_err(e, "cannot create TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(sc, min) ||
	    !SSL_CTX_set_max_proto_version(sc, max)) {
		ssl_err(e, "cannot set TLS protocols \"%s\"", protocols);
		goto fail;
	}
	if (ciphers && *ciphers && !SSL_CTX_set_cipher_list(sc, ciphers)) {
		ssl_err(e, "bad cipher list \"%s\"", ciphers);
		goto fail;
	}
	/* Mail protocols delimit their own data, so a peer that closes the
	 * TCP connection without close_notify is an EOF, not an attack.
	 * Renegotiation only ever served attackers (CVE-2009-3555, CPU
	 * exhaustion). */
	SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF |
	                                SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return sc;
fail:
	SSL_CTX_free(sc);
	return NULL;
}

static struct tls_ctx *ctx_wrap(SSL_CTX *sc, bool server, enum tls_level level)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = sc;
	ctx->server = server;
	ctx->level = level;
	(void)SSL_CTX_set_app_data(sc, ctx);
	return ctx;
}

void tls_ctx_free(struct tls_ctx **ctxp)
{
	if (!ctxp || !*ctxp)
		return;
	SSL_CTX_free((*ctxp)->ssl_ctx);
	OPENSSL_cleanse((*ctxp)->tkey, sizeof((*ctxp)->tkey));
	free(*ctxp);
	*ctxp = NULL;
}

enum tls_level tls_ctx_level(const struct tls_ctx *ctx)
{
	return ctx->server ? TLS_LEVEL_NONE : ctx->level;
}

/* ---- the session ticket key ------------------------------------------- */

/* Creates path atomically with fresh random key bytes: written under a
 * temporary name, then link()ed, so a concurrent process either finds no
 * file or a complete one, and the first writer wins. */
static int tkey_create(const char *path, struct err *e)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		err_set(e, "ticket key file name too long: %s", path);
		return -1;
	}
	unsigned char key[TKEY_LEN];
	if (RAND_priv_bytes(key, sizeof(key)) != 1) {
		ssl_err(e, "cannot generate a ticket key");
		return -1;
	}
	(void)unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd < 0) {
		err_set(e, "cannot create ticket key file %s: %s", tmp,
		        strerror(errno));
		goto out;
	}
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
	    fsync(fd) < 0) {
		err_set(e, "cannot write ticket key file %s: %s", tmp,
		        strerror(errno));
		close(fd);
		goto out_unlink;
	}
	close(fd);
	if (link(tmp, path) < 0 && errno != EEXIST) {
		err_set(e, "cannot create ticket key file %s: %s", path,
		        strerror(errno));
		goto out_unlink;
	}
	rc = 0;
out_unlink:
	(void)unlink(tmp);
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static int tkey_load(const char *path, unsigned char key[TKEY_LEN],
                     struct err *e)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOENT && attempt == 0) {
			if (tkey_create(path, e) < 0)
				return -1;
			continue;
		}
		if (fd < 0) {
			err_set(e, "cannot open ticket key file %s: %s", path,
			        strerror(errno));
			return -1;
		}
		/* One byte more than a key, to notice a longer file. */
		unsigned char tmp[TKEY_LEN + 1];
		size_t got = 0;
		int rc = 0;
		while (got < sizeof(tmp)) {
			ssize_t r = read(fd, tmp + got, sizeof(tmp) - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				err_set(e, "cannot read ticket key file %s: %s",
				        path, strerror(errno));
				rc = -1;
			}
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
		if (rc == 0 && got != TKEY_LEN) {
			err_set(e,
			        "ticket key file %s must hold exactly %d bytes",
			        path, TKEY_LEN);
			rc = -1;
		} else if (rc == 0) {
			memcpy(key, tmp, TKEY_LEN);
		}
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return rc;
	}
	err_set(e, "ticket key file %s vanished after creation", path);
	return -1;
}

/* OpenSSL asks for the key that encrypts a new ticket (enc = 1) or
 * decrypts a presented one (enc = 0). Returning 0 for a foreign key name
 * makes OpenSSL fall back to a full handshake. */
static int tkey_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
                   EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	unsigned char *k = ctx->tkey;
	OSSL_PARAM params[] = {
	        OSSL_PARAM_construct_octet_string(
	                OSSL_MAC_PARAM_KEY, k + TKEY_NAME_LEN + TKEY_AES_LEN,
	                TKEY_HMAC_LEN),
	        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	                                         (char *)"SHA256", 0),
	        OSSL_PARAM_construct_end(),
	};
	const EVP_CIPHER *cipher = EVP_aes_256_cbc();
	if (enc) {
		memcpy(name, k, TKEY_NAME_LEN);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) != 1 ||
		    !EVP_EncryptInit_ex(cctx, cipher, NULL, k + TKEY_NAME_LEN,
		                        iv))
			return -1;
	} else {
		if (CRYPTO_memcmp(name, k, TKEY_NAME_LEN) != 0)
			return 0;
		if (!EVP_DecryptInit_ex(cctx, cipher, NULL, k + TKEY_NAME_LEN,
		                        iv))
			return -1;
	}
	return EVP_MAC_CTX_set_params(hctx, params) ? 1 : -1;
}

/* ---- server context ---------------------------------------------------- */

/* A key protected by a passphrase cannot be used by a daemon: fail
 * instead of letting OpenSSL prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int load_cert_and_key(SSL_CTX *sc, const char *cert_file,
                             const char *key_file, struct err *e)
{
	if (check_readable("certificate file", cert_file, e) < 0 ||
	    check_readable("private key file", key_file, e) < 0)
		return -1;
	ERR_clear_error();
	if (!SSL_CTX_use_certificate_chain_file(sc, cert_file)) {
		ssl_err(e, "cannot load certificate chain from %s", cert_file);
		return -1;
	}
	BIO *in = BIO_new_file(key_file, "r");
	EVP_PKEY *pkey =
	        in ? PEM_read_bio_PrivateKey(in, NULL, no_passphrase, NULL)
	           : NULL;
	BIO_free(in);
	if (!pkey) {
		ssl_err(e, "cannot load private key from %s", key_file);
		return -1;
	}
	int rc = -1;
	if (!X509_check_private_key(SSL_CTX_get0_certificate(sc), pkey)) {
		ssl_err(e,
		        "private key in %s does not match the certificate "
		        "in %s",
		        key_file, cert_file);
	} else if (!SSL_CTX_use_PrivateKey(sc, pkey)) {
		ssl_err(e, "cannot use private key from %s", key_file);
	} else {
		rc = 0;
	}
	EVP_PKEY_free(pkey);
	return rc;
}

struct tls_ctx *tls_server_ctx_new(const struct tls_server_config *cfg,
                                   struct err *e)
{
	if (!cfg->cert_file || !*cfg->cert_file) {
		err_set(e, "no TLS certificate file configured");
		return NULL;
	}
	const char *key_file = cfg->key_file && *cfg->key_file ? cfg->key_file
	                                                       : cfg->cert_file;
	SSL_CTX *sc = ctx_common(TLS_server_method(), cfg->protocols,
	                         cfg->ciphers, e);
	if (!sc)
		return NULL;
	struct tls_ctx *ctx = ctx_wrap(sc, true, TLS_LEVEL_NONE);
	if (load_cert_and_key(sc, cfg->cert_file, key_file, e) < 0)
		goto fail;

	/* Every connection is a new process: a session cache would never be
	 * hit. Resumption is by stateless tickets only (RFC 5077, RFC 8446
	 * 4.6.1), whose lifetime the session timeout sets. */
	(void)SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
	(void)SSL_CTX_set_session_id_context(sc, (const unsigned char *)"ph",
	                                     2);
	if (cfg->ticket_lifetime <= 0) {
		SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
		(void)SSL_CTX_set_num_tickets(sc, 0);
		return ctx;
	}
	(void)SSL_CTX_set_timeout(sc, cfg->ticket_lifetime);
	(void)SSL_CTX_set_num_tickets(sc, 1);
	if (cfg->ticket_key_file && *cfg->ticket_key_file) {
		if (tkey_load(cfg->ticket_key_file, ctx->tkey, e) < 0)
			goto fail;
		ctx->have_tkey = true;
		ERR_clear_error();
		if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(sc, tkey_cb)) {
			ssl_err(e, "cannot install the ticket key");
			goto fail;
		}
	}
	return ctx;
fail:
	tls_ctx_free(&ctx);
	return NULL;
}

/* ---- client context ---------------------------------------------------- */

struct tls_ctx *tls_client_ctx_new(const struct tls_client_config *cfg,
                                   struct err *e)
{
	SSL_CTX *sc = ctx_common(TLS_client_method(), cfg->protocols,
	                         cfg->ciphers, e);
	if (!sc)
		return NULL;
	struct tls_ctx *ctx = ctx_wrap(sc, false, cfg->level);
	ERR_clear_error();
	if (cfg->ca_file && *cfg->ca_file) {
		if (check_readable("CA file", cfg->ca_file, e) < 0)
			goto fail;
		if (!SSL_CTX_load_verify_file(sc, cfg->ca_file)) {
			ssl_err(e, "cannot load CA certificates from %s",
			        cfg->ca_file);
			goto fail;
		}
	} else if (!SSL_CTX_set_default_verify_paths(sc)) {
		ssl_err(e, "cannot load the default CA store");
		goto fail;
	}
	/* The default for connections; client_setup() sets each one's. */
	SSL_CTX_set_verify(sc,
	                   cfg->level >= TLS_LEVEL_VERIFY ? SSL_VERIFY_PEER
	                                                  : SSL_VERIFY_NONE,
	                   NULL);
	return ctx;
fail:
	tls_ctx_free(&ctx);
	return NULL;
}

/* ---- a socket BIO without SIGPIPE ---------------------------------------- */

/* OpenSSL's socket BIO writes with write(2), which raises SIGPIPE when the
 * peer has gone; this one uses send(MSG_NOSIGNAL). */
static int bio_sock_write(BIO *b, const char *p, int n)
{
	const struct tls_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t r = send(c->fd, p, (size_t)n, MSG_NOSIGNAL);
	if (r < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)r;
}

static int bio_sock_read(BIO *b, char *p, int n)
{
	const struct tls_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t r = recv(c->fd, p, (size_t)n, 0);
	if (r < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)r;
}

static long bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	const struct tls_conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = c->fd;
		return c->fd;
	default:
		return 0;
	}
}

/* Made once per process and never freed: daemons are single-threaded. */
static BIO_METHOD *bio_sock_method(void)
{
	static BIO_METHOD *m;
	if (m)
		return m;
	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	                 "posthorn socket");
	if (!m || !BIO_meth_set_write(m, bio_sock_write) ||
	    !BIO_meth_set_read(m, bio_sock_read) ||
	    !BIO_meth_set_ctrl(m, bio_sock_ctrl))
		log_fatal("cannot create the TLS socket BIO method");
	return m;
}

/* ---- connections -----------------------------------------------------------
 */

static bool is_ip_address(const char *s)
{
	unsigned char tmp[16];
	return inet_pton(AF_INET, s, tmp) == 1 ||
	       inet_pton(AF_INET6, s, tmp) == 1;
}

/* Sets the names a verify or secure certificate must carry. DNS names
 * are alternatives (X509_check_host with any of them); OpenSSL requires
 * every kind of identity that is set, so an IP address is used only when
 * no DNS name is given. A leading dot matches any subdomain. */
static int set_names(struct tls_conn *c, const char *const *names, size_t n,
                     struct err *e)
{
	const char *ip = NULL;
	size_t hosts = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		if (!name || !*name)
			continue;
		if (is_ip_address(name)) {
			if (!ip)
				ip = name;
			continue;
		}
		int ok = hosts++ == 0 ? SSL_set1_host(c->ssl, name)
		                      : SSL_add1_host(c->ssl, name);
		if (!ok) {
			ssl_err(e, "cannot verify against \"%s\"", name);
			return -1;
		}
	}
	if (hosts > 0)
		return 0;
	if (!ip) {
		err_set(e, "TLS level %s needs a name to verify",
		        tls_level_name(c->level));
		return -1;
	}
	if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip)) {
		ssl_err(e, "cannot verify against \"%s\"", ip);
		return -1;
	}
	return 0;
}

/* The default names: the host for verify; for secure the next hop and
 * its subdomains (just the address when the next hop is one). */
static int set_default_names(struct tls_conn *c, const char *host,
                             const char *nexthop, struct err *e)
{
	if (c->level == TLS_LEVEL_VERIFY) {
		if (!host) {
			err_set(e, "TLS level verify needs the server name");
			return -1;
		}
		return set_names(c, &host, 1, e);
	}
	if (!nexthop) {
		err_set(e, "TLS level secure needs the next-hop domain");
		return -1;
	}
	char dot[300];
	int n = snprintf(dot, sizeof(dot), ".%s", nexthop);
	if (n < 0 || (size_t)n >= sizeof(dot)) {
		err_set(e, "next-hop domain too long: %.64s...", nexthop);
		return -1;
	}
	const char *names[2] = {nexthop, is_ip_address(nexthop) ? NULL : dot};
	return set_names(c, names, 2, e);
}

/* Sets SNI, the level, the names the certificate must carry, and the
 * session to resume on a new client connection. */
static int client_setup(struct tls_conn *c, const struct tls_peer *peer,
                        struct err *e)
{
	const char *host =
	        peer && peer->host && *peer->host ? peer->host : NULL;
	const char *nexthop =
	        peer && peer->nexthop && *peer->nexthop ? peer->nexthop : NULL;
	c->level = peer && peer->level != TLS_LEVEL_NONE ? peer->level
	                                                 : c->ctx->level;
	ERR_clear_error();
	/* RFC 6066 3: no IP literals in server_name. */
	if (host && !is_ip_address(host) &&
	    !SSL_set_tlsext_host_name(c->ssl, host)) {
		ssl_err(e, "bad TLS server name \"%s\"", host);
		return -1;
	}
	SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* Below verify the chain is still checked (OpenSSL records the
	 * result) but a failure does not stop the handshake: it only makes
	 * the connection "Untrusted" in the log. */
	SSL_set_verify(c->ssl,
	               c->level >= TLS_LEVEL_VERIFY ? SSL_VERIFY_PEER
	                                            : SSL_VERIFY_NONE,
	               NULL);
	if (c->level >= TLS_LEVEL_VERIFY) {
		int rc = peer && peer->match && peer->nmatch
		                 ? set_names(c, peer->match, peer->nmatch, e)
		                 : set_default_names(c, host, nexthop, e);
		if (rc < 0)
			return -1;
	}
	if (peer && peer->session && peer->session_len &&
	    peer->session_len <= LONG_MAX) {
		const unsigned char *q = peer->session;
		SSL_SESSION *sess =
		        d2i_SSL_SESSION(NULL, &q, (long)peer->session_len);
		/* A stale or damaged session only costs a full handshake. */
		if (sess)
			(void)SSL_set_session(c->ssl, sess);
		SSL_SESSION_free(sess);
		ERR_clear_error();
	}
	return 0;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd,
                              const struct tls_peer *peer, struct err *e)
{
	struct tls_conn *c = xcalloc(1, sizeof(*c));
	c->ctx = ctx;
	c->fd = fd;
	ERR_clear_error();
	c->ssl = SSL_new(ctx->ssl_ctx);
	BIO *bio = c->ssl ? BIO_new(bio_sock_method()) : NULL;
	if (!bio) {
		ssl_err(e, "cannot create a TLS connection");
		tls_conn_free(&c);
		return NULL;
	}
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(c->ssl, bio, bio);
	if (ctx->server) {
		SSL_set_accept_state(c->ssl);
	} else {
		SSL_set_connect_state(c->ssl);
		if (client_setup(c, peer, e) < 0)
			tls_conn_free(&c);
	}
	return c;
}

void tls_conn_free(struct tls_conn **cp)
{
	if (!cp || !*cp)
		return;
	SSL_free((*cp)->ssl);
	free(*cp);
	*cp = NULL;
}

/* Turns a failed SSL_* call into a tls_io code and, for errors, text. */
static enum tls_io io_result(struct tls_conn *c, int ret, const char *op,
                             struct err *e)
{
	int saved = errno;
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_EOF;
	case SSL_ERROR_SYSCALL:
		c->failed = true;
		if (ERR_peek_error() == 0) {
			if (saved == 0)
				return TLS_IO_EOF;
			err_set(e, "TLS %s: %s", op, strerror(saved));
			return TLS_IO_SYSERR;
		}
		break;
	default:
		c->failed = true;
		break;
	}
	long vr = SSL_get_verify_result(c->ssl);
	if (!c->ctx->server && !c->done && c->level >= TLS_LEVEL_VERIFY &&
	    vr != X509_V_OK) {
		(void)snprintf(c->verify_error, sizeof(c->verify_error), "%s",
		               X509_verify_cert_error_string(vr));
		err_set(e, "certificate verification failed: %s",
		        c->verify_error);
		ERR_clear_error();
	} else {
		ssl_err(e, "TLS %s failed", op);
	}
	return TLS_IO_ERROR;
}

/* Copies the common name of a certificate name, made printable. */
static void name_cn(const X509_NAME *name, char *out, size_t outsz)
{
	out[0] = 0;
	int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1)
	             : -1;
	if (i < 0)
		return;
	const ASN1_STRING *s =
	        X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	unsigned char *utf8 = NULL;
	int len = s ? ASN1_STRING_to_UTF8(&utf8, s) : -1;
	if (len >= 0)
		(void)log_quote(out, outsz, utf8, (size_t)len);
	OPENSSL_free(utf8);
}

/* Records what the log line and the caller need once the handshake is
 * done. */
static void handshake_done(struct tls_conn *c)
{
	c->done = true;
	int alg_bits;
	int bits = tls_conn_bits(c, &alg_bits);
	(void)snprintf(c->summary, sizeof(c->summary),
	               "%s with cipher %s (%d/%d bits)", tls_conn_protocol(c),
	               tls_conn_cipher(c), bits, alg_bits);
	const X509 *cert = SSL_get0_peer_certificate(c->ssl);
	if (!cert) {
		c->trust = TLS_TRUST_ANONYMOUS;
		return;
	}
	name_cn(X509_get_subject_name(cert), c->peer_cn, sizeof(c->peer_cn));
	name_cn(X509_get_issuer_name(cert), c->issuer_cn, sizeof(c->issuer_cn));
	long vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		c->trust = TLS_TRUST_UNTRUSTED;
		(void)snprintf(c->verify_error, sizeof(c->verify_error), "%s",
		               X509_verify_cert_error_string(vr));
	} else {
		c->trust = !c->ctx->server && c->level >= TLS_LEVEL_VERIFY
		                   ? TLS_TRUST_VERIFIED
		                   : TLS_TRUST_TRUSTED;
	}
}

enum tls_io tls_conn_handshake(struct tls_conn *c, struct err *e)
{
	if (c->done)
		return TLS_IO_OK;
	if (c->failed) {
		err_set(e, "TLS handshake already failed");
		return TLS_IO_ERROR;
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		handshake_done(c);
		return TLS_IO_OK;
	}
	return io_result(c, r, "handshake", e);
}

enum tls_io tls_conn_read(struct tls_conn *c, void *p, size_t n,
                          size_t *got_out, struct err *e)
{
	*got_out = 0;
	if (c->failed) {
		err_set(e, "TLS connection already failed");
		return TLS_IO_ERROR;
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_read_ex(c->ssl, p, n, got_out);
	if (r == 1)
		return TLS_IO_OK;
	return io_result(c, r, "read", e);
}

enum tls_io tls_conn_write(struct tls_conn *c, const void *p, size_t n,
                           size_t *put_out, struct err *e)
{
	*put_out = 0;
	if (c->failed) {
		err_set(e, "TLS connection already failed");
		return TLS_IO_ERROR;
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_write_ex(c->ssl, p, n, put_out);
	if (r == 1)
		return TLS_IO_OK;
	return io_result(c, r, "write", e);
}

enum tls_io tls_conn_shutdown(struct tls_conn *c)
{
	if (c->failed || !c->done)
		return TLS_IO_ERROR;
	ERR_clear_error();
	int r = SSL_shutdown(c->ssl);
	if (r >= 0)
		return TLS_IO_OK;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	default:
		ERR_clear_error();
		c->failed = true;
		return TLS_IO_ERROR;
	}
}

size_t tls_conn_pending(const struct tls_conn *c)
{
	int n = SSL_pending(c->ssl);
	return n > 0 ? (size_t)n : 0;
}

/* ---- connection facts -------------------------------------------------- */

const char *tls_conn_protocol(const struct tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *c)
{
	const char *name = SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl));
	return name ? name : "(none)";
}

int tls_conn_bits(const struct tls_conn *c, int *alg_bits_out)
{
	int alg = 0;
	int bits = SSL_CIPHER_get_bits(SSL_get_current_cipher(c->ssl), &alg);
	if (alg_bits_out)
		*alg_bits_out = alg;
	return bits;
}

const char *tls_conn_summary(const struct tls_conn *c)
{
	return c->summary;
}

enum tls_trust tls_conn_trust(const struct tls_conn *c)
{
	return c->trust;
}

const char *tls_conn_verify_error(const struct tls_conn *c)
{
	return c->verify_error;
}

const char *tls_conn_peer_cn(const struct tls_conn *c)
{
	return c->peer_cn;
}

const char *tls_conn_issuer_cn(const struct tls_conn *c)
{
	return c->issuer_cn;
}

bool tls_conn_reused(const struct tls_conn *c)
{
	return SSL_session_reused(c->ssl) == 1;
}

const char *tls_conn_describe(const struct tls_conn *c, const char *peer,
                              char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%s TLS connection established %s %s: %s",
	               tls_trust_name(c->trust), c->ctx->server ? "from" : "to",
	               peer, c->summary);
	return out;
}

long tls_conn_session_lifetime(const struct tls_conn *c)
{
	const SSL_SESSION *sess = SSL_get_session(c->ssl);
	if (!sess || !SSL_SESSION_is_resumable(sess))
		return 0;
	long now = (long)time(NULL);
	long born = SSL_SESSION_get_time(sess);
	long left = born + SSL_SESSION_get_timeout(sess) - now;
	/* RFC 8446 4.6.1, RFC 5077 3.3: the server's word on how long it
	 * will accept the ticket. */
	unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(sess);
	if (SSL_SESSION_has_ticket(sess) && hint > 0 && hint < LONG_MAX / 2 &&
	    born + (long)hint - now < left)
		left = born + (long)hint - now;
	return left > 0 ? left : 0;
}

int tls_conn_session_export(const struct tls_conn *c, struct buf *out)
{
	SSL_SESSION *sess = SSL_get1_session(c->ssl);
	if (!sess)
		return 0;
	int rc = 0;
	int len = SSL_SESSION_is_resumable(sess) ? i2d_SSL_SESSION(sess, NULL)
	                                         : 0;
	if (len > 0) {
		rc = -1;
		if (buf_reserve(out, (size_t)len) == 0) {
			unsigned char *q =
			        (unsigned char *)out->data + out->len;
			if (i2d_SSL_SESSION(sess, &q) == len) {
				out->len += (size_t)len;
				out->data[out->len] = 0;
				rc = 1;
			}
		}
	}
	SSL_SESSION_free(sess);
	return rc;
}
