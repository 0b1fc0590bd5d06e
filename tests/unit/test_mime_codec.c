/* SPDX-License-Identifier: MIT */
/*
 * test_mime_codec.c - base64, quoted-printable, CRLF normalisation
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mime_codec.h"

static void expect_buf(const struct buf *b, const char *want, size_t wlen)
{
	if (b->len != wlen || memcmp(buf_cstr(b), want, wlen) != 0)
		fail_msg("got [%.*s] (%zu), want [%.*s] (%zu)", (int)b->len,
		         buf_cstr(b), b->len, (int)wlen, want, wlen);
}

#define EXPECT(b, lit) expect_buf((b), (lit), sizeof(lit) - 1)

static void b64_decode_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
		unsigned flags;
	} cases[] = {
	        {"SGVsbG8=", "Hello", 0},
	        {"SGVs\r\nbG8=\r\n", "Hello", 0},
	        {"  SG Vs\tbG8=", "Hello", 0},
	        {"SGVsbG8", "Hello", MIME_DEC_BAD_END},      /* unpadded */
	        {"SGVsbG8=QUJD", "Hello", MIME_DEC_BAD_END}, /* after pad */
	        {"SGV*sbG8=", "Hello", MIME_DEC_BAD_CHAR},
	        {"Zm9vYmFy", "foobar", 0},
	        {"Zm9vYmFyQ", "foobar", MIME_DEC_BAD_END}, /* lone sextet */
	        {"", "", 0},
	        {"====", "", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		unsigned fl = 0;
		buf_init(&b, 0);
		assert_int_equal(mime_b64_decode(cases[i].in,
		                                 strlen(cases[i].in), &b, &fl),
		                 0);
		expect_buf(&b, cases[i].want, strlen(cases[i].want));
		if (fl != cases[i].flags)
			fail_msg("case %zu: flags %u, want %u", i, fl,
			         cases[i].flags);
		buf_deinit(&b);
	}
}

static void b64_stream_byte_by_byte(void **state)
{
	(void)state;
	const char *in = "VGhlIHF1aWNr\r\nIGJyb3duIGZveA==\r\n";
	struct mime_b64_dec d;
	struct buf b;
	buf_init(&b, 0);
	mime_b64_dec_init(&d);
	for (size_t i = 0; in[i]; i++)
		assert_int_equal(mime_b64_dec_update(&d, in + i, 1, &b), 0);
	assert_int_equal(mime_b64_dec_final(&d, &b), 0);
	EXPECT(&b, "The quick brown fox");
	assert_int_equal(d.flags, 0);
	buf_deinit(&b);
}

static void b64_encode_lines(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_b64_encode("", 0, true, &b), 0);
	EXPECT(&b, "");
	assert_int_equal(mime_b64_encode("f", 1, true, &b), 0);
	EXPECT(&b, "Zg==\r\n");
	buf_reset(&b);
	assert_int_equal(mime_b64_encode("fo", 2, false, &b), 0);
	EXPECT(&b, "Zm8=");
	buf_reset(&b);
	/* 57 bytes fill exactly one 76-character line. */
	unsigned char raw[58];
	memset(raw, 0xff, sizeof(raw));
	assert_int_equal(mime_b64_encode(raw, 57, true, &b), 0);
	assert_int_equal(b.len, 78);
	assert_memory_equal(b.data + 76, "\r\n", 2);
	buf_reset(&b);
	assert_int_equal(mime_b64_encode(raw, 58, true, &b), 0);
	assert_int_equal(b.len, 78 + 6);
	EXPECT(&b, "////////////////////////////////////////////////////////"
	           "////////////////////\r\n/w==\r\n");
	buf_deinit(&b);
}

