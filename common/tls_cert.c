/* SPDX-License-Identifier: MIT */
/*
 * tls_cert.c - a self-signed server certificate for `posthorn init`
 *
 * Makes a key (EC P-256 or RSA 2048) and a certificate for one host name
 * with OpenSSL's API (no openssl(1) command), and writes both as PEM.
 * Not a CA: no signing of other certificates, no renewal.
 *
 * Files are written under a temporary name in the target directory,
 * fsync'd and renamed, so a crash leaves the old file or the new one,
 * never half a key; the key file is 0600 from its creation (mkstemp).
 */
#include "common/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* Host names only: the name is pasted into an extension string, where a
 * comma or colon would add names we did not mean. */
static bool hostname_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == len;
}

static void crypto_err(struct err *e, const char *what)
{
	char detail[256] = "";
	unsigned long code = ERR_peek_last_error();
	if (code)
		ERR_error_string_n(code, detail, sizeof(detail));
	ERR_clear_error();
	err_set(e, "%s%s%s", what, code ? ": " : "", detail);
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pkey, const char *hostname, bool rsa,
                       unsigned days)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	if (!x || !serial || !X509_set_version(x, X509_VERSION_3) ||
	    /* RFC 5280 4.1.2.2: positive, at most 20 octets; random so two
	     * instances never share issuer + serial. */
	    !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    !X509_set_pubkey(x, pkey))
		goto fail;
	/* The subject CN is limited to 64 characters (RFC 5280 A.1); longer
	 * names live only in subjectAltName, which is what clients check. */
	X509_NAME *name = X509_get_subject_name(x);
	if (strlen(hostname) <= 64 &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                (const unsigned char *)hostname, -1, -1,
	                                0))
		goto fail;
	if (!X509_set_issuer_name(x, name))
		goto fail;
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	char san[300];
	(void)snprintf(san, sizeof(san), "DNS:%s", hostname);
	if (add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, &v3, NID_key_usage,
	            rsa ? "critical,digitalSignature,keyEncipherment"
	                : "critical,digitalSignature") < 0 ||
	    add_ext(x, &v3, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, &v3, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, &v3, NID_subject_alt_name, san) < 0 ||
	    !X509_sign(x, pkey, EVP_sha256()))
		goto fail;
	BN_free(serial);
	return x;
fail:
	BN_free(serial);
	X509_free(x);
	return NULL;
}

/* Writes key and/or cert (whichever is non-NULL, key first) to path with
 * the given mode, atomically. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert,
                     struct err *e)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		err_set(e, "file name too long: %s", path);
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		err_set(e, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	BIO *out = BIO_new_fd(fd, BIO_NOCLOSE);
	int ok = out && fchmod(fd, mode) == 0 &&
	         (!key || PEM_write_bio_PrivateKey(out, key, NULL, NULL, 0,
	                                           NULL, NULL)) &&
	         (!cert || PEM_write_bio_X509(out, cert)) &&
	         BIO_flush(out) == 1 && fsync(fd) == 0;
	int saved = errno;
	BIO_free(out);
	if (close(fd) < 0 && ok) {
		ok = 0;
		saved = errno;
	}
	if (ok && rename(tmp, path) < 0) {
		ok = 0;
		saved = errno;
	}
	if (!ok) {
		ERR_clear_error();
		err_set(e, "cannot write %s: %s", path,
		        saved ? strerror(saved) : "PEM encoding failed");
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

int tls_cert_generate(const char *hostname, enum tls_key_type type,
                      unsigned days, const char *cert_path,
                      const char *key_path, struct err *e)
{
	if (!hostname_ok(hostname)) {
		err_set(e, "not a host name: \"%s\"", hostname);
		return -1;
	}
	if (days == 0 || days > 36500) {
		err_set(e, "certificate lifetime out of range: %u days", days);
		return -1;
	}
	ERR_clear_error();
	bool rsa = type == TLS_KEY_RSA_2048;
	EVP_PKEY *pkey = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	if (!pkey) {
		crypto_err(e, "cannot generate a key");
		return -1;
	}
	int rc = -1;
	X509 *x = make_cert(pkey, hostname, rsa, days);
	if (!x) {
		crypto_err(e, "cannot make the certificate");
	} else if (strcmp(cert_path, key_path) == 0) {
		rc = write_pem(key_path, 0600, pkey, x, e);
	} else if (write_pem(key_path, 0600, pkey, NULL, e) == 0) {
		rc = write_pem(cert_path, 0644, NULL, x, e);
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}
