/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_PASSWD_HASH_H
#define POSTHORN_COMMON_PASSWD_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/*
 * Salted, deliberately slow password hashes for the account map, and the
 * SCRAM-SHA-256 verifier some accounts may carry besides.
 *
 * The stored form describes itself (PHC string format, as passlib writes
 * it, with unpadded standard base64):
 *     $scrypt$ln=14,r=8,p=1$<16-byte salt>$<32-byte hash>
 * so the cost can be raised later without breaking old hashes: a hash is
 * always verified with the parameters written in it, and
 * passwd_hash_needs_rehash() tells when it is weaker than today's default.
 *
 * Nothing here logs or keeps a password; buffers that held derived keys are
 * wiped. The caller wipes its own copy of the password.
 */

/* Longest stored hash string, NUL included. */
#define PASSWD_HASH_MAX 160
/* Longest password accepted (bytes). Longer ones never verify. */
#define PASSWD_MAX 1024

/* scrypt cost: N = 2^ln, block size r, parallelism p. */
struct passwd_cost {
	unsigned ln;
	unsigned r;
	unsigned p;
};

/* The cost new hashes get: ln=14, r=8, p=1 (16 MiB, tens of ms). */
extern const struct passwd_cost passwd_cost_default;

/*
 * Hashes password[0..len) with a fresh random salt and the given cost
 * (NULL: passwd_cost_default) into out (outsz >= PASSWD_HASH_MAX), as a
 * NUL-terminated string. 0, or -1 with e set (len > PASSWD_MAX, a cost out
 * of range, no randomness). CPU- and memory-heavy: tens of milliseconds.
 */
int passwd_hash_new(const char *password, size_t len,
		    const struct passwd_cost *cost, char *out, size_t outsz,
		    struct err *e);

/*
 * Checks password[0..len) against a stored hash, comparing in constant
 * time. 1 match, 0 no match (also for a password over PASSWD_MAX), -1 with
 * e set when the stored string is malformed or the computation fails.
 * Takes as long as the hash's own cost.
 */
int passwd_hash_verify(const char *hash, const char *password, size_t len,
		       struct err *e);

/* True when hash has the syntax passwd_hash_new() writes, with a cost in
 * range. */
bool passwd_hash_valid(const char *hash);

/* True when hash is malformed or cheaper than passwd_cost_default. */
bool passwd_hash_needs_rehash(const char *hash);

/* Longest stored SCRAM verifier, NUL included. */
#define PASSWD_SCRAM_MAX 192
/* Iteration counts accepted for a SCRAM verifier. RFC 7677 asks for at
 * least 4096; Cyrus SASL's own client refuses more than 65536. */
#define PASSWD_SCRAM_MIN_ITER 4096
#define PASSWD_SCRAM_MAX_ITER 65536

/*
 * Computes the SCRAM-SHA-256 verifier of password[0..len) (RFC 5802 3:
 * StoredKey and ServerKey of SaltedPassword = PBKDF2-HMAC-SHA-256 with a
 * fresh 16-byte salt) in the RFC 5803 form Cyrus SASL's SCRAM plugin reads:
 *     SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>
 * into out (outsz >= PASSWD_SCRAM_MAX). 0, or -1 with e set.
 */
int passwd_scram_new(const char *password, size_t len, unsigned iterations,
		     char *out, size_t outsz, struct err *e);

/* True when s has the syntax passwd_scram_new() writes. */
bool passwd_scram_valid(const char *s, size_t len);

#endif
