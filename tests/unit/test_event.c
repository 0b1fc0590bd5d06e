/* SPDX-License-Identifier: MIT */
/*
 * test_event.c - the epoll loop: fds, timers, signals, deletion
 *
 * Covers readiness and interest changes, hang-ups as EVENT_ERROR, timer
 * order (including equal deadlines), re-arming and disarming, deletion of
 * other events and of oneself from callbacks, signals through raise()
 * with the mask restored afterwards, and many timers and fds at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/event.h"

/* ---- helpers --------------------------------------------------------- */

struct rec {
	int calls;
	unsigned what;
	struct event *self;    /* set by the test: the event to delete */
	struct event **victim; /* an event this callback deletes */
};

/* Which timers fired, in order (ctx is the timer's index). */
static int fired[32768];
static int fired_n;

static void log_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	assert_int_equal(what, EVENT_TIMER);
	fired[fired_n++] = (int)(intptr_t)ctx;
}

static void count_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	struct rec *r = ctx;
	r->calls++;
	r->what = what;
}

/* Runs rounds until cond holds or 2 s pass. */
#define RUN_UNTIL(l, cond)                                                     \
	do {                                                                   \
		for (int i_ = 0; i_ < 200 && !(cond); i_++)                    \
			assert_true(event_loop_once((l), 10) >= 0);            \
		assert_true(cond);                                             \
	} while (0)

static void make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

/* ---- fds ------------------------------------------------------------- */

static void fd_readiness(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int p[2];
	make_pipe(p);
	struct rec r = {0}, w = {0};
	struct event *rev = event_add_fd(l, p[0], EVENT_READ, count_cb, &r);
	assert_non_null(rev);
	assert_int_equal(event_fd(rev), p[0]);
	assert_ptr_equal(event_ctx(rev), &r);
	assert_ptr_equal(event_loop_of(rev), l);
	assert_int_equal(event_loop_once(l, 0), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.what, EVENT_READ);
	/* Level-triggered: unread data is reported again. */
	assert_int_equal(event_loop_once(l, 0), 1);
	/* Interest off: silence, though data is still there. */
	event_fd_set(rev, 0);
	assert_int_equal(event_loop_once(l, 0), 0);
	event_fd_set(rev, EVENT_READ);
	event_fd_set(rev, EVENT_READ); /* unchanged: no-op */
	assert_int_equal(event_loop_once(l, 0), 1);
	/* A pipe's write end is writable at once. */
	struct event *wev = event_add_fd(l, p[1], EVENT_WRITE, count_cb, &w);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(w.what, EVENT_WRITE);
	event_del(&wev);
	assert_null(wev);
	event_del(&wev); /* NULL is accepted */
	event_del(&rev);
	close(p[0]);
	close(p[1]);
	event_loop_free(&l);
	assert_null(l);
	event_loop_free(&l);
}

static void fd_hangup_is_error(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int p[2];
	make_pipe(p);
	struct rec r = {0};
	/* EVENT_ERROR is reported even with an empty interest set. */
	struct event *ev = event_add_fd(l, p[0], 0, count_cb, &r);
	assert_int_equal(event_loop_once(l, 0), 0);
	close(p[1]);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_true(r.what & EVENT_ERROR);
	assert_false(r.what & EVENT_READ);
	event_del(&ev);
	close(p[0]);
	event_loop_free(&l);
}

static void fd_refused(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	struct rec r = {0};
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* epoll cannot watch regular files: the caller gets NULL + errno. */
	errno = 0;
	assert_null(event_add_fd(l, fd, EVENT_READ, count_cb, &r));
	assert_int_equal(errno, EPERM);
	/* The failed add left nothing behind: a pipe on a new fd works. */
	close(fd);
	assert_null(event_add_fd(l, -1, EVENT_READ, count_cb, &r));
	assert_int_equal(errno, EBADF);
	event_loop_free(&l);
}

/* ---- deletion from callbacks ------------------------------------------ */

static void delete_victim_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	struct rec *r = ctx;
	r->calls++;
	event_del(r->victim);
}

static void delete_other_in_same_round(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int a[2], b[2];
	make_pipe(a);
	make_pipe(b);
	struct rec ra = {0}, rb = {0};
	struct event *ea =
		event_add_fd(l, a[0], EVENT_READ, delete_victim_cb, &ra);
	struct event *eb =
		event_add_fd(l, b[0], EVENT_READ, delete_victim_cb, &rb);
	ra.victim = &eb;
	rb.victim = &ea;
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* Both are ready in one round; whichever runs first deletes the
	 * other, which must then not run. */
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(ra.calls + rb.calls, 1);
	assert_true((ea == NULL) != (eb == NULL));
	/* The survivor keeps running (its data is unread); deleting the
	 * already deleted victim again is a harmless NULL. */
	assert_int_equal(event_loop_once(l, 0), 1);
	assert_int_equal(ra.calls + rb.calls, 2);
	assert_true((ea == NULL) != (eb == NULL));
	event_del(ea ? &ea : &eb);
	assert_int_equal(event_loop_once(l, 0), 0);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	event_loop_free(&l);
}

