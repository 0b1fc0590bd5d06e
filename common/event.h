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
 *
 * fd watchers are level-triggered: a callback that leaves data unread, or
 * ignores EVENT_ERROR, is called again next round. Delete an fd's event
 * before closing the fd. Nothing in the loop blocks except epoll_wait.
 * The loop is single-threaded and must not be used across fork().
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
 * event_loop_free(), which deletes any events still registered (restoring
 * the signal mask) and accepts NULL. */
struct event_loop *event_loop_new(void);
void event_loop_free(struct event_loop **lp);

/* Watches fd for `what` (EVENT_READ and/or EVENT_WRITE; 0 = only errors).
 * The loop does not own fd and never closes it. Returns NULL with errno
 * set when the kernel refuses the fd (EPERM: regular files cannot be
 * polled; ENOSPC: fs.epoll.max_user_watches reached). Watching an fd that
 * already has a live event in this loop is a bug (log_panic). */
struct event *event_add_fd(struct event_loop *l, int fd, unsigned what,
			   event_fn fn, void *ctx);
/* Changes the interest set of an fd event (cheap when unchanged). */
void event_fd_set(struct event *ev, unsigned what);
/* A one-shot timer firing after ms milliseconds (EVENT_TIMER); ms < 0
 * creates it disarmed. After it fires it stays allocated and disarmed:
 * re-arm it with event_timer_set() or delete it. Timers due at the same
 * millisecond fire in the order they were armed. */
struct event *event_add_timer(struct event_loop *l, long ms, event_fn fn,
			      void *ctx);
/* (Re)arms a timer to fire ms from now; ms < 0 disarms it. A timer
 * re-armed from a callback fires in a later round, never the current one,
 * so ms = 0 cannot starve the loop. */
void event_timer_set(struct event *ev, long ms);
/* Delivers signo through the loop (EVENT_SIGNAL); the signal is blocked
 * for normal delivery while the event exists and its previous blocked
 * state is restored on delete (an instance still pending then is
 * discarded). One event per signal; a second one, or a signal that cannot
 * be blocked (SIGKILL, SIGSTOP), is a bug (log_panic); log_fatal if the
 * kernel refuses a signalfd. Standard signals coalesce: a SIGCHLD handler
 * must reap every child (waitpid(-1, ..., WNOHANG) in a loop). The blocked
 * mask survives fork() and execve(): a process that execs a child must
 * reset the child's mask. */
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
 * round: ready fds and signals first, then due timers. Returns the number
 * of callbacks run, or -1 if epoll_wait fails (EINTR counts as 0). */
int event_loop_once(struct event_loop *l, long max_ms);
void event_loop_stop(struct event_loop *l);
/* Monotonic milliseconds, cached per dispatch round (read afresh when
 * called outside one). Timers are armed relative to this value. */
uint64_t event_now_ms(struct event_loop *l);

#endif
