/* SPDX-License-Identifier: MIT */
/*
 * mbox_dirty.c - index commits that ride on a delivery batch's sync, and
 * what happens after a crash caught them in flight
 *
 * One index commit per mailbox per batch, each waiting for the disk,
 * would cost two fdatasyncs per mailbox; the batch already pays a syncfs
 * after its commits, which makes them durable too (DESIGN.md "The
 * performance budget": the UID rides on the batch). A commit that does
 * not wait can be undone, or leave the LMDB file damaged, by a system
 * crash before that syncfs. Marker files tell when that may have
 * happened (mbox_impl.h); the cure is to rebuild the index from the
 * maildir, which is the truth for which messages exist, with new
 * UIDVALIDITYs (M/posthorn.uidvalidity, written durably, keeps them
 * above every value handed out before). What only the index knew
 * (keywords, subscriptions, special-use attributes, cached structure)
 * is lost with it; the damaged file is kept as posthorn.lmdb.crashed.
 *
 * Order of a batch, per mailbox: marker says dirty (made durable by the
 * batch's first syncfs) -> relaxed commit -> second syncfs -> marker
 * says clean (not synced: a crash that loses that write costs a needless
 * rebuild, nothing else). The marker is one byte written in place, 'D'
 * or 'C' (anything but 'C', an empty file too, counts as dirty), in a
 * file that lives as long as the process keeps the mailbox open: a
 * create and an unlink per batch would cost two metadata updates in the
 * mailbox per batch, and on a filesystem without a journal every freed
 * inode makes later creates slower for minutes (ext4 skips recently
 * deleted inodes by scanning past them). A dirty marker of the current
 * boot whose process is gone needs no rebuild (a process crash loses no
 * page cache): one syncfs, then it is removed; a clean one is removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mbox_impl.h"
#include "common/str.h"
#include "common/xalloc.h"

#define BOOT_ID_MAX 64

/* This boot's identity: the kernel's boot_id, else the boot time. */
static const char *boot_id(void)
{
	static char id[BOOT_ID_MAX];
	if (id[0])
		return id;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, id, sizeof(id) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		id[n] = '\0';
		id[strcspn(id, "\n")] = '\0';
		/* Keep only characters safe in a file name. */
		for (char *p = id; *p; p++)
			if (*p == '/' || *p == '.')
				*p = '-';
	}
	if (!id[0]) {
		struct timespec now, up;
		clock_gettime(CLOCK_REALTIME, &now);
		clock_gettime(CLOCK_BOOTTIME, &up);
		(void)snprintf(id, sizeof(id), "btime-%lld",
			       (long long)(now.tv_sec - up.tv_sec) / 10);
	}
	return id;
}

int mbox_dirty_dir(char *out, size_t outsz, const char *path)
{
	return path_join(out, outsz, path, MBOX_DIRTY_DIR, NULL);
}

static int marker_path(char *out, size_t outsz, const char *path)
{
	char dir[MBOX_PATH_MAX];
	char name[BOOT_ID_MAX + 24];
	(void)snprintf(name, sizeof(name), "%s.%ld", boot_id(),
		       (long)getpid());
	if (mbox_dirty_dir(dir, sizeof(dir), path) < 0)
		return -1;
	return path_join(out, outsz, dir, name, NULL);
}

int mbox_dirty_mark(struct mbox *mb, struct err *e)
{
	char dir[MBOX_PATH_MAX], p[MBOX_PATH_MAX];
	if (mb->marked)
		return 0;
	if (mb->marker_fd < 0) {
		if (mbox_dirty_dir(dir, sizeof(dir), mb->path) < 0 ||
		    marker_path(p, sizeof(p), mb->path) < 0) {
			err_set(e, "%s: path too long", mb->path);
			return -1;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			err_set(e, "mkdir %s: %s", dir, strerror(errno));
			return -1;
		}
		mb->marker_fd = open(p,
				     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				     0600);
		if (mb->marker_fd < 0) {
			err_set(e, "create %s: %s", p, strerror(errno));
			return -1;
		}
	}
	if (pwrite(mb->marker_fd, "D", 1, 0) != 1) {
		err_set(e, "write marker in %s: %s", mb->path, strerror(errno));
		return -1;
	}
	mb->marked = true;
	return 0;
}

void mbox_dirty_clear(struct mbox *mb)
{
	if (!mb->marked || mb->unsynced)
		return;
	if (pwrite(mb->marker_fd, "C", 1, 0) != 1) {
		/* It stays dirty: a needless rebuild after a crash. */
		log_warn("write marker in %s: %s", mb->path, strerror(errno));
		return;
	}
	mb->marked = false;
}

void mbox_dirty_close(struct mbox *mb)
{
	char p[MBOX_PATH_MAX];
	mbox_dirty_clear(mb);
	if (mb->marker_fd < 0)
		return;
	/* A marker still dirty stays for the next opener, which flushes
	 * the writes it guards and removes it. */
	if (!mb->marked && marker_path(p, sizeof(p), mb->path) >= 0 &&
	    unlink(p) < 0 && errno != ENOENT)
		log_warn("unlink %s: %s", p, strerror(errno));
	close(mb->marker_fd);
	mb->marker_fd = -1;
}

