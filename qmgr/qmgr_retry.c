/* SPDX-License-Identifier: MIT */
/*
 * qmgr_retry.c - when to try again, when to give up, whom to tell
 *
 * Pure arithmetic on times and NOTIFY masks, kept apart so the unit tests
 * can check it without a queue. Times are seconds since 1970.
 *
 * Backoff doubles per failed attempt of a recipient, from
 * minimal_backoff_time up to maximal_backoff_time (Postfix doubles too,
 * but from the message's age); a message is tried again after the backoff
 * of its least-tried deferred recipient, so no recipient waits longer than
 * its own schedule, and never past its expiry time, so a message is
 * returned when its lifetime ends and not one backoff later.
 */
#include "qmgr.h"

#include <stdio.h>
#include <string.h>

#include "common/params.h"

long qmgr_backoff(uint32_t attempts, long min_s, long max_s)
{
	if (min_s < 1)
		min_s = 1;
	if (max_s < min_s)
		max_s = min_s;
	long d = min_s;
	for (uint32_t i = 1; i < attempts && d < max_s; i++)
		d = d > max_s / 2 ? max_s : d * 2;
	return d < max_s ? d : max_s;
}

int64_t qmgr_next_attempt(int64_t now, uint32_t attempts, int64_t expire_at,
                          long min_s, long max_s)
{
	int64_t t = now + qmgr_backoff(attempts, min_s, max_s);
	if (t > expire_at)
		t = expire_at;
	return t > now ? t : now + 1;
}

long qmgr_lifetime(const struct queue_envelope *env)
{
	bool bounce = env->bounce || !env->sender || !env->sender[0];
	return bounce ? params->bounce_queue_lifetime
	              : params->maximal_queue_lifetime;
}

bool qmgr_expired(int64_t arrival_s, int64_t now, long lifetime_s)
{
	return now - arrival_s >= lifetime_s;
}

bool qmgr_delay_warning_due(int64_t arrival_s, int64_t prev_s, int64_t now,
                            long dwt_s)
{
	if (dwt_s <= 0)
		return false;
	int64_t at = arrival_s + dwt_s;
	return now >= at && (prev_s == 0 || prev_s < at);
}

bool qmgr_notify_wants(unsigned notify, unsigned what)
{
	if (notify == 0)
		return what == QUEUE_NOTIFY_FAILURE || what == QUEUE_NOTIFY_DELAY;
	if (notify & QUEUE_NOTIFY_NEVER)
		return false;
	return (notify & what) != 0;
}

const char *qmgr_notify_text(unsigned notify, char *out, size_t outsz)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{QUEUE_NOTIFY_SUCCESS, "SUCCESS"},
	             {QUEUE_NOTIFY_FAILURE, "FAILURE"},
	             {QUEUE_NOTIFY_DELAY, "DELAY"}};
	size_t o = 0;
	if (outsz == 0)
		return out;
	out[0] = 0;
	if (notify & QUEUE_NOTIFY_NEVER) {
		(void)snprintf(out, outsz, "NEVER");
		return out;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(notify & names[i].bit))
			continue;
		int n = snprintf(out + o, outsz - o, "%s%s", o ? "," : "",
		                 names[i].name);
		if (n < 0 || (size_t)n >= outsz - o) {
			out[o] = 0; /* whole words only */
			break;
		}
		o += (size_t)n;
	}
	return out;
}
