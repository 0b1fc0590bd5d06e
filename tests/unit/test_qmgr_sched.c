/* SPDX-License-Identifier: MIT */
/*
 * test_qmgr_sched.c - how a routing pass groups a message's recipients
 * into jobs (qmgr_open_jobs_*): one job per destination and delivered-to
 * chain, at most the destination's recipient limit each, in the order
 * they were opened
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qmgr/qmgr.h"

static struct qmgr_job *closed[16];
static size_t nclosed;

static void take(struct qmgr_job *j)
{
	assert_true(nclosed < 16);
	closed[nclosed++] = j;
}

/* Asserts job j holds exactly recipients want[0..n) and chain dlvto. */
static void job_is(const struct qmgr_job *j, const struct qmgr_dest *d,
                   const char *dlvto, const uint32_t *want, size_t n)
{
	assert_ptr_equal(j->dest, d);
	if (dlvto)
		assert_string_equal(j->dlvto, dlvto);
	else
		assert_null(j->dlvto);
	assert_int_equal(j->n, n);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(j->rcpt[k], want[k]);
}

static void jobs_by_destination_and_chain(void **state)
{
	(void)state;
	struct qmgr_transport t = {.name = "smtp"};
	struct qmgr_dest two = {.t = &t, .nexthop = "two.test", .rcpt_limit = 3};
	struct qmgr_dest three = {.t = &t, .nexthop = "three.test",
	                          .rcpt_limit = 50};
	const struct {
		struct qmgr_dest *d;
		const char *chain;
	} in[] = {
	        {&two, NULL},           /* 0: as submitted */
	        {&two, "a@one.test"},   /* 1: forwarded by a */
	        {&two, NULL},           /* 2 */
	        {&three, "a@one.test"}, /* 3: another destination */
	        {&two, "a@one.test"},   /* 4 */
	        {&two, "b@one.test"},   /* 5: forwarded by b */
	        {&two, NULL},           /* 6: fills the plain job */
	        {&two, NULL},           /* 7: starts another */
	        {&two, ""},             /* 8: "" is no chain */
	};
	struct qmgr_rcpt r[9];
	memset(r, 0, sizeof(r));
	struct qmgr_msg m = {.r = r, .nr = 9};
	struct qmgr_open_jobs o = {0};
	struct qmgr_job *full = NULL;
	for (uint32_t i = 0; i < 9; i++) {
		r[i].q.address = "x@y";
		r[i].q.delivered_to = in[i].chain;
		struct qmgr_job *f = qmgr_open_jobs_add(&o, &m, i, in[i].d);
		if (i == 7)
			full = f;
		else
			assert_null(f);
		assert_true(r[i].flags & QMGR_R_BUSY);
	}
	/* The plain job of two filled up at its limit and left. */
	assert_non_null(full);
	job_is(full, &two, NULL, (const uint32_t[]){0, 2, 6}, 3);
	nclosed = 0;
	qmgr_open_jobs_close(&o, take);
	assert_null(two.open);
	assert_null(three.open);
	assert_null(o.v);
	assert_int_equal(nclosed, 4);
	/* In the order opened; the full one's successor took its place. */
	job_is(closed[0], &two, NULL, (const uint32_t[]){7, 8}, 2);
	job_is(closed[1], &two, "a@one.test", (const uint32_t[]){1, 4}, 2);
	job_is(closed[2], &three, "a@one.test", (const uint32_t[]){3}, 1);
	job_is(closed[3], &two, "b@one.test", (const uint32_t[]){5}, 1);
	assert_int_equal(m.jobs, 5);
	for (size_t k = 0; k < nclosed; k++)
		assert_ptr_equal(closed[k]->msg, &m);
	free(full);
	for (size_t k = 0; k < nclosed; k++)
		free(closed[k]);
}

/* One recipient per job (the local class) whatever the chains. */
static void one_recipient_jobs(void **state)
{
	(void)state;
	struct qmgr_transport t = {.name = "local"};
	struct qmgr_dest d = {.t = &t, .nexthop = "one.test", .rcpt_limit = 1};
	struct qmgr_rcpt r[3];
	memset(r, 0, sizeof(r));
	r[1].q.delivered_to = "a@one.test";
	r[2].q.delivered_to = "a@one.test";
	struct qmgr_msg m = {.r = r, .nr = 3};
	struct qmgr_open_jobs o = {0};
	assert_null(qmgr_open_jobs_add(&o, &m, 0, &d));
	assert_null(qmgr_open_jobs_add(&o, &m, 1, &d));
	struct qmgr_job *full = qmgr_open_jobs_add(&o, &m, 2, &d);
	job_is(full, &d, "a@one.test", (const uint32_t[]){1}, 1);
	nclosed = 0;
	qmgr_open_jobs_close(&o, take);
	assert_int_equal(nclosed, 2);
	job_is(closed[0], &d, NULL, (const uint32_t[]){0}, 1);
	job_is(closed[1], &d, "a@one.test", (const uint32_t[]){2}, 1);
	assert_int_equal(m.jobs, 3);
	free(full);
	for (size_t k = 0; k < nclosed; k++)
		free(closed[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(jobs_by_destination_and_chain),
	        cmocka_unit_test(one_recipient_jobs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
