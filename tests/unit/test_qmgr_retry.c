/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_retry.c - qmgr's backoff, expiry, delay-warning and NOTIFY
 * arithmetic (qmgr_retry.c), table-driven
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/params.h"
#include "common/str.h"
#include "qmgr/qmgr.h"

static void test_backoff_doubles_within_bounds(void **state)
{
	(void)state;
	static const struct {
		uint32_t attempts;
		long min, max, want;
	} cases[] = {
	        {1, 300, 4000, 300},  {2, 300, 4000, 600},
	        {3, 300, 4000, 1200}, {4, 300, 4000, 2400},
	        {5, 300, 4000, 4000}, {50, 300, 4000, 4000},
	        {0, 300, 4000, 300},  {1, 1, 4, 1},
	        {2, 1, 4, 2},         {3, 1, 4, 4},
	        {4, 1, 4, 4},         {4000000000u, 1, 604800, 604800},
	        {3, 10, 5, 10}, /* max below min: min wins */
	        {3, 0, 5, 4},   /* min 0 is treated as 1 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = qmgr_backoff(cases[i].attempts, cases[i].min,
		                        cases[i].max);
		if (got != cases[i].want)
			fail_msg("case %zu: backoff(%u, %ld, %ld) got %ld, "
			         "want %ld",
			         i, cases[i].attempts, cases[i].min,
			         cases[i].max, got, cases[i].want);
	}
}

static void test_next_attempt_never_after_expiry(void **state)
{
	(void)state;
	/* Plenty of lifetime left: the backoff. */
	assert_int_equal(qmgr_next_attempt(1000, 2, 100000, 300, 4000), 1600);
	/* Expiry comes first: then, so the message is returned on time. */
	assert_int_equal(qmgr_next_attempt(1000, 5, 1500, 300, 4000), 1500);
	/* Already expired: at least one second from now. */
	assert_int_equal(qmgr_next_attempt(1000, 5, 900, 300, 4000), 1001);
}

static void test_expiry_and_lifetimes(void **state)
{
	(void)state;
	assert_false(qmgr_expired(1000, 1099, 100));
	assert_true(qmgr_expired(1000, 1100, 100));
	assert_true(qmgr_expired(1000, 1000, 0)); /* 0: first failure */
	struct queue_envelope env = {.sender = "a@b.example"};
	assert_int_equal(qmgr_lifetime(&env), params->maximal_queue_lifetime);
	env.sender = "";
	assert_int_equal(qmgr_lifetime(&env), params->bounce_queue_lifetime);
	env.sender = "double-bounce@x";
	env.bounce = true;
	assert_int_equal(qmgr_lifetime(&env), params->bounce_queue_lifetime);
}

static void test_delay_warning_once(void **state)
{
	(void)state;
	/* dwt 0: never. */
	assert_false(qmgr_delay_warning_due(0, 0, 100000, 0));
	/* Not yet passed. */
	assert_false(qmgr_delay_warning_due(1000, 0, 1500, 600));
	/* First deferral after the threshold: yes. */
	assert_true(qmgr_delay_warning_due(1000, 1500, 1700, 600));
	assert_true(qmgr_delay_warning_due(1000, 0, 1600, 600));
	/* The previous attempt was after the threshold: already warned. */
	assert_false(qmgr_delay_warning_due(1000, 1650, 1800, 600));
}

static void test_notify(void **state)
{
	(void)state;
	char buf[40];
	assert_true(qmgr_notify_wants(0, QUEUE_NOTIFY_FAILURE));
	assert_true(qmgr_notify_wants(0, QUEUE_NOTIFY_DELAY));
	assert_false(qmgr_notify_wants(0, QUEUE_NOTIFY_SUCCESS));
	assert_false(qmgr_notify_wants(QUEUE_NOTIFY_NEVER,
	                               QUEUE_NOTIFY_FAILURE));
	assert_true(qmgr_notify_wants(QUEUE_NOTIFY_SUCCESS,
	                              QUEUE_NOTIFY_SUCCESS));
	assert_false(qmgr_notify_wants(QUEUE_NOTIFY_SUCCESS,
	                               QUEUE_NOTIFY_FAILURE));
	assert_string_equal(qmgr_notify_text(0, buf, sizeof(buf)), "");
	assert_string_equal(qmgr_notify_text(QUEUE_NOTIFY_NEVER, buf,
	                                     sizeof(buf)),
	                    "NEVER");
	assert_string_equal(qmgr_notify_text(QUEUE_NOTIFY_SUCCESS |
	                                             QUEUE_NOTIFY_DELAY,
	                                     buf, sizeof(buf)),
	                    "SUCCESS,DELAY");
	assert_string_equal(qmgr_notify_text(QUEUE_NOTIFY_SUCCESS |
	                                             QUEUE_NOTIFY_FAILURE |
	                                             QUEUE_NOTIFY_DELAY,
	                                     buf, 12),
	                    "SUCCESS");
}

static int load_defaults(void **state)
{
	(void)state;
	struct err e;
	return params_load(NULL, NULL, NULL, NULL, &e);
}

static int unload(void **state)
{
	(void)state;
	params_unload();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_backoff_doubles_within_bounds),
	        cmocka_unit_test(test_next_attempt_never_after_expiry),
	        cmocka_unit_test(test_expiry_and_lifetimes),
	        cmocka_unit_test(test_delay_warning_once),
	        cmocka_unit_test(test_notify),
	};
	return cmocka_run_group_tests(tests, load_defaults, unload);
}