static void self_delete_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct rec *r = ctx;
	r->calls++;
	/* The event memory stays valid for the rest of this callback. */
	assert_int_equal(event_fd(ev), event_fd(r->self));
	event_del(&r->self);
	assert_null(r->self);
	assert_ptr_equal(event_ctx(ev), r);
}

static void self_delete(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int p[2];
	make_pipe(p);
	struct rec fdr = {0}, tr = {0};
	fdr.self = event_add_fd(l, p[0], EVENT_READ, self_delete_cb, &fdr);
	tr.self = event_add_timer(l, 0, self_delete_cb, &tr);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(event_loop_once(l, 1000), 2);
	assert_int_equal(fdr.calls, 1);
	assert_int_equal(tr.calls, 1);
	assert_int_equal(event_loop_once(l, 0), 0);
	/* The fd is free to be watched again right away. */
	struct rec r = {0};
	struct event *ev = event_add_fd(l, p[0], EVENT_READ, count_cb, &r);
	assert_int_equal(event_loop_once(l, 0), 1);
	event_del(&ev);
	close(p[0]);
	close(p[1]);
	event_loop_free(&l);
}

static void fd_cb_deletes_due_timer(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int p[2];
	make_pipe(p);
	struct rec fr = {0}, tr = {0};
	struct event *t = event_add_timer(l, 0, count_cb, &tr);
	fr.victim = &t;
	struct event *f =
		event_add_fd(l, p[0], EVENT_READ, delete_victim_cb, &fr);
	assert_int_equal(write(p[1], "x", 1), 1);
	/* fds run before timers, so the timer is gone before its turn. */
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(fr.calls, 1);
	assert_int_equal(tr.calls, 0);
	event_del(&f);
	close(p[0]);
	close(p[1]);
	event_loop_free(&l);
}

/* Replaces its own fd's event with a new one, as a daemon does when it
 * closes a connection and accepts another on the same fd number. */
static void replace_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct rec *r = ctx;
	struct event_loop *l = event_loop_of(ev);
	int fd = event_fd(ev);
	r->calls++;
	event_del(&r->self);
	r->self = event_add_fd(l, fd, EVENT_READ, count_cb, r);
}

static void replace_in_callback(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int p[2];
	make_pipe(p);
	struct rec r = {0};
	r.self = event_add_fd(l, p[0], EVENT_READ, replace_cb, &r);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(event_loop_once(l, 0), 1);
	assert_int_equal(r.calls, 2);
	event_del(&r.self);
	close(p[0]);
	close(p[1]);
	event_loop_free(&l);
}

/* ---- timers ---------------------------------------------------------- */

static void timer_order(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	static const long ms[] = {30, 10, 20, 0, 10, 10, 5};
	enum { N = sizeof(ms) / sizeof(ms[0]) };
	/* Equal deadlines fire in arming order; #6 is disarmed. */
	static const int want[N - 1] = {3, 1, 4, 5, 2, 0};
	struct event *ev[N];
	fired_n = 0;
	for (int i = 0; i < N; i++)
		ev[i] = event_add_timer(l, ms[i], log_cb, (void *)(intptr_t)i);
	event_timer_set(ev[6], -1);
	RUN_UNTIL(l, fired_n == N - 1);
	for (int k = 0; k < N - 1; k++)
		if (fired[k] != want[k])
			fail_msg("firing %d: got timer %d, want %d", k,
				 fired[k], want[k]);
	assert_int_equal(event_loop_once(l, 50), 0);
	for (int i = 0; i < N; i++)
		event_del(&ev[i]);
	event_loop_free(&l);
}

static void timer_rearm_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct rec *r = ctx;
	if (++r->calls < 3)
		event_timer_set(ev, 0);
}

static void timer_rearm(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	struct rec r = {0};
	struct event *t = event_add_timer(l, 5, timer_rearm_cb, &r);
	/* A 0 ms re-arm fires in the next round, never the same one. */
	RUN_UNTIL(l, r.calls == 1);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(r.calls, 2);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(r.calls, 3);
	/* Fired and not re-armed: it stays quiet but exists. */
	assert_int_equal(event_loop_once(l, 50), 0);
	assert_int_equal(event_fd(t), -1);
	/* Re-arming a pending timer moves it instead of adding it twice. */
	event_timer_set(t, 10000);
	event_timer_set(t, 0);
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(event_loop_once(l, 50), 0);
	assert_int_equal(r.calls, 4);
	event_del(&t);
	/* Created disarmed. */
	t = event_add_timer(l, -1, count_cb, &r);
	assert_int_equal(event_loop_once(l, 20), 0);
	event_del(&t);
	event_loop_free(&l);
}

