/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_EVENT_H
#define POSTHORN_COMMON_EVENT_H

#include <stdint.h>

/*
 * One epoll event loop per process, with fd watchers, one-shot timers and
 * signals (through signalfd, so handlers run in the loop, not in signal
 * context). Callbacks have one shape:
 *
 *   void fn(struct event *ev, unsigned what, void *ctx);
 *
 * where `what` is a mix of EVENT_READ / EVENT_WRITE / EVENT_ERROR (hang-up
 * or error on the fd; always reported, never asked for), EVENT_TIMER, or
 * EVENT_SIGNAL. A callback may delete any event, including its own: deleted
 * events are freed only after the current dispatch round, and a deleted
 * event's callback is never called again.
 */
#define EVENT_READ 0x1u
#define EVENT_WRITE 0x2u
#define EVENT_ERROR 0x4u
#define EVENT_TIMER 0x8u
#define EVENT_SIGNAL 0x10u

struct event_loop;
struct event;

typedef void (*event_fn)(struct event *ev, unsigned what, void *ctx);

/* A new loop; log_fatal if the kernel refuses an epoll fd. Free with
 * event_loop_free(), which deletes any events still registered. */
struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop **lp);

/* Watches fd for `what` (EVENT_READ and/or EVENT_WRITE; 0 = only errors).
 * The loop does not own fd and never closes it. */
struct event *event_add_fd(struct event_loop *l, int fd, unsigned what,
			   event_fn fn, void *ctx);
/* Changes the interest set of an fd event. */
void event_fd_set(struct event *ev, unsigned what);
/* A one-shot timer firing after ms milliseconds (EVENT_TIMER); re-arm it
 * with event_timer_set() or delete it. */
struct event *event_add_timer(struct event_loop *l, long ms, event_fn fn,
			      void *ctx);
/* (Re)arms a timer to fire ms from now; ms < 0 disarms it. */
void event_timer_set(struct event *ev, long ms);
/* Delivers signo through the loop (EVENT_SIGNAL); the signal is blocked
 * for normal delivery while the event exists. */
struct event *event_add_signal(struct event_loop *l, int signo, event_fn fn,
			       void *ctx);
/* Deletes *evp (NULL allowed) and sets it to NULL. */
void event_del(struct event **evp);

/* The fd (or signal number) an event watches; -1 for a timer. */
int event_fd(const struct event *ev);
void *event_ctx(const struct event *ev);
struct event_loop *event_loop_of(const struct event *ev);

/* Runs until event_loop_stop(); 0, or -1 if epoll_wait fails. */
int event_loop_run(struct event_loop *l);
/* Waits at most max_ms (-1: until something happens) and dispatches one
 * round. Returns the number of callbacks run, or -1. */
int event_loop_once(struct event_loop *l, long max_ms);
void event_loop_stop(struct event_loop *l);
/* Monotonic milliseconds, cached per dispatch round. */
uint64_t event_now_ms(struct event_loop *l);

#endif
