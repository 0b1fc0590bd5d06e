/* SPDX-License-Identifier: MIT */
/*
 * event.c - the epoll event loop: fd watchers, timers, signals
 *
 * Responsible for waiting on many fds at once, firing one-shot timers in
 * deadline order, and turning signals into ordinary callbacks through one
 * signalfd per loop. Not responsible for reading or writing: callbacks do
 * their own (non-blocking) I/O.
 *
 * Invariants:
 * - Every live event is on the loop's `all` list. A live fd event (and the
 *   internal signalfd watcher) is in fds[fd]; an armed timer is in the heap
 *   at heap[heap_idx]; a signal event is in sig[signo].
 * - event_del() unhooks an event from all of these at once, so nothing can
 *   find it again; during a round the memory itself goes on the `dead`
 *   list and is freed when the round ends, because epoll's result array
 *   may still point at it.
 * - The timer heap orders by (due, seq); seq grows with every arming, so
 *   equal deadlines fire in arming order and a timer re-armed during a
 *   round is never due in that same round (see run_timers()).
 */
#include "common/event.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

/* epoll's result array starts small and doubles when a round fills it. */
#define EVS_MIN 64
#define EVS_MAX 4096
#define NOT_ARMED SIZE_MAX

enum kind { KIND_FD, KIND_TIMER, KIND_SIGNAL, KIND_SIGFD };

struct event {
	struct event_loop *loop;
	event_fn fn;
	void *ctx;
	enum kind kind;
	int fd;        /* the fd, or the signal number */
	unsigned what; /* interest set of an fd event */
	bool dead;
	bool was_blocked;          /* signal: blocked before the loop took it */
	struct event *prev, *next; /* the loop's `all` list; next = dead list */
	uint64_t due, seq;         /* timer */
	size_t heap_idx;           /* timer: NOT_ARMED when not in the heap */
};

struct event_loop {
	int epfd;
	struct event *all;
	struct event *dead;
	struct event **fds; /* fd -> live event, to catch double watching */
	size_t fds_cap;
	struct event **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;
	struct event *sig[_NSIG];
	sigset_t sigmask; /* signals routed to sigfd */
	struct event *sigfd;
	struct epoll_event *evs;
	int evs_cap;
	int in_round;
	bool stop;
	uint64_t now;
};

static uint64_t clock_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct event_loop *event_loop_new(void)
{
	struct event_loop *l = xcalloc(1, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		log_fatal("epoll_create1: %s", strerror(errno));
	l->evs_cap = EVS_MIN;
	l->evs = xcalloc((size_t)l->evs_cap, sizeof(*l->evs));
	sigemptyset(&l->sigmask);
	l->now = clock_ms();
	return l;
}

static struct event *event_new(struct event_loop *l, enum kind kind, int fd,
			       event_fn fn, void *ctx)
{
	struct event *ev = xcalloc(1, sizeof(*ev));
	ev->loop = l;
	ev->kind = kind;
	ev->fd = fd;
	ev->fn = fn;
	ev->ctx = ctx;
	ev->heap_idx = NOT_ARMED;
	ev->next = l->all;
	if (l->all)
		l->all->prev = ev;
	l->all = ev;
	return ev;
}

/* ---- fd watchers ---------------------------------------------------- */

static uint32_t epoll_bits(unsigned what)
{
	return (what & EVENT_READ ? EPOLLIN : 0u) |
	       (what & EVENT_WRITE ? EPOLLOUT : 0u);
}

static void fds_grow(struct event_loop *l, int fd)
{
	size_t need = (size_t)fd + 1, cap, bytes;
	if (need <= l->fds_cap)
		return;
	cap = l->fds_cap ? l->fds_cap : 64;
	while (cap < need)
		cap *= 2;
	if (size_mul(cap, sizeof(*l->fds), &bytes) < 0)
		log_panic("event: fd table overflow");
	l->fds = xrealloc(l->fds, bytes);
	memset(l->fds + l->fds_cap, 0, (cap - l->fds_cap) * sizeof(*l->fds));
	l->fds_cap = cap;
}

static int watch(struct event *ev)
{
	struct event_loop *l = ev->loop;
	struct epoll_event ee = {.events = epoll_bits(ev->what),
				 .data.ptr = ev};
	fds_grow(l, ev->fd);
	if (l->fds[ev->fd])
		log_panic("event: fd %d is already watched (deleted after "
			  "close?)",
			  ev->fd);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, ev->fd, &ee) < 0)
		return -1;
	l->fds[ev->fd] = ev;
	return 0;
}

