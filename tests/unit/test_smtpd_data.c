/* SPDX-License-Identifier: MIT */
/*
 * test_smtpd_data.c - the DATA/BDAT content machine, fed whole, one byte
 * at a time and in every two-piece split: end of data only at
 * CRLF.CRLF, dot-unstuffing, each SMTP smuggling variant, bare CR/LF per
 * smtpd_forbid_bare_newline, size and line limits
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/smtpd_data.h"

#define NORM SMTPD_BARE_NORMALIZE
#define REJ SMTPD_BARE_REJECT
#define NO SMTPD_BARE_NO

/* Flags the results may have: */
#define F_LF 0x1   /* bare_lf */
#define F_CR 0x2   /* bare_cr */
#define F_FAIL 0x4 /* smtpd_data_failed */

struct dcase {
	const char *name;
	const char *in;
	enum smtpd_bare_mode mode;
	int end;          /* 1: the end is found */
	size_t rest;      /* bytes left after the end */
	const char *want; /* stored bytes */
	unsigned flags;
	size_t inlen, wantlen; /* for inputs with NUL; 0: strlen */
};

static const struct dcase cases[] = {
	{"plain", "a\r\nb\r\n.\r\n", NORM, 1, 0, "a\nb\n", 0, 0, 0},
	{"empty message", ".\r\n", NORM, 1, 0, "", 0, 0, 0},
	{"pipelined after end", "a\r\n.\r\nQUIT\r\n", NORM, 1, 6, "a\n", 0, 0, 0},
	{"unstuffing", "..a\r\n...\r\n.\r\n", NORM, 1, 0, ".a\n..\n", 0, 0, 0},
	{"dot alone mid-line", "a.\r\n.b\r\n.\r\n", NORM, 1, 0, "a.\nb\n", 0, 0, 0},
	{"no end yet", "a\r\n.\r", NORM, 0, 0, "a\n", 0, 0, 0},
	{"8bit kept", "\xc3\xa4\xff\r\n.\r\n", NORM, 1, 0, "\xc3\xa4\xff\n",
	 0, 0, 0},
	{"NUL kept", "a\0b\r\n.\r\n", NORM, 1, 0, "a\0b\n", 0, 8, 4},
	/* The 2023 smuggling variants: none ends the message, so what
	 * follows can never be a second one. */
	{"smuggle LF.LF", "a\n.\nMAIL FROM:<x@y>\r\n.\r\n", NORM, 1, 0,
	 "a\n.\nMAIL FROM:<x@y>\n", F_LF, 0, 0},
	{"smuggle LF.CRLF", "a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", NORM, 1, 0,
	 "a\n.\nMAIL FROM:<x@y>\n", F_LF, 0, 0},
	{"smuggle CR.CR", "a\r.\rMAIL FROM:<x@y>\r\n.\r\n", NORM, 1, 0,
	 "a\n.\nMAIL FROM:<x@y>\n", F_CR, 0, 0},
	{"smuggle CRLF.CR", "a\r\n.\rMAIL FROM:<x@y>\r\n.\r\n", NORM, 1, 0,
	 "a\n.\nMAIL FROM:<x@y>\n", F_CR, 0, 0},
	{"smuggle CR.CRLF", "a\r.\r\nMAIL\r\n.\r\n", NORM, 1, 0,
	 "a\n.\nMAIL\n", F_CR, 0, 0},
	{"smuggle CRLF.LF", "a\r\n.\nMAIL\r\n.\r\n", NORM, 1, 0,
	 "a\n.\nMAIL\n", F_LF, 0, 0},
	{"smuggle LF.CR", "a\n.\rMAIL\r\n.\r\n", NORM, 1, 0, "a\n.\nMAIL\n",
	 F_LF | F_CR, 0, 0},
	{"smuggle CRLF.NULCRLF", "a\r\n.\0\r\nb\r\n.\r\n", NORM, 1, 0,
	 "a\n\0\nb\n", 0, 13, 6},
	/* reject mode: the same, but refused at the real end */
	{"reject LF.LF", "a\n.\nMAIL\r\n.\r\n", REJ, 1, 0, "a", F_LF | F_FAIL, 0, 0},
	{"reject CR.CR", "a\r.\rMAIL\r\n.\r\n", REJ, 1, 0, "a", F_CR | F_FAIL, 0, 0},
	{"reject clean", "a\r\n.\r\n", REJ, 1, 0, "a\n", 0, 0, 0},
	/* "no": bare LF ends a line, bare CR is data; still no end */
	{"no LF lines", "a\nb\n.\r\n", NO, 0, 0, "a\nb\n.\n", F_LF, 0, 0},
	{"no LF then end", "a\nb\r\n.\r\n", NO, 1, 0, "a\nb\n", F_LF, 0, 0},
	{"no CR data", "a\rb\r\n.\r\n", NO, 1, 0, "a\rb\n", F_CR, 0, 0},
	{"no CR.CR", "a\r.\rb\r\n.\r\n", NO, 1, 0, "a\r.\rb\n", F_CR, 0, 0},
	{"no CRLF.CR", "a\r\n.\rb\r\n.\r\n", NO, 1, 0, "a\n\rb\n", F_CR, 0, 0},
	{"CR CR LF", "a\r\r\n.\r\n", NORM, 1, 0, "a\n\n", F_CR, 0, 0},
};

