/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_body.c - a queued message (bytes a remote client chose) on
 * its way out: the 8-bit to quoted-printable downgrade and the DATA
 * writer. A downgrade that succeeds leaves no 8-bit byte; the written
 * DATA has only CRLF line ends, no line that is a lone "." before the
 * end, and ends in CRLF.CRLF, so the message can never end early or
 * smuggle a second one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_body.h"

static int to_buf(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

static void check_data(const struct buf *b)
{
	const char *d = b->data;
	size_t n = b->len;
	if (n < 3 || memcmp(d + n - 3, ".\r\n", 3) != 0)
		abort();
	if (n > 3 && memcmp(d + n - 5, "\r\n", 2) != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			abort(); /* bare LF */
		/* A lone "." line only at the very end. */
		bool line_start = i == 0 || d[i - 1] == '\n';
		if (line_start && i + 3 <= n &&
		    memcmp(d + i, ".\r\n", 3) == 0 && i + 3 != n)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct buf out, wire;
	struct err e;
	buf_init(&out, size * 4 + 65536);
	buf_init(&wire, 0);
	if (smtp_body_downgrade(msg, size, &out, &e) == 0) {
		if (smtp_body_has_8bit(out.data, out.len))
			abort();
		if (smtp_body_write(out.data, out.len, to_buf, &wire) < 0)
			abort();
		check_data(&wire);
	}
	buf_reset(&wire);
	if (smtp_body_write(msg, size, to_buf, &wire) < 0)
		abort();
	check_data(&wire);
	buf_deinit(&out);
	buf_deinit(&wire);
	return 0;
}