static void b64_round_trip_and_max(void **state)
{
	(void)state;
	unsigned char raw[1000];
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 131 + 7);
	for (size_t n = 0; n < 200; n += 7) {
		struct buf enc, dec;
		buf_init(&enc, 0);
		buf_init(&dec, 0);
		assert_int_equal(mime_b64_encode(raw, n, n & 1, &enc), 0);
		unsigned fl = 0;
		assert_int_equal(mime_b64_decode(enc.data ? enc.data : "",
		                                 enc.len, &dec, &fl),
		                 0);
		assert_int_equal(fl, 0);
		assert_int_equal(dec.len, n);
		if (n)
			assert_memory_equal(dec.data, raw, n);
		buf_deinit(&enc);
		buf_deinit(&dec);
	}
	struct buf small;
	buf_init(&small, 3);
	assert_int_equal(mime_b64_decode("SGVsbG8=", 8, &small, NULL), -1);
	assert_int_equal(mime_b64_encode("Hello", 5, false, &small), -1);
	buf_deinit(&small);
}

static void qp_decode_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
		unsigned qflags, bad;
	} cases[] = {
	        {"a=3Db", "a=b", 0, 0},
	        {"abc=\r\ndef", "abcdef", 0, 0},
	        {"abc=  \r\ndef\r\n", "abcdef\r\n", 0, 0},
	        {"abc   \ndef", "abc\ndef", 0, 0},
	        {"caf=e9 =C3=A9", "caf\xe9 \xc3\xa9", 0, 0},
	        {"x=ZZy", "x=ZZy", 0, MIME_DEC_BAD_CHAR},
	        {"x=4", "x=4", 0, MIME_DEC_BAD_CHAR},
	        {"end=", "end", 0, 0},
	        {"a_b=3F", "a_b?", 0, 0},
	        {"a_b=3F", "a b?", MIME_QP_Q, 0},
	        {"\r\n\r\n", "\r\n\r\n", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		unsigned fl = 0;
		buf_init(&b, 0);
		assert_int_equal(mime_qp_decode(cases[i].in,
		                                strlen(cases[i].in),
		                                cases[i].qflags, &b, &fl),
		                 0);
		expect_buf(&b, cases[i].want, strlen(cases[i].want));
		if (fl != cases[i].bad)
			fail_msg("case %zu: flags %u, want %u", i, fl,
			         cases[i].bad);
		buf_deinit(&b);
	}
}

/* Every encoded line is at most 76 characters of printable ASCII and
 * never ends in white space. */
static void check_qp_lines(const struct buf *b)
{
	size_t col = 0;
	for (size_t i = 0; i < b->len; i++) {
		char c = b->data[i];
		if (c == '\r') {
			assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
			assert_true(col <= 76);
			if (i > 0)
				assert_true(b->data[i - 1] != ' ' &&
				            b->data[i - 1] != '\t');
			col = 0;
			i++;
			continue;
		}
		assert_true((c >= 33 && c <= 126) || c == ' ' || c == '\t');
		col++;
	}
	assert_true(col <= 76);
	if (b->len > 0)
		assert_true(b->data[b->len - 1] != ' ');
}

static void qp_encode_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
		unsigned flags;
	} cases[] = {
	        {"plain", "plain", 0},
	        {"a=b", "a=3Db", 0},
	        {"caf\xc3\xa9", "caf=C3=A9", 0},
	        {"trail \nnext\t", "trail=20\r\nnext=09", 0},
	        {"crlf\r\nkept\r\n", "crlf\r\nkept\r\n", 0},
	        {"bare\rcr", "bare=0Dcr", 0},
	        {"a\r\nb", "a=0D=0Ab", MIME_QP_BINARY},
	        {"sp \r\n", "sp =0D=0A",
	         MIME_QP_BINARY}, /* not at a line end */
	        {"", "", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(mime_qp_encode(cases[i].in,
		                                strlen(cases[i].in),
		                                cases[i].flags, &b),
		                 0);
		expect_buf(&b, cases[i].want, strlen(cases[i].want));
		buf_deinit(&b);
	}
}

