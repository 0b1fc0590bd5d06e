/* SPDX-License-Identifier: MIT */
/*
 * fuzz_b64.c - strict base64 as it meets SASL client lines: decoding never
 * overruns, and whatever decodes re-encodes to exactly the input (one
 * spelling per value), padded and unpadded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/sasl_server.h"

static void round_trip(const char *in, size_t len, bool pad)
{
	size_t cap = len / 4 * 3 + 3;
	unsigned char *raw = malloc(cap ? cap : 1);
	long n = b64_decode(in, len, pad, raw, cap);
	if (n >= 0) {
		size_t elen = b64_encoded_len((size_t)n, pad);
		char *enc = malloc(elen + 1);
		if (b64_encode(raw, (size_t)n, pad, enc, elen + 1) !=
			    (long)elen ||
		    elen != len || memcmp(enc, in, len) != 0)
			abort();
		free(enc);
	}
	/* A too-small output buffer is refused, never overrun. */
	if (n > 0 && b64_decode(in, len, pad, raw, (size_t)n - 1) != -1)
		abort();
	free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	round_trip(in, size, true);
	round_trip(in, size, false);
	struct buf b;
	buf_init(&b, 64);
	(void)sasl_server_b64_decode(in, size, &b);
	if (b.len > 64)
		abort();
	buf_deinit(&b);
	return 0;
}
