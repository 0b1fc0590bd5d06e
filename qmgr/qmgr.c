/* SPDX-License-Identifier: MIT */
/*
 * qmgr.c - the queue manager: start-up, the commit service, shutdown
 *
 * One qmgr runs per queue (master.cf maxproc 1, wakeup > 0 so master
 * keeps it running). At start it takes the queue lock (an exclusive flock
 * on queue/, so a new qmgr started by a reload waits until the old one has
 * finished its last batch), opens the queue index, reconciles queue/ with
 * it (qmgr_recover.c), then serves commits and administration
 * (qmgr_commit.c) and delivers: every committed message goes straight to
 * the scheduler (qmgr_sched.c), which also scans the index's due order
 * at start and every queue_run_delay. On stop it lets the requests in
 * flight answer (a few seconds at most), records their results, and
 * leaves everything else as the index has it for the next qmgr.
 * With the argument "showq" the program is instead the showq service
 * (qmgr_showq.c), which lists the queue for mailq.
 */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/queue_index.h"
#include "common/xalloc.h"

static struct qmgr_queue queue = {
        .dir_fd = -1, .queue_fd = -1, .incoming_fd = -1};
static struct event *sweep_timer;

static int open_dir(int at, const char *path)
{
	int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		log_fatal("open %s/%s: %s", queue.dir, path, strerror(errno));
	return fd;
}

static long sweep_interval_ms(void)
{
	long s = params->qmgr_incoming_grace_time / 4;
	if (s < 60)
		s = 60;
	if (s > 900)
		s = 900;
	return s * 1000;
}

static void on_sweep(struct event *ev, unsigned what, void *ctx)
{
	(void)what;
	(void)ctx;
	qmgr_incoming_sweep(&queue);
	event_timer_set(ev, sweep_interval_ms());
}

static void qmgr_init(struct event_loop *loop)
{
	struct err e;
	enum qmgr_sync_method sync;
	if (qmgr_sync_parse(params->qmgr_sync_method, &sync) < 0)
		log_fatal(
		        "qmgr_sync_method = %s: use auto, syncfs or fdatasync",
		        params->qmgr_sync_method);
	queue.dir = xstrdup(params->queue_directory);
	queue.dir_fd = open_dir(AT_FDCWD, queue.dir);
	queue.queue_fd = open_dir(queue.dir_fd, "queue");
	queue.incoming_fd = open_dir(queue.dir_fd, "incoming");
	/* A previous qmgr may still be finishing a batch (reload): wait for
	 * it, or recovery would take its renamed files for orphans. */
	while (flock(queue.queue_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			log_fatal("lock %s/queue: %s", queue.dir,
			          strerror(errno));
	if (queue_index_open(&queue.index, queue.dir, false, &e) < 0)
		log_fatal("%s", e.msg);
	int n = db_reader_check(queue.index);
	if (n > 0)
		log_info("cleared %d stale queue index reader slot(s)", n);
	if (qmgr_recover(&queue, &e) < 0)
		log_fatal("queue recovery: %s", e.msg);
	qmgr_store_init(&queue, loop);
	qmgr_sched_init(&queue, loop);
	qmgr_commit_init(&queue, loop, sync, qmgr_sched_committed, NULL);
	sweep_timer =
	        event_add_timer(loop, sweep_interval_ms(), on_sweep, NULL);
}

/* How long a stopping qmgr waits for requests in flight (master allows a
 * stopping child 10 s). */
#define DRAIN_MS 5000

static void qmgr_exit(void)
{
	qmgr_sched_shutdown(DRAIN_MS);
	qmgr_commit_shutdown();
	qmgr_store_flush();
	event_del(&sweep_timer);
	db_close(&queue.index);
	/* Closing queue/ releases the lock for the next qmgr. */
	if (queue.queue_fd >= 0)
		close(queue.queue_fd);
	if (queue.incoming_fd >= 0)
		close(queue.incoming_fd);
	if (queue.dir_fd >= 0)
		close(queue.dir_fd);
	free(queue.dir);
}

static const struct service_def qmgr_def = {
        .name = "qmgr",
        .mode = SERVICE_MULTIPLEX,
        .user = SERVICE_USER_MAIL_OWNER,
        .init = qmgr_init,
        .accept = qmgr_commit_accept,
        .exit_hook = qmgr_exit,
};

int main(int argc, char **argv)
{
	if (qmgr_showq_wanted(argc, argv))
		return qmgr_showq_main(argc, argv);
	return service_main(argc, argv, &qmgr_def);
}