static void timer_deletes_other_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	struct rec *r = ctx;
	r->calls++;
	event_del(r->victim);
}

static void timer_deletes_due_timer(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	struct rec a = {0}, b = {0};
	struct event *ta = event_add_timer(l, 0, timer_deletes_other_cb, &a);
	struct event *tb = event_add_timer(l, 0, timer_deletes_other_cb, &b);
	a.victim = &tb;
	b.victim = &ta;
	/* Same deadline: ta (armed first) runs and removes tb. */
	assert_int_equal(event_loop_once(l, 1000), 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_null(tb);
	event_del(&ta);
	event_loop_free(&l);
}

static void now_is_cached_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct rec *r = ctx;
	struct event_loop *l = event_loop_of(ev);
	uint64_t t0 = event_now_ms(l);
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_true(event_now_ms(l) == t0);
	r->calls++;
	event_loop_stop(l);
}

static void now_cached_and_stop(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	struct rec r = {0};
	uint64_t before = event_now_ms(l);
	struct event *t = event_add_timer(l, 10, now_is_cached_cb, &r);
	assert_int_equal(event_loop_run(l), 0);
	assert_int_equal(r.calls, 1);
	/* Outside a round the clock is read afresh. */
	assert_true(event_now_ms(l) >= before + 30);
	event_del(&t);
	event_loop_free(&l);
}

/* ---- signals --------------------------------------------------------- */

static bool sig_blocked(int signo)
{
	sigset_t cur;
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
	return sigismember(&cur, signo) == 1;
}

static void signals(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	struct rec r1 = {0}, r2 = {0};
	assert_false(sig_blocked(SIGUSR1));
	struct event *s1 = event_add_signal(l, SIGUSR1, count_cb, &r1);
	struct event *s2 = event_add_signal(l, SIGUSR2, count_cb, &r2);
	assert_true(sig_blocked(SIGUSR1));
	assert_int_equal(event_fd(s1), SIGUSR1);
	/* SIGUSR1's default action would end the test program. */
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(raise(SIGUSR2), 0);
	RUN_UNTIL(l, r1.calls == 1 && r2.calls == 1);
	assert_int_equal(r1.what, EVENT_SIGNAL);
	assert_int_equal(r2.what, EVENT_SIGNAL);

	/* Deleted with an instance still pending: it is dropped, not
	 * delivered with its default action, and the mask is restored. */
	assert_int_equal(raise(SIGUSR1), 0);
	event_del(&s1);
	assert_false(sig_blocked(SIGUSR1));
	assert_int_equal(event_loop_once(l, 0), 0);
	assert_int_equal(r1.calls, 1);

	/* A signal blocked before the loop took it stays blocked. */
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &one, NULL), 0);
	s1 = event_add_signal(l, SIGUSR1, count_cb, &r1);
	event_del(&s1);
	assert_true(sig_blocked(SIGUSR1));
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &one, NULL), 0);

	/* event_loop_free() releases what is left. */
	(void)s2;
	event_loop_free(&l);
	assert_false(sig_blocked(SIGUSR2));
}

static void signal_deletes_itself_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	struct rec *r = ctx;
	r->calls++;
	event_del(&r->self);
}

static void signal_self_delete(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	struct rec r = {0};
	r.self = event_add_signal(l, SIGUSR1, signal_deletes_itself_cb, &r);
	assert_int_equal(raise(SIGUSR1), 0);
	RUN_UNTIL(l, r.calls == 1);
	assert_null(r.self);
	assert_false(sig_blocked(SIGUSR1));
	event_loop_free(&l);
}

/* ---- scale ----------------------------------------------------------- */

static void many_timers(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct event_loop *l = event_loop_new();
	struct event **ev = calloc(N, sizeof(*ev));
	srand(12345);
	fired_n = 0;
	/* Arm all, then delete every third and re-arm every fifth, so
	 * removal from the middle of the heap is exercised too. */
	for (int i = 0; i < N; i++)
		ev[i] = event_add_timer(l, rand() % 80, log_cb,
					(void *)(intptr_t)i);
	int want = 0;
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			event_del(&ev[i]);
			continue;
		}
		if (i % 5 == 0)
			event_timer_set(ev[i], rand() % 80);
		want++;
	}
	RUN_UNTIL(l, fired_n == want);
	/* Every survivor fired exactly once. */
	char *seen = calloc(N, 1);
	for (int k = 0; k < fired_n; k++) {
		assert_true(fired[k] % 3 != 0);
		assert_int_equal(seen[fired[k]], 0);
		seen[fired[k]] = 1;
	}
	assert_int_equal(event_loop_once(l, 0), 0);
	for (int i = 0; i < N; i++)
		event_del(&ev[i]);
	free(seen);
	free(ev);
	event_loop_free(&l);
}