static void unwatch(struct event *ev)
{
	struct event_loop *l = ev->loop;
	/*
	 * A failure here means the fd was closed first. If the open file
	 * survives elsewhere (dup, fork) its registration survives too and
	 * would later hand epoll a pointer to freed memory, so stop now.
	 */
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL) < 0)
		log_panic("event: fd %d closed before its event was deleted "
			  "(%s)",
			  ev->fd, strerror(errno));
	l->fds[ev->fd] = NULL;
}

struct event *event_add_fd(struct event_loop *l, int fd, unsigned what,
			   event_fn fn, void *ctx)
{
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	struct event *ev = event_new(l, KIND_FD, fd, fn, ctx);
	ev->what = what & (EVENT_READ | EVENT_WRITE);
	if (watch(ev) < 0) {
		int saved = errno;
		event_del(&ev);
		errno = saved;
		return NULL;
	}
	return ev;
}

void event_fd_set(struct event *ev, unsigned what)
{
	ASSERT(ev->kind == KIND_FD && !ev->dead);
	what &= EVENT_READ | EVENT_WRITE;
	if (what == ev->what)
		return;
	struct epoll_event ee = {.events = epoll_bits(what), .data.ptr = ev};
	if (epoll_ctl(ev->loop->epfd, EPOLL_CTL_MOD, ev->fd, &ee) < 0)
		log_panic("event: epoll_ctl MOD fd %d: %s", ev->fd,
			  strerror(errno));
	ev->what = what;
}

/* ---- timers: a binary min-heap on (due, seq) ------------------------- */

static bool earlier(const struct event *a, const struct event *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_place(struct event_loop *l, size_t i, struct event *ev)
{
	l->heap[i] = ev;
	ev->heap_idx = i;
}

static void heap_up(struct event_loop *l, size_t i)
{
	struct event *ev = l->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!earlier(ev, l->heap[parent]))
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, ev);
}

static void heap_down(struct event_loop *l, size_t i)
{
	struct event *ev = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && earlier(l->heap[c + 1], l->heap[c]))
			c++;
		if (!earlier(l->heap[c], ev))
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, ev);
}

static void heap_remove(struct event *ev)
{
	struct event_loop *l = ev->loop;
	size_t i = ev->heap_idx;
	if (i == NOT_ARMED)
		return;
	ev->heap_idx = NOT_ARMED;
	struct event *last = l->heap[--l->heap_len];
	if (i == l->heap_len)
		return;
	heap_place(l, i, last);
	/* The moved element may belong above or below its new slot. */
	if (i > 0 && earlier(last, l->heap[(i - 1) / 2]))
		heap_up(l, i);
	else
		heap_down(l, i);
}

void event_timer_set(struct event *ev, long ms)
{
	ASSERT(ev->kind == KIND_TIMER && !ev->dead);
	struct event_loop *l = ev->loop;
	heap_remove(ev);
	if (ms < 0)
		return;
	uint64_t now = event_now_ms(l);
	ev->due = (uint64_t)ms > UINT64_MAX - now ? UINT64_MAX
						  : now + (uint64_t)ms;
	ev->seq = l->seq++;
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64, bytes;
		if (size_mul(cap, sizeof(*l->heap), &bytes) < 0)
			log_panic("event: timer heap overflow");
		l->heap = xrealloc(l->heap, bytes);
		l->heap_cap = cap;
	}
	l->heap_len++;
	heap_place(l, l->heap_len - 1, ev);
	heap_up(l, l->heap_len - 1);
}

struct event *event_add_timer(struct event_loop *l, long ms, event_fn fn,
			      void *ctx)
{
	struct event *ev = event_new(l, KIND_TIMER, -1, fn, ctx);
	event_timer_set(ev, ms);
	return ev;
}

/* ---- signals --------------------------------------------------------- */