static struct buf out;

/* Feeds in[0..n) in pieces of the given sizes (cycling); returns end and
 * the bytes left over. */
static int run(const struct dcase *c, const size_t *steps, size_t nsteps,
	       struct smtpd_data *d, size_t *rest)
{
	const char *in = c->in;
	size_t n = c->inlen ? c->inlen : strlen(in);
	buf_reset(&out);
	smtpd_data_init(d, true, c->mode, 1 << 20, 1000, &out);
	size_t off = 0, k = 0;
	while (off < n) {
		size_t step = steps[k++ % nsteps];
		if (step > n - off)
			step = n - off;
		size_t used;
		int end = smtpd_data_feed(d, in + off, step, &used);
		off += used;
		if (end) {
			*rest = n - off;
			return 1;
		}
		assert_int_equal(used, step);
	}
	*rest = 0;
	return 0;
}

static void check(const struct dcase *c, const char *how, int end,
		  size_t rest, const struct smtpd_data *d)
{
	size_t wl = c->wantlen ? c->wantlen : strlen(c->want);
	unsigned flags = (d->bare_lf ? F_LF : 0) | (d->bare_cr ? F_CR : 0) |
			 (smtpd_data_failed(d) ? F_FAIL : 0);
	if (end != c->end || rest != c->rest || out.len != wl ||
	    memcmp(out.data, c->want, wl) != 0 || flags != c->flags)
		fail_msg("%s (%s): got end %d rest %zu flags %x out[%zu] "
			 "\"%.*s\"; want end %d rest %zu flags %x \"%s\"",
			 c->name, how, end, rest, flags, out.len,
			 (int)out.len, out.data, c->end, c->rest, c->flags,
			 c->want);
}

static void table(void **state)
{
	(void)state;
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dcase *c = &cases[i];
		struct smtpd_data d;
		size_t rest;
		size_t whole = SIZE_MAX, one = 1;
		int end = run(c, &whole, 1, &d, &rest);
		check(c, "whole", end, rest, &d);
		end = run(c, &one, 1, &d, &rest);
		check(c, "bytewise", end, rest, &d);
		/* every split into two pieces */
		size_t n = c->inlen ? c->inlen : strlen(c->in);
		for (size_t cut = 1; cut < n; cut++) {
			size_t steps[2] = {cut, SIZE_MAX};
			end = run(c, steps, 2, &d, &rest);
			check(c, "split", end, rest, &d);
		}
	}
	buf_deinit(&out);
}