/* Arms the test's timers from inside a round, where the clock is cached,
 * so every deadline has the same base and the order is exactly known. */
struct arm_all {
	struct event **ev;
	long *ms;
	int n;
};

static void arm_all_cb(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	struct arm_all *a = ctx;
	for (int i = 0; i < a->n; i++)
		a->ev[i] = event_add_timer(event_loop_of(ev), a->ms[i], log_cb,
					   (void *)(intptr_t)i);
}

static void timers_fire_in_deadline_order(void **state)
{
	(void)state;
	enum { N = 10000 };
	struct event_loop *l = event_loop_new();
	static long ms[N];
	struct event **ev = calloc(N, sizeof(*ev));
	srand(777);
	for (int i = 0; i < N; i++)
		ms[i] = rand() % 40;
	fired_n = 0;
	struct arm_all a = {ev, ms, N};
	struct event *setup = event_add_timer(l, 0, arm_all_cb, &a);
	RUN_UNTIL(l, fired_n == N);
	for (int k = 1; k < N; k++) {
		int x = fired[k - 1], y = fired[k];
		if (!(ms[x] < ms[y] || (ms[x] == ms[y] && x < y)))
			fail_msg("timer %d (%ld ms) fired before %d (%ld ms)",
				 x, ms[x], y, ms[y]);
	}
	event_del(&setup);
	for (int i = 0; i < N; i++)
		event_del(&ev[i]);
	free(ev);
	event_loop_free(&l);
}

static void many_fds(void **state)
{
	(void)state;
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	int n = 6000;
	if ((rlim_t)(2 * n + 64) > rl.rlim_cur)
		n = (int)(rl.rlim_cur - 64) / 2;
	if (n < 100)
		skip();
	struct event_loop *l = event_loop_new();
	int(*p)[2] = calloc((size_t)n, sizeof(*p));
	struct rec *r = calloc((size_t)n, sizeof(*r));
	struct event **ev = calloc((size_t)n, sizeof(*ev));
	for (int i = 0; i < n; i++) {
		make_pipe(p[i]);
		ev[i] = event_add_fd(l, p[i][0], EVENT_READ, count_cb, &r[i]);
		assert_non_null(ev[i]);
	}
	/* Make every other one ready; more than one round's array holds. */
	for (int i = 0; i < n; i += 2)
		assert_int_equal(write(p[i][1], "x", 1), 1);
	int total = 0;
	while (total < n / 2) {
		int got = event_loop_once(l, 1000);
		assert_true(got > 0);
		/* Drain what fired so it is not reported again. */
		for (int i = 0; i < n; i += 2) {
			char c;
			if (r[i].calls && read(p[i][0], &c, 1) == 1)
				total++;
		}
	}
	for (int i = 0; i < n; i++) {
		assert_int_equal(r[i].calls, i % 2 == 0 ? 1 : 0);
		event_del(&ev[i]);
		close(p[i][0]);
		close(p[i][1]);
	}
	free(p);
	free(r);
	free(ev);
	event_loop_free(&l);
}

static void free_with_live_events(void **state)
{
	(void)state;
	struct event_loop *l = event_loop_new();
	int p[2];
	make_pipe(p);
	struct rec r = {0};
	(void)event_add_fd(l, p[0], EVENT_READ, count_cb, &r);
	(void)event_add_timer(l, 1000, count_cb, &r);
	(void)event_add_timer(l, -1, count_cb, &r);
	(void)event_add_signal(l, SIGUSR1, count_cb, &r);
	/* Everything is released (LeakSanitizer checks) and the fd is
	 * untouched: the loop never closes fds it did not open. */
	event_loop_free(&l);
	assert_false(sig_blocked(SIGUSR1));
	assert_int_equal(write(p[1], "x", 1), 1);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fd_readiness),
		cmocka_unit_test(fd_hangup_is_error),
		cmocka_unit_test(fd_refused),
		cmocka_unit_test(delete_other_in_same_round),
		cmocka_unit_test(self_delete),
		cmocka_unit_test(fd_cb_deletes_due_timer),
		cmocka_unit_test(replace_in_callback),
		cmocka_unit_test(timer_order),
		cmocka_unit_test(timer_rearm),
		cmocka_unit_test(timer_deletes_due_timer),
		cmocka_unit_test(now_cached_and_stop),
		cmocka_unit_test(signals),
		cmocka_unit_test(signal_self_delete),
		cmocka_unit_test(many_timers),
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(many_fds),
		cmocka_unit_test(free_with_live_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