struct event *event_add_signal(struct event_loop *l, int signo, event_fn fn,
			       void *ctx)
{
	if (signo <= 0 || signo >= _NSIG || signo == SIGKILL ||
	    signo == SIGSTOP)
		log_panic("event: signal %d cannot be watched", signo);
	if (l->sig[signo])
		log_panic("event: signal %d is already watched", signo);
	if (!l->sigfd) {
		sigset_t none;
		sigemptyset(&none);
		int fd = signalfd(-1, &none, SFD_NONBLOCK | SFD_CLOEXEC);
		if (fd < 0)
			log_fatal("signalfd: %s", strerror(errno));
		l->sigfd = event_new(l, KIND_SIGFD, fd, NULL, NULL);
		l->sigfd->what = EVENT_READ;
		if (watch(l->sigfd) < 0)
			log_fatal("epoll_ctl signalfd: %s", strerror(errno));
	}
	struct event *ev = event_new(l, KIND_SIGNAL, signo, fn, ctx);
	sigset_t one, old;
	sigemptyset(&one);
	sigaddset(&one, signo);
	/* Blocked, the signal stays pending for the signalfd to read
	 * instead of running its disposition. */
	if (sigprocmask(SIG_BLOCK, &one, &old) < 0)
		log_panic("sigprocmask: %s", strerror(errno));
	ev->was_blocked = sigismember(&old, signo) == 1;
	sigaddset(&l->sigmask, signo);
	if (signalfd(l->sigfd->fd, &l->sigmask, 0) < 0)
		log_fatal("signalfd: %s", strerror(errno));
	l->sig[signo] = ev;
	return ev;
}

static void signal_release(struct event *ev)
{
	struct event_loop *l = ev->loop;
	int signo = ev->fd;
	sigset_t one, pending;
	l->sig[signo] = NULL;
	sigdelset(&l->sigmask, signo);
	if (signalfd(l->sigfd->fd, &l->sigmask, 0) < 0)
		log_panic("signalfd: %s", strerror(errno));
	if (ev->was_blocked)
		return;
	sigemptyset(&one);
	sigaddset(&one, signo);
	/*
	 * An instance that arrived for the loop but was not read yet would,
	 * once unblocked, run the default action (SIGTERM would kill us).
	 * It was meant for the deleted event: drop it.
	 */
	const struct timespec zero = {0, 0};
	while (sigpending(&pending) == 0 && sigismember(&pending, signo) == 1)
		if (sigtimedwait(&one, NULL, &zero) < 0 && errno != EINTR)
			break;
	(void)sigprocmask(SIG_UNBLOCK, &one, NULL);
}

/* Reads every queued siginfo and calls the owning events. */
static int run_signals(struct event_loop *l)
{
	struct signalfd_siginfo si[16];
	int ran = 0;
	for (;;) {
		ssize_t n = read(l->sigfd->fd, si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			uint32_t signo = si[i].ssi_signo;
			struct event *ev = signo < _NSIG ? l->sig[signo] : NULL;
			if (!ev)
				continue;
			ev->fn(ev, EVENT_SIGNAL, ev->ctx);
			ran++;
		}
	}
	return ran;
}

/* ---- deletion ----------------------------------------------------------- */

static void unlink_all(struct event *ev)
{
	struct event_loop *l = ev->loop;
	if (ev->prev)
		ev->prev->next = ev->next;
	else
		l->all = ev->next;
	if (ev->next)
		ev->next->prev = ev->prev;
	ev->prev = ev->next = NULL;
}

void event_del(struct event **evp)
{
	if (!evp || !*evp)
		return;
	struct event *ev = *evp;
	struct event_loop *l = ev->loop;
	*evp = NULL;
	ASSERT(!ev->dead);
	ev->dead = true;
	switch (ev->kind) {
	case KIND_FD:
		/* A failed event_add_fd() never reached the fd table. */
		if ((size_t)ev->fd < l->fds_cap && l->fds[ev->fd] == ev)
			unwatch(ev);
		break;
	case KIND_TIMER:
		heap_remove(ev);
		break;
	case KIND_SIGNAL:
		signal_release(ev);
		break;
	case KIND_SIGFD:
		unwatch(ev);
		(void)close(ev->fd);
		l->sigfd = NULL;
		break;
	}
	unlink_all(ev);
	if (l->in_round) {
		ev->next = l->dead;
		l->dead = ev;
	} else {
		free(ev);
	}
}

