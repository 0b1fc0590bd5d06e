/* SPDX-License-Identifier: MIT */
/*
 * test_smtpd_params.c - ESMTP parameters of MAIL and RCPT: each keyword's
 * values, duplicates, unknown keywords, xtext
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/smtpd_params.h"

static const struct {
	const char *in;
	int code; /* 0: accepted */
} mail_cases[] = {
	{"", 0},
	{" SIZE=1000", 0},
	{" size=0", 0},
	{" SIZE=18446744073709551615", 0},
	{" SIZE=18446744073709551616", 501},
	{" SIZE=123456789012345678901", 501},
	{" SIZE=-1", 501},
	{" SIZE=", 501},
	{" SIZE", 501},
	{" SIZE=1 SIZE=2", 501},
	{" SIZE=1 size=2", 501},
	{" BODY=7BIT", 0},
	{" BODY=8bitmime", 0},
	{" BODY=BINARYMIME", 501},
	{" BODY=", 501},
	{" SMTPUTF8", 0},
	{" SMTPUTF8=yes", 501},
	{" RET=FULL", 0},
	{" RET=hdrs", 0},
	{" RET=ALL", 501},
	{" ENVID=abc+2Bdef", 0},
	{" ENVID=abc+2bdef", 501},
	{" ENVID=abc+2", 501},
	{" ENVID=a+", 501},
	{" AUTH=<>", 0},
	{" AUTH=user+40example.com", 0},
	{" AUTH=bad+zz", 501},
	{" FOO=bar", 555},
	{" X-ANY", 555},
	{"  SIZE=10", 0},       /* extra spaces tolerated */
	{" SIZE=10 ", 0},       /* trailing space tolerated */
	{"SIZE=10", 501},       /* no separating space */
	{" =10", 501},
	{" -X=1", 501},
	{" SI_ZE=1", 501},
	{" SIZE=1\x01", 501},
	{" SIZE=1=2", 501},
	{" SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ123", 0},
};

static void mail_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]);
	     i++) {
		struct smtpd_mail_params mp;
		struct smtpd_reply_err e;
		const char *in = mail_cases[i].in;
		int rc = smtpd_params_mail(in, strlen(in), &mp, &e);
		int got = rc == 0 ? 0 : e.code;
		if (got != mail_cases[i].code)
			fail_msg("MAIL case %zu \"%s\": got %d (%s), want %d",
				 i, in, got, rc ? e.text : "", mail_cases[i].code);
	}
}

static void mail_values(void **state)
{
	(void)state;
	struct smtpd_mail_params mp;
	struct smtpd_reply_err e;
	const char *in = " SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS "
			 "ENVID=QQ+2B1 AUTH=<>";
	assert_int_equal(smtpd_params_mail(in, strlen(in), &mp, &e), 0);
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 12345);
	assert_int_equal(mp.body, QUEUE_BODY_8BITMIME);
	assert_true(mp.smtputf8);
	assert_int_equal(mp.ret, QUEUE_RET_HDRS);
	assert_string_equal(mp.envid, "QQ+2B1");
	assert_true(mp.auth_given);
	assert_int_equal(smtpd_params_mail("", 0, &mp, &e), 0);
	assert_false(mp.has_size);
	assert_int_equal(mp.body, QUEUE_BODY_7BIT);
	assert_int_equal(mp.ret, QUEUE_RET_DEFAULT);
	assert_string_equal(mp.envid, "");
	/* the reply names the keyword */
	assert_int_equal(smtpd_params_mail(" XYZ=1", 6, &mp, &e), -1);
	assert_int_equal(e.code, 555);
	assert_string_equal(e.dsn, "5.5.4");
	assert_string_equal(e.text, "Unsupported option: XYZ");
	/* ENVID: 100 decoded characters is the RFC 3461 limit */
	char big[400] = " ENVID=";
	memset(big + 7, 'e', 100);
	assert_int_equal(smtpd_params_mail(big, 107, &mp, &e), 0);
	big[107] = 'e';
	assert_int_equal(smtpd_params_mail(big, 108, &mp, &e), -1);
	/* too many parameters */
	char many[400] = "";
	for (int k = 0; k < 17; k++)
		memcpy(many + 4 * k, " X=1", 5);
	assert_int_equal(smtpd_params_mail(many, strlen(many), &mp, &e), -1);
	assert_int_equal(e.code, 501);
}

