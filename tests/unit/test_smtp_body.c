/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_body.c - message content on the wire: CRLF and dot-stuffing,
 * SIZE, a forwarded copy's Delivered-To: lines, and the 8-bit to
 * quoted-printable downgrade (what changes, what stays byte-exact, what
 * is refused)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/mime_codec.h"
#include "smtp/smtp_body.h"
#include "smtp/smtp_proto.h"

static int to_buf(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

static int fail_after(void *ctx, const void *p, size_t n)
{
	(void)p;
	size_t *left = ctx;
	if (n > *left)
		return -1;
	*left -= n;
	return 0;
}

static void write_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"", ".\r\n"},
	        {"a\n", "a\r\n.\r\n"},
	        {"a", "a\r\n.\r\n"},
	        {"a\nb", "a\r\nb\r\n.\r\n"},
	        {".\n", "..\r\n.\r\n"},
	        {".x\n..y\nz.\n", "..x\r\n...y\r\nz.\r\n.\r\n"},
	        {"a\r\nb\n", "a\r\nb\r\n.\r\n"}, /* CR LF is one end */
	        {"a\rb\n", "a\rb\r\n.\r\n"},     /* a lone CR is data */
	        {"\n\n", "\r\n\r\n.\r\n"},
	        {"x\n.", "x\r\n..\r\n.\r\n"},
	};
	struct buf out;
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		assert_int_equal(smtp_body_write(cases[i].in,
		                                 strlen(cases[i].in), to_buf,
		                                 &out),
		                 0);
		if (strcmp(buf_cstr(&out), cases[i].out))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
			         buf_cstr(&out), cases[i].out);
	}
	buf_deinit(&out);
	/* A writer failure stops the copy at any point. */
	const char *msg = ".a\nb\nc\n";
	for (size_t left = 0; left < 13; left++) {
		size_t l = left;
		assert_int_equal(
		        smtp_body_write(msg, strlen(msg), fail_after, &l), -1);
	}
	size_t l = 14;
	assert_int_equal(smtp_body_write(msg, strlen(msg), fail_after, &l), 0);
}

static void sizes_and_8bit(void **state)
{
	(void)state;
	assert_int_equal(smtp_body_wire_size("a\nb\n", 4), 6);
	assert_int_equal(smtp_body_wire_size("a\r\nb", 4), 4);
	assert_false(smtp_body_has_8bit("plain\n", 6));
	assert_true(smtp_body_has_8bit("caf\xc3\xa9", 5));
	assert_false(smtp_body_has_8bit("\xff", 0));
}

/* A forwarded copy's Delivered-To: lines, wire-ready: they are sent as
 * they are in front of the message and count as they are for SIZE=. */
static void delivered_to_lines(void **state)
{
	(void)state;
	struct buf out, wire;
	buf_init(&out, 0);
	buf_init(&wire, 0);
	const char *chain = "a@one.test\nb@two.test";
	assert_int_equal(smtp_body_delivered_to(chain, strlen(chain), false,
	                                        &out),
	                 0);
	assert_string_equal(buf_cstr(&out), "Delivered-To: a@one.test\r\n"
	                                    "Delivered-To: b@two.test\r\n");
	/* DATA would send these bytes unchanged; SIZE counts them so. */
	assert_int_equal(smtp_body_write(out.data, out.len, to_buf, &wire), 0);
	assert_int_equal(wire.len, out.len + 3);
	assert_memory_equal(wire.data, out.data, out.len);
	assert_int_equal(smtp_body_wire_size(out.data, out.len), out.len);
	/* An 8-bit address only where SMTPUTF8 is used. */
	const char *utf8 = "b\xc3\xb8" "b@one.test\na@one.test";
	buf_reset(&out);
	assert_int_equal(smtp_body_delivered_to(utf8, strlen(utf8), false,
	                                        &out),
	                 0);
	assert_string_equal(buf_cstr(&out), "Delivered-To: a@one.test\r\n");
	buf_reset(&out);
	assert_int_equal(smtp_body_delivered_to(utf8, strlen(utf8), true,
	                                        &out),
	                 0);
	assert_string_equal(buf_cstr(&out),
	                    "Delivered-To: b\xc3\xb8" "b@one.test\r\n"
	                    "Delivered-To: a@one.test\r\n");
	/* Past the buffer's maximum: -1. */
	struct buf small;
	buf_init(&small, 20);
	assert_int_equal(smtp_body_delivered_to(chain, strlen(chain), false,
	                                        &small),
	                 -1);
	buf_deinit(&small);
	buf_deinit(&wire);
	buf_deinit(&out);
}

static void xtext(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 64);
	assert_int_equal(smtp_xtext("a+b=c d\x01\xff~", 10, &out), 0);
	assert_string_equal(buf_cstr(&out), "a+2Bb+3Dc+20d+01+FF~");
	struct buf small;
	buf_init(&small, 4);
	assert_int_equal(smtp_xtext("++", 2, &small), -1);
	buf_deinit(&small);
	buf_deinit(&out);
}

/* Downgrades msg and checks the result has no 8-bit byte. */
static const char *downgrade(const char *msg, struct buf *out)
{
	struct err e;
	buf_reset(out);
	if (smtp_body_downgrade(msg, strlen(msg), out, &e) < 0)
		fail_msg("downgrade failed: %s", e.msg);
	assert_false(smtp_body_has_8bit(out->data, out->len));
	return buf_cstr(out);
}

