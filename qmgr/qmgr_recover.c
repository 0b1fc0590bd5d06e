/* SPDX-License-Identifier: MIT */
/*
 * qmgr_recover.c - reconcile queue/ with the index; clean incoming/
 *
 * At start (DESIGN.md "The spool", Recovery), with the queue lock held so
 * no other qmgr is between a rename and its index commit:
 *   - a file in queue/ without an index entry was renamed by a batch that
 *     never committed, so it was never acknowledged: remove it;
 *   - an index entry whose file is gone cannot be delivered: log it as an
 *     error (someone removed a queued file) and remove the entry;
 *   - files in incoming/ older than qmgr_incoming_grace_time belong to
 *     producers that died or gave up: remove them (also periodically).
 * Names in queue/ that are not queue ids are left alone with a warning:
 * qmgr deletes only what it can prove is its own.
 */
#include "qmgr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/queue_index.h"
#include "common/str.h"
#include "common/xalloc.h"

/* Calls fn for each entry name of the directory open at dfd. */
static int scan_dir(int dfd, const char *what,
                    void (*fn)(const char *name, void *ctx), void *ctx,
                    struct err *e)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		err_set(e, "open %s: %s", what, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		fn(de->d_name, ctx);
	}
	closedir(d);
	return 0;
}

static void collect(const char *name, void *ctx)
{
	strv_push(ctx, name);
}

static int remove_orphans(struct qmgr_queue *q, struct err *e)
{
	struct strv names, orphans;
	struct db_txn *txn;
	strv_init(&names);
	strv_init(&orphans);
	if (scan_dir(q->queue_fd, "queue/", collect, &names, e) < 0 ||
	    db_read_begin(q->index, &txn, e) < 0) {
		strv_deinit(&names);
		return -1;
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *id = names.v[i];
		if (!queue_id_valid(id, strlen(id))) {
			log_warn("queue/%s: not a queue file; left alone", id);
			continue;
		}
		int rc = queue_index_has(txn, id, e);
		if (rc < 0) {
			db_txn_end(&txn);
			strv_deinit(&names);
			strv_deinit(&orphans);
			return -1;
		}
		if (rc == 0)
			strv_push(&orphans, id);
	}
	db_txn_end(&txn);
	for (size_t i = 0; i < orphans.n; i++) {
		if (unlinkat(q->queue_fd, orphans.v[i], 0) < 0 &&
		    errno != ENOENT)
			log_warn("%s: remove queue/%s: %s", orphans.v[i],
			         orphans.v[i], strerror(errno));
		else
			log_info("%s: removed: queue file without index entry "
			         "(never acknowledged)",
			         orphans.v[i]);
	}
	strv_deinit(&names);
	strv_deinit(&orphans);
	return 0;
}

static int del_entries(struct db_txn *txn, void *ctx, struct err *e)
{
	const struct strv *ids = ctx;
	for (size_t i = 0; i < ids->n; i++)
		if (queue_index_delete(txn, ids->v[i], e) < 0)
			return -1;
	return 0;
}

static int remove_lost_entries(struct qmgr_queue *q, struct err *e)
{
	struct strv lost;
	struct db_txn *txn;
	char id[QUEUE_ID_SIZE] = "";
	int rc;
	strv_init(&lost);
	if (db_read_begin(q->index, &txn, e) < 0)
		return -1;
	while ((rc = queue_index_next(txn, id, e)) == 1) {
		if (faccessat(q->queue_fd, id, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			strv_push(&lost, id);
	}
	db_txn_end(&txn);
	if (rc == 0 && lost.n > 0) {
		for (size_t i = 0; i < lost.n; i++)
			log_error("%s: queue file missing; index entry removed "
			          "(message lost outside qmgr)",
			          lost.v[i]);
		rc = db_write(q->index, del_entries, &lost, e);
	}
	strv_deinit(&lost);
	return rc < 0 ? -1 : 0;
}

struct sweep {
	struct qmgr_queue *q;
	time_t cutoff;
};

static void sweep_one(const char *name, void *ctx)
{
	struct sweep *s = ctx;
	struct stat st;
	if (fstatat(s->q->incoming_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_mtime > s->cutoff)
		return;
	if (unlinkat(s->q->incoming_fd, name, 0) < 0) {
		log_warn("remove incoming/%s: %s", name, strerror(errno));
		return;
	}
	log_info("%s: removed: incoming file older than %lds was never "
	         "committed",
	         name, params->qmgr_incoming_grace_time);
}

void qmgr_incoming_sweep(struct qmgr_queue *q)
{
	struct err e;
	struct sweep s = {q, time(NULL) - params->qmgr_incoming_grace_time};
	if (scan_dir(q->incoming_fd, "incoming/", sweep_one, &s, &e) < 0)
		log_warn("%s", e.msg);
	int n = db_reader_check(q->index);
	if (n > 0)
		log_info("cleared %d stale queue index reader slot(s)", n);
}

int qmgr_recover(struct qmgr_queue *q, struct err *e)
{
	if (remove_orphans(q, e) < 0 || remove_lost_entries(q, e) < 0)
		return -1;
	qmgr_incoming_sweep(q);
	return 0;
}
