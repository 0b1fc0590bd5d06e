/* SPDX-License-Identifier: MIT */
/*
 * b64.c - strict base64 for SASL payloads and stored hash strings
 *
 * Strictness is the point: a SASL response or a stored hash has one
 * spelling per value, so two different strings never mean the same
 * credential and malformed client input is refused, not guessed at.
 * MIME decoding, which must tolerate line breaks, lives elsewhere.
 */
#include "common/b64.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

const char b64_alphabet[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_len(size_t n, bool pad)
{
	size_t full = n / 3 * 4, rest = n % 3;
	return full + (rest == 0 ? 0 : pad ? 4 : rest + 1);
}

long b64_encode(const void *in, size_t n, bool pad, char *out, size_t outsz)
{
	const unsigned char *p = in;
	if (n > (size_t)LONG_MAX / 2 || b64_encoded_len(n, pad) >= outsz)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t v = (uint32_t)p[i] << 16;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		size_t emit = left >= 3 ? 4 : left + 1;
		for (size_t k = 0; k < 4; k++) {
			if (k < emit)
				out[o++] = b64_alphabet[(v >> (18 - 6 * k)) & 63];
			else if (pad)
				out[o++] = '=';
		}
	}
	out[o] = '\0';
	return (long)o;
}

int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long b64_decode(const char *in, size_t len, bool pad, void *out,
		size_t outsz)
{
	unsigned char *o = out;
	if (pad) {
		if (len % 4)
			return -1;
		/* At most two '=' and only at the end. */
		for (size_t eq = 0; eq < 2 && len > 0 && in[len - 1] == '=';
		     eq++)
			len--;
	}
	if (len % 4 == 1 || len > (size_t)LONG_MAX)
		return -1;
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outsz)
				return -1;
			o[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero: one spelling per value. */
	return acc == 0 ? (long)n : -1;
}