/* Splits a marker name "<boot>.<pid>": 0, or -1 when it is not one. */
static int parse_marker(const char *name, char *boot, size_t bootsz,
			pid_t *pid)
{
	const char *dot = strrchr(name, '.');
	uint64_t v;
	size_t blen = dot ? (size_t)(dot - name) : 0;
	if (!dot || blen == 0 || blen >= bootsz ||
	    parse_uint(dot + 1, 1, 0x7fffffff, &v) < 0)
		return -1;
	memcpy(boot, name, blen);
	boot[blen] = '\0';
	*pid = (pid_t)v;
	return 0;
}

struct markers {
	struct strv stale; /* dirty, this boot, process gone */
	struct strv old;   /* dirty, an earlier boot */
	struct strv clean; /* clean, process gone */
};

/* True when the marker dir/name says clean. */
static bool marker_clean(const char *dir, const char *name)
{
	char p[MBOX_PATH_MAX], c = 0;
	if (path_join(p, sizeof(p), dir, name, NULL) < 0)
		return false;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 1 && c == 'C';
}

static int scan_markers(const char *dir, struct markers *m, struct err *e)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "opendir %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char boot[BOOT_ID_MAX];
		pid_t pid;
		if (de->d_name[0] == '.' ||
		    parse_marker(de->d_name, boot, sizeof(boot), &pid) < 0)
			continue;
		bool this_boot = strcmp(boot, boot_id()) == 0;
		bool gone = !this_boot ||
			    (pid != getpid() && kill(pid, 0) < 0 &&
			     errno == ESRCH);
		if (!gone)
			continue;
		if (marker_clean(dir, de->d_name))
			strv_push(&m->clean, de->d_name);
		else if (this_boot)
			strv_push(&m->stale, de->d_name);
		else
			strv_push(&m->old, de->d_name);
	}
	closedir(d);
	return 0;
}

static void unlink_all(const char *dir, const struct strv *names)
{
	for (size_t i = 0; i < names->n; i++) {
		char p[MBOX_PATH_MAX];
		if (path_join(p, sizeof(p), dir, names->v[i], NULL) >= 0 &&
		    unlink(p) < 0 && errno != ENOENT)
			log_warn("unlink %s: %s", p, strerror(errno));
	}
}

int mbox_index_aside(const char *path, const char *why, struct err *e)
{
	char idx[MBOX_PATH_MAX], aside[MBOX_PATH_MAX], lock[MBOX_PATH_MAX];
	if (path_join(idx, sizeof(idx), path, MBOX_INDEX_FILE, NULL) < 0 ||
	    snprintf(aside, sizeof(aside), "%s.crashed", idx) >=
		    (int)sizeof(aside) ||
	    snprintf(lock, sizeof(lock), "%s-lock", idx) >= (int)sizeof(lock)) {
		err_set(e, "%s: path too long", path);
		return -1;
	}
	log_warn("%s: %s; rebuilding the index from the maildir (every "
		 "folder gets a new UIDVALIDITY)",
		 path, why);
	if (rename(idx, aside) < 0 && errno != ENOENT) {
		err_set(e, "rename %s: %s", idx, strerror(errno));
		return -1;
	}
	(void)unlink(lock);
	/* The old index must be gone for good before the markers that
	 * call for its rebuild are. */
	return dir_sync(path, e);
}

int mbox_dirty_check(const char *path, struct err *e)
{
	char dir[MBOX_PATH_MAX];
	struct markers m;
	if (mbox_dirty_dir(dir, sizeof(dir), path) < 0) {
		err_set(e, "%s: path too long", path);
		return -1;
	}
	strv_init(&m.stale);
	strv_init(&m.old);
	strv_init(&m.clean);
	int rc = scan_markers(dir, &m, e);
	if (rc == 0)
		unlink_all(dir, &m.clean);
	if (rc == 0 && m.stale.n > 0) {
		/* A dead process's relaxed commits are in the page cache:
		 * flush them before forgetting they were relaxed. */
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && syncfs(fd) == 0)
			unlink_all(dir, &m.stale);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0 && m.old.n > 0) {
		/* One process rebuilds; the others wait, then see no
		 * markers left. */
		char lp[MBOX_PATH_MAX];
		int lfd = -1;
		if (path_join(lp, sizeof(lp), path, MBOX_REBUILD_LOCK, NULL) >= 0)
			lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				   0600);
		if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
			err_set(e, "lock %s: %s", lp, strerror(errno));
			rc = -1;
		}
		struct markers again;
		strv_init(&again.stale);
		strv_init(&again.old);
		strv_init(&again.clean);
		if (rc == 0)
			rc = scan_markers(dir, &again, e);
		if (rc == 0 && again.old.n > 0 &&
		    (rc = mbox_index_aside(path,
					   "a system crash may have undone "
					   "index changes",
					   e)) == 0) {
			unlink_all(dir, &again.old);
			rc = dir_sync(dir, e);
		}
		strv_deinit(&again.stale);
		strv_deinit(&again.old);
		strv_deinit(&again.clean);
		if (lfd >= 0)
			close(lfd);
	}
	strv_deinit(&m.stale);
	strv_deinit(&m.old);
	strv_deinit(&m.clean);
	return rc;
}