static const struct {
	const char *in;
	bool utf8;
	int code;
	unsigned notify;
} rcpt_cases[] = {
	{"", false, 0, 0},
	{" NOTIFY=NEVER", false, 0, QUEUE_NOTIFY_NEVER},
	{" NOTIFY=SUCCESS,FAILURE", false, 0,
	 QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE},
	{" notify=delay", false, 0, QUEUE_NOTIFY_DELAY},
	{" NOTIFY=SUCCESS,FAILURE,DELAY", false, 0,
	 QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY},
	{" NOTIFY=NEVER,SUCCESS", false, 501, 0},
	{" NOTIFY=SUCCESS,SUCCESS", false, 501, 0},
	{" NOTIFY=SUCCESS,", false, 501, 0},
	{" NOTIFY=", false, 501, 0},
	{" NOTIFY=SOMETIMES", false, 501, 0},
	{" ORCPT=rfc822;user@example.com", false, 0, 0},
	{" ORCPT=RFC822;user+40example.com", false, 0, 0},
	{" ORCPT=rfc822;", false, 501, 0},
	{" ORCPT=rfc822", false, 501, 0},
	{" ORCPT=x400;abc", false, 501, 0},
	{" ORCPT=rfc822;a+zz", false, 501, 0},
	{" ORCPT=utf-8;j\xc3\xb6rg@x.y", true, 0, 0},
	{" ORCPT=utf-8;j\xc3\xb6rg@x.y", false, 501, 0},
	{" ORCPT=rfc822;a@b ORCPT=rfc822;c@d", false, 501, 0},
	{" SIZE=10", false, 555, 0},
	{" NOTIFY=NEVER ORCPT=rfc822;a@b.c", false, 0, QUEUE_NOTIFY_NEVER},
};

static void rcpt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]);
	     i++) {
		struct smtpd_rcpt_params rp;
		struct smtpd_reply_err e;
		const char *in = rcpt_cases[i].in;
		int rc = smtpd_params_rcpt(in, strlen(in), rcpt_cases[i].utf8,
					   &rp, &e);
		int got = rc == 0 ? 0 : e.code;
		if (got != rcpt_cases[i].code)
			fail_msg("RCPT case %zu \"%s\": got %d (%s), want %d",
				 i, in, got, rc ? e.text : "",
				 rcpt_cases[i].code);
		if (rc == 0 && rp.notify != rcpt_cases[i].notify)
			fail_msg("RCPT case %zu: notify %u, want %u", i,
				 rp.notify, rcpt_cases[i].notify);
	}
	struct smtpd_rcpt_params rp;
	struct smtpd_reply_err e;
	const char *in = " ORCPT=rfc822;a+2Bb@c.d";
	assert_int_equal(smtpd_params_rcpt(in, strlen(in), false, &rp, &e),
			 0);
	assert_string_equal(rp.orcpt, "rfc822;a+2Bb@c.d");
}

static void xtext(void **state)
{
	(void)state;
	char out[16];
	assert_int_equal(smtpd_xtext_decode("a+2Bb+3D", 8, out, sizeof(out)),
			 4);
	assert_memory_equal(out, "a+b=", 4);
	assert_int_equal(smtpd_xtext_decode("+00", 3, out, sizeof(out)), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(smtpd_xtext_decode("", 0, out, sizeof(out)), 0);
	assert_int_equal(smtpd_xtext_decode("a b", 3, out, sizeof(out)), -1);
	assert_int_equal(smtpd_xtext_decode("a=b", 3, out, sizeof(out)), -1);
	assert_int_equal(smtpd_xtext_decode("+4", 2, out, sizeof(out)), -1);
	assert_int_equal(smtpd_xtext_decode("+4g", 3, out, sizeof(out)), -1);
	assert_int_equal(smtpd_xtext_decode("abc", 3, out, 2), -1);
	assert_int_equal(smtpd_xtext_decode("\x80", 1, out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mail_table),
		cmocka_unit_test(mail_values),
		cmocka_unit_test(rcpt_table),
		cmocka_unit_test(xtext),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