void event_loop_free(struct event_loop **lp)
{
	if (!lp || !*lp)
		return;
	struct event_loop *l = *lp;
	ASSERT(!l->in_round);
	/* The signalfd goes last: signal events still need it to leave. */
	while (l->all) {
		struct event *ev = l->all;
		if (ev == l->sigfd && ev->next)
			ev = ev->next;
		event_del(&ev);
	}
	(void)close(l->epfd);
	free(l->fds);
	free(l->heap);
	free(l->evs);
	free(l);
	*lp = NULL;
}

/* ---- accessors ------------------------------------------------------- */

int event_fd(const struct event *ev)
{
	return ev->fd;
}

void *event_ctx(const struct event *ev)
{
	return ev->ctx;
}

struct event_loop *event_loop_of(const struct event *ev)
{
	return ev->loop;
}

uint64_t event_now_ms(struct event_loop *l)
{
	if (!l->in_round)
		l->now = clock_ms();
	return l->now;
}

/* ---- dispatch ---------------------------------------------------------- */

static int run_fd(struct event *ev, uint32_t got)
{
	unsigned what = 0;
	if (got & EPOLLIN)
		what |= EVENT_READ;
	if (got & EPOLLOUT)
		what |= EVENT_WRITE;
	/* The interest set may have changed earlier in this round. */
	what &= ev->what;
	if (got & (EPOLLERR | EPOLLHUP))
		what |= EVENT_ERROR;
	if (!what)
		return 0;
	ev->fn(ev, what, ev->ctx);
	return 1;
}

/*
 * Fires the timers due now. Only timers armed before the round started
 * (seq < limit) are eligible, so a callback that re-arms with 0 ms waits
 * for the next round instead of looping here forever. Every eligible
 * timer sorts before any newly armed one (its due is <= now, theirs is
 * >= now with a larger seq), so stopping at the first ineligible top is
 * exact.
 */
static int run_timers(struct event_loop *l)
{
	uint64_t limit = l->seq;
	int ran = 0;
	while (l->heap_len > 0) {
		struct event *ev = l->heap[0];
		if (ev->due > l->now || ev->seq >= limit)
			break;
		heap_remove(ev);
		ev->fn(ev, EVENT_TIMER, ev->ctx);
		ran++;
	}
	return ran;
}

static int wait_ms(struct event_loop *l, long max_ms)
{
	long wait = max_ms < 0 ? -1 : max_ms;
	if (l->heap_len > 0) {
		uint64_t now = clock_ms(), due = l->heap[0]->due;
		uint64_t left = due > now ? due - now : 0;
		if (wait < 0 || left < (uint64_t)wait)
			wait = left > INT_MAX ? INT_MAX : (long)left;
	}
	return wait > INT_MAX ? INT_MAX : (int)wait;
}

int event_loop_once(struct event_loop *l, long max_ms)
{
	ASSERT(!l->in_round);
	int n = epoll_wait(l->epfd, l->evs, l->evs_cap, wait_ms(l, max_ms));
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	l->now = clock_ms();
	l->in_round = 1;
	int ran = 0;
	for (int i = 0; i < n; i++) {
		struct event *ev = l->evs[i].data.ptr;
		if (ev->dead)
			continue;
		if (ev->kind == KIND_SIGFD)
			ran += run_signals(l);
		else
			ran += run_fd(ev, l->evs[i].events);
	}
	ran += run_timers(l);
	l->in_round = 0;
	while (l->dead) {
		struct event *ev = l->dead;
		l->dead = ev->next;
		free(ev);
	}
	/* A full array means more fds were ready than we could take. */
	if (n == l->evs_cap && l->evs_cap < EVS_MAX) {
		l->evs_cap *= 2;
		free(l->evs);
		l->evs = xcalloc((size_t)l->evs_cap, sizeof(*l->evs));
	}
	return ran;
}

int event_loop_run(struct event_loop *l)
{
	l->stop = false;
	while (!l->stop)
		if (event_loop_once(l, -1) < 0)
			return -1;
	return 0;
}

void event_loop_stop(struct event_loop *l)
{
	l->stop = true;
}
