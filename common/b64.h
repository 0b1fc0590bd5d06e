/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_B64_H
#define POSTHORN_COMMON_B64_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Strict base64 (RFC 4648 4, standard alphabet) for protocol tokens and
 * stored secrets: SASL payloads (padded) and PHC hash strings (unpadded).
 * Not for MIME bodies, which allow line breaks and junk (RFC 2045 6.8).
 * Each value has exactly one accepted spelling: no white space, padding
 * exactly as asked, no stray bits in the last character.
 */

/* The standard alphabet, shared with the lenient MIME codec. */
extern const char b64_alphabet[65];
/* 0..63 for an alphabet character, -1 for anything else. */
int b64_value(unsigned char c);

/* Encoded length of n bytes, NUL not included. */
size_t b64_encoded_len(size_t n, bool pad);

/*
 * Encodes in[0..n) into out (outsz > b64_encoded_len(n, pad)) and adds a
 * NUL. Returns the length written, or -1 when out is too small.
 */
long b64_encode(const void *in, size_t n, bool pad, char *out, size_t outsz);

/*
 * Decodes in[0..len) into out[0..outsz). pad: the input must be padded to
 * a multiple of 4 (else: must not contain '='). Returns the number of
 * bytes, or -1 on malformed input or when out is too small.
 */
long b64_decode(const char *in, size_t len, bool pad, void *out,
		size_t outsz);

#endif