static void limits(void **state)
{
	(void)state;
	struct smtpd_data d;
	size_t used;
	buf_init(&out, 0);
	/* line of 998 + CRLF = 1000 is fine; 999 + CRLF is too long */
	char line[1100];
	memset(line, 'x', sizeof(line));
	for (size_t len = 998; len <= 999; len++) {
		buf_reset(&out);
		smtpd_data_init(&d, true, NORM, 1 << 20, 1000, &out);
		memcpy(line + len, "\r\n.\r\n", 5);
		assert_int_equal(smtpd_data_feed(&d, line, len + 5, &used), 1);
		assert_int_equal(d.too_long, len == 999);
		assert_int_equal(smtpd_data_failed(&d), len == 999);
		memset(line + len, 'x', 5);
	}
	/* size: 100 bytes allowed; the marker does not count */
	for (int extra = 0; extra <= 1; extra++) {
		char msg[200];
		buf_reset(&out);
		smtpd_data_init(&d, true, NORM, 100, 1000, &out);
		size_t n = 98 + (size_t)extra;
		memset(msg, 'y', n);
		memcpy(msg + n, "\r\n.\r\n", 5);
		assert_int_equal(smtpd_data_feed(&d, msg, n + 5, &used), 1);
		assert_int_equal(d.size, n + 2);
		assert_int_equal(d.too_big, extra == 1);
	}
	/* a refused message is still read to its end, and stored no more */
	buf_reset(&out);
	smtpd_data_init(&d, true, NORM, 10, 1000, &out);
	const char *big = "0123456789abcdef\r\nmore\r\n.\r\nQUIT\r\n";
	assert_int_equal(smtpd_data_feed(&d, big, strlen(big), &used), 1);
	assert_int_equal(strlen(big) - used, 6);
	assert_true(d.too_big);
	assert_true(out.len <= 10);
	/* a full output buffer counts as too big, not as a crash */
	struct buf tiny;
	buf_init(&tiny, 4);
	smtpd_data_init(&d, true, NORM, 1000, 1000, &tiny);
	assert_int_equal(smtpd_data_feed(&d, "abcdef\r\n.\r\n", 11, &used), 1);
	assert_true(d.too_big);
	buf_deinit(&tiny);
	/* fed after the end: nothing more is consumed */
	assert_int_equal(smtpd_data_feed(&d, "x", 1, &used), 1);
	assert_int_equal(used, 0);
	buf_deinit(&out);
}

static void bdat(void **state)
{
	(void)state;
	struct smtpd_data d;
	size_t used;
	buf_init(&out, 0);
	/* no dot rules, no end marker; CRLF split across chunks */
	smtpd_data_init(&d, false, NORM, 1 << 20, 1000, &out);
	assert_int_equal(smtpd_data_feed(&d, ".a\r", 3, &used), 0);
	assert_int_equal(smtpd_data_feed(&d, "\n.\r\n", 4, &used), 0);
	assert_int_equal(smtpd_data_feed(&d, "last", 4, &used), 0);
	smtpd_data_finish(&d);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.data, ".a\n.\nlast\n", 10);
	assert_int_equal(d.size, 11);
	/* a pending CR at the end is a bare CR */
	buf_reset(&out);
	smtpd_data_init(&d, false, NORM, 1 << 20, 1000, &out);
	assert_int_equal(smtpd_data_feed(&d, "x\r", 2, &used), 0);
	smtpd_data_finish(&d);
	assert_true(d.bare_cr);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "x\n", 2);
	/* the same in "no" mode keeps the CR */
	buf_reset(&out);
	smtpd_data_init(&d, false, NO, 1 << 20, 1000, &out);
	assert_int_equal(smtpd_data_feed(&d, "x\r", 2, &used), 0);
	smtpd_data_finish(&d);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "x\r\n", 3);
	buf_deinit(&out);
}

static void modes(void **state)
{
	(void)state;
	enum smtpd_bare_mode m;
	assert_int_equal(smtpd_bare_mode_parse("normalize", &m), 0);
	assert_int_equal(m, NORM);
	assert_int_equal(smtpd_bare_mode_parse("yes", &m), 0);
	assert_int_equal(m, NORM);
	assert_int_equal(smtpd_bare_mode_parse("REJECT", &m), 0);
	assert_int_equal(m, REJ);
	assert_int_equal(smtpd_bare_mode_parse("no", &m), 0);
	assert_int_equal(m, NO);
	assert_int_equal(smtpd_bare_mode_parse("maybe", &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table),
		cmocka_unit_test(limits),
		cmocka_unit_test(bdat),
		cmocka_unit_test(modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
