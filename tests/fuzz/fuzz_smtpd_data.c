/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtpd_data.c - the DATA/BDAT content machine: the result does not
 * depend on how the input is split, the end of DATA is only ever found
 * right after CR LF "." CR LF (or ". CR LF" at the very start), and in
 * the normalizing modes no CR survives into the stored form.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd_data.h"

struct result {
	int end;
	size_t used;
	struct buf out;
	struct smtpd_data d;
};

static void run(const char *in, size_t len, unsigned ctl, size_t step,
		struct result *r)
{
	buf_init(&r->out, 0);
	smtpd_data_init(&r->d, (ctl & 4) == 0, (enum smtpd_bare_mode)(ctl % 3),
			(ctl & 8) ? 64 : 1 << 20, (ctl & 16) ? 40 : 1000,
			&r->out);
	size_t off = 0;
	r->end = 0;
	while (off < len && !r->end) {
		size_t n = step < len - off ? step : len - off, used;
		r->end = smtpd_data_feed(&r->d, in + off, n, &used);
		if (used > n || (!r->end && used != n))
			abort();
		off += used;
	}
	if (!r->d.dot)
		smtpd_data_finish(&r->d);
	r->used = off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned ctl = data[0];
	size_t step = (size_t)data[1] % 7 + 1;
	size_t len = size - 2;
	char *in = malloc(len ? len : 1);
	memcpy(in, data + 2, len);
	struct result a, b;
	run(in, len, ctl, len ? len : 1, &a);
	run(in, len, ctl, step, &b);
	/* A refused message's output is partial and thrown away: only an
	 * accepted one must be the same however it arrived. */
	bool same_out = a.out.len == b.out.len &&
			(a.out.len == 0 ||
			 memcmp(a.out.data, b.out.data, a.out.len) == 0);
	if (a.end != b.end || a.used != b.used ||
	    (!smtpd_data_failed(&a.d) && !same_out) || a.d.size != b.d.size || a.d.bare_lf != b.d.bare_lf ||
	    a.d.bare_cr != b.d.bare_cr || a.d.too_long != b.d.too_long ||
	    a.d.too_big != b.d.too_big)
		abort();
	if (a.end && !(a.used == 3 && memcmp(in, ".\r\n", 3) == 0) &&
	    !(a.used >= 5 && memcmp(in + a.used - 5, "\r\n.\r\n", 5) == 0))
		abort();
	if (a.d.mode != SMTPD_BARE_NO && !smtpd_data_failed(&a.d) &&
	    a.out.len && memchr(a.out.data, '\r', a.out.len))
		abort();
	buf_deinit(&a.out);
	buf_deinit(&b.out);
	free(in);
	return 0;
}
