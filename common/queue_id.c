/* SPDX-License-Identifier: MIT */
/*
 * queue_id.c - unique, time-ordered queue ids without coordination
 *
 * The id is the file name in incoming/ and queue/ and the key of the queue
 * index, so it must never collide: smtpd processes create ids on their own
 * while others do the same. Layout and the uniqueness argument are in
 * queue_id.h. Not responsible for creating files (queue_file.c does).
 */
#include "common/queue_id.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char digits[] = "0123456789"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz";

#define TIME_DIGITS 9
#define PID_DIGITS 4
#define SEQ_DIGITS 2
#define SEQ_MOD (62u * 62u)

/* Per-process state; reset in a forked child by the pid check. */
static uint64_t last_us;
static pid_t state_pid;
static unsigned seq;

static void put_base62(char *out, int n, uint64_t v)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = digits[v % 62];
		v /= 62;
	}
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

void queue_id_make(char out[QUEUE_ID_SIZE], uint64_t time_us, uint32_t pid,
                   unsigned s)
{
	put_base62(out, TIME_DIGITS, time_us);
	put_base62(out + TIME_DIGITS, PID_DIGITS, pid);
	put_base62(out + TIME_DIGITS + PID_DIGITS, SEQ_DIGITS, s % SEQ_MOD);
	out[QUEUE_ID_LEN] = 0;
}

void queue_id_new(char out[QUEUE_ID_SIZE])
{
	pid_t pid = getpid();
	if (pid != state_pid) {
		/* A new process (or a fork): its own random start. */
		unsigned r = 0;
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (unsigned)time(NULL) ^ (unsigned)pid;
		seq = r % SEQ_MOD;
		last_us = 0;
		state_pid = pid;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now =
	        (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	/* Never the same microsecond twice in one process, even if the
	 * clock steps back: borrow the next one instead. */
	if (now <= last_us)
		now = last_us + 1;
	last_us = now;
	seq = (seq + 1) % SEQ_MOD;
	queue_id_make(out, now, (uint32_t)pid, seq);
}

bool queue_id_valid(const char *s, size_t len)
{
	if (!s || len != QUEUE_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (digit_value(s[i]) < 0)
			return false;
	return true;
}

uint64_t queue_id_time_us(const char *id)
{
	uint64_t v = 0;
	for (int i = 0; i < TIME_DIGITS; i++)
		v = v * 62 + (uint64_t)digit_value(id[i]);
	return v;
}