static void plain_message_gets_mime_headers(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 0);
	const char *got = downgrade("Subject: hi\n"
	                            "\n"
	                            "caf\xc3\xa9 \n"
	                            "line2\n",
	                            &out);
	assert_string_equal(got, "Subject: hi\n"
	                         "MIME-Version: 1.0\n"
	                         "Content-Type: text/plain; "
	                         "charset=unknown-8bit\n"
	                         "Content-Transfer-Encoding: quoted-printable\n"
	                         "\n"
	                         "caf=C3=A9=20\r\n"
	                         "line2\r\n");
	buf_deinit(&out);
}

static void text_part_cte_is_replaced(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 0);
	const char *got = downgrade("MIME-Version: 1.0\n"
	                            "Content-Transfer-Encoding:\n"
	                            "  8bit\n"
	                            "Content-Type: text/plain; charset=utf-8\n"
	                            "Subject: x\n"
	                            "\n"
	                            "\xc3\xa4=\n",
	                            &out);
	assert_string_equal(got, "MIME-Version: 1.0\n"
	                         "Content-Type: text/plain; charset=utf-8\n"
	                         "Subject: x\n"
	                         "Content-Transfer-Encoding: quoted-printable\n"
	                         "\n"
	                         "=C3=A4=3D\r\n");
	/* And it decodes back to the original bytes. */
	struct buf dec;
	buf_init(&dec, 0);
	const char *body = strstr(got, "\n\n") + 2;
	assert_int_equal(mime_qp_decode(body, strlen(body), 0, &dec, NULL), 0);
	assert_string_equal(buf_cstr(&dec), "\xc3\xa4=\r\n");
	buf_deinit(&dec);
	buf_deinit(&out);
}

static void multipart_keeps_7bit_parts_exact(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 0);
	const char *got =
	        downgrade("MIME-Version: 1.0\n"
	                  "Content-Type: multipart/mixed; boundary=b\n"
	                  "Content-Transfer-Encoding: 8bit\n"
	                  "\n"
	                  "preamble\n"
	                  "--b\n"
	                  "Content-Type: text/plain\n"
	                  "\n"
	                  "ascii only\n"
	                  "--b\n"
	                  "Content-Type: message/rfc822\n"
	                  "Content-Transfer-Encoding: 8bit\n"
	                  "\n"
	                  "Subject: inner\n"
	                  "Content-Type: text/plain; charset=latin1\n"
	                  "\n"
	                  "caf\xe9\n"
	                  "--b--\n"
	                  "epilogue\n",
	                  &out);
	assert_string_equal(got, "MIME-Version: 1.0\n"
	                         "Content-Type: multipart/mixed; boundary=b\n"
	                         "Content-Transfer-Encoding: 7bit\n"
	                         "\n"
	                         "preamble\n"
	                         "--b\n"
	                         "Content-Type: text/plain\n"
	                         "\n"
	                         "ascii only\n"
	                         "--b\n"
	                         "Content-Type: message/rfc822\n"
	                         "Content-Transfer-Encoding: 7bit\n"
	                         "\n"
	                         "Subject: inner\n"
	                         "Content-Type: text/plain; charset=latin1\n"
	                         "Content-Transfer-Encoding: quoted-printable\n"
	                         "\n"
	                         "caf=E9\n"
	                         "--b--\n"
	                         "epilogue\n");
	buf_deinit(&out);
}

static void seven_bit_message_is_unchanged(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 0);
	const char *msg = "Subject: x\n\nplain\n";
	assert_string_equal(downgrade(msg, &out), msg);
	buf_deinit(&out);
}

static void refusals(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        /* 8-bit header text needs SMTPUTF8, not a conversion. */
	        "Subject: Gr\xc3\xbc\xc3\x9f"
	        "e\n\nbody \xc3\xa4\n",
	        /* Already encoded: 8-bit bytes there are corrupt. */
	        "MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\n"
	        "\xff\xff\n",
	        "MIME-Version: 1.0\nContent-Transfer-Encoding: binary\n\n"
	        "\xff\n",
	        /* message/global carries 8-bit headers by design. */
	        "MIME-Version: 1.0\nContent-Type: multipart/mixed; "
	        "boundary=b\n\n--b\nContent-Type: message/global\n\n"
	        "Subject: \xc3\xa4\n\nx\n--b--\n",
	        /* 8-bit between parts. */
	        "MIME-Version: 1.0\nContent-Type: multipart/mixed; "
	        "boundary=b\n\npre \xc3\xa4\n--b\n\nx\n--b--\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf out;
		struct err e;
		buf_init(&out, 0);
		if (smtp_body_downgrade(bad[i], strlen(bad[i]), &out, &e) != -1)
			fail_msg("case %zu converted: %s", i, buf_cstr(&out));
		buf_deinit(&out);
	}
	/* The output bound is honoured. */
	struct buf small;
	struct err e;
	buf_init(&small, 20);
	const char *msg = "Subject: x\n\n\xc3\xa4\xc3\xa4\xc3\xa4\n";
	assert_int_equal(smtp_body_downgrade(msg, strlen(msg), &small, &e), -1);
	buf_deinit(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(write_cases),
	        cmocka_unit_test(sizes_and_8bit),
	        cmocka_unit_test(delivered_to_lines),
	        cmocka_unit_test(xtext),
	        cmocka_unit_test(plain_message_gets_mime_headers),
	        cmocka_unit_test(text_part_cte_is_replaced),
	        cmocka_unit_test(multipart_keeps_7bit_parts_exact),
	        cmocka_unit_test(seven_bit_message_is_unchanged),
	        cmocka_unit_test(refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