static void qp_long_lines(void **state)
{
	(void)state;
	char in[400];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = i % 97 == 96 ? '\n' : (i % 5 ? 'a' : '\xe9');
	struct buf enc, dec;
	buf_init(&enc, 0);
	buf_init(&dec, 0);
	assert_int_equal(mime_qp_encode(in, sizeof(in), 0, &enc), 0);
	check_qp_lines(&enc);
	unsigned fl = 0;
	assert_int_equal(mime_qp_decode(enc.data, enc.len, 0, &dec, &fl), 0);
	assert_int_equal(fl, 0);
	/* Text mode turns the LFs into CRLFs; nothing else changes. */
	struct buf want;
	buf_init(&want, 0);
	for (size_t i = 0; i < sizeof(in); i++)
		if (in[i] == '\n')
			(void)buf_append(&want, "\r\n", 2);
		else
			(void)buf_append_char(&want, in[i]);
	expect_buf(&dec, want.data, want.len);
	/* Line by line gives the same bytes as all at once. */
	struct buf pieces;
	buf_init(&pieces, 0);
	size_t start = 0;
	for (size_t i = 0; i <= sizeof(in); i++)
		if (i == sizeof(in) || in[i] == '\n') {
			size_t end = i < sizeof(in) ? i + 1 : i;
			assert_int_equal(mime_qp_encode(in + start, end - start,
			                                0, &pieces),
			                 0);
			start = end;
		}
	expect_buf(&pieces, enc.data, enc.len);
	buf_deinit(&pieces);
	buf_deinit(&want);
	buf_deinit(&enc);
	buf_deinit(&dec);
}

static void qp_binary_round_trip(void **state)
{
	(void)state;
	unsigned char raw[600];
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + (i >> 3));
	for (size_t n = 0; n <= sizeof(raw); n += 50) {
		struct buf enc, dec;
		buf_init(&enc, 0);
		buf_init(&dec, 0);
		assert_int_equal(mime_qp_encode(raw, n, MIME_QP_BINARY, &enc),
		                 0);
		check_qp_lines(&enc);
		assert_int_equal(mime_qp_decode(enc.data ? enc.data : "",
		                                enc.len, 0, &dec, NULL),
		                 0);
		assert_int_equal(dec.len, n);
		if (n)
			assert_memory_equal(dec.data, raw, n);
		buf_deinit(&enc);
		buf_deinit(&dec);
	}
}

static void crlf_measure_and_append(void **state)
{
	(void)state;
	static const struct {
		const char *in, *norm;
		size_t lines;
	} cases[] = {
	        {"a\nb\r\nc", "a\r\nb\r\nc", 3},
	        {"a\r\n", "a\r\n", 1},
	        {"\n\n", "\r\n\r\n", 2},
	        {"x\ry\n", "x\ry\r\n", 1},
	        {"", "", 0},
	        {"no newline", "no newline", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in, *norm = cases[i].norm;
		size_t size, lines, nlen = strlen(norm);
		mime_crlf_measure(in, strlen(in), &size, &lines);
		assert_int_equal(size, nlen);
		assert_int_equal(lines, cases[i].lines);
		/* Every partial range <skip.max> is the same slice of the
		 * normalised text. */
		for (size_t skip = 0; skip <= nlen + 1; skip++)
			for (size_t max = 0; max <= nlen + 1; max++) {
				struct buf b;
				buf_init(&b, 0);
				assert_int_equal(mime_crlf_append(&b, in,
				                                  strlen(in),
				                                  skip, max, 0),
				                 0);
				size_t s = skip < nlen ? skip : nlen;
				size_t n = nlen - s < max ? nlen - s : max;
				expect_buf(&b, norm + s, n);
				buf_deinit(&b);
			}
	}
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(
	        mime_crlf_append(&b, "a\0b\n", 4, 0, SIZE_MAX, MIME_CRLF_NUL),
	        0);
	EXPECT(&b, "a\x80"
	           "b\r\n");
	buf_deinit(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(b64_decode_cases),
	        cmocka_unit_test(b64_stream_byte_by_byte),
	        cmocka_unit_test(b64_encode_lines),
	        cmocka_unit_test(b64_round_trip_and_max),
	        cmocka_unit_test(qp_decode_cases),
	        cmocka_unit_test(qp_encode_cases),
	        cmocka_unit_test(qp_long_lines),
	        cmocka_unit_test(qp_binary_round_trip),
	        cmocka_unit_test(crlf_measure_and_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
