/* SPDX-License-Identifier: MIT */
/*
 * test_pop3d_maildrop.c - the session snapshot: numbering in UID order,
 * marks and their sums, the lock, a message expunged by another client,
 * the UPDATE state (expunge all marked, \Seen on retrieved, EXPIRE 0),
 * and a snapshot closed without commit changing nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "common/mbox.h"
#include "common/xalloc.h"
#include "pop3d/pop3d_maildrop.h"
#include "unit_tmpdir.h"

struct fx {
	char dir[64];
	char *path;
	uint32_t uids[3];
};

static uint32_t add(const char *path, const char *msg)
{
	struct mbox *mb;
	struct mbox_folder *f;
	struct err e;
	uint32_t uid;
	struct mbox_part part = {msg, strlen(msg)};
	struct mbox_new m = {.parts = &part, .nparts = 1};
	if (mbox_open(&mb, path, MBOX_CREATE, &e) != 1 ||
	    mbox_folder_open(mb, MBOX_INBOX, &f, &e) != 1 ||
	    mbox_append(f, &m, &uid, &e) < 0)
		fail_msg("add: %s", e.msg);
	mbox_folder_close(&f);
	mbox_close(&mb);
	return uid;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	if (unit_tmpdir_make(f->dir, sizeof(f->dir), "test_maildrop") < 0)
		return -1;
	f->path = xasprintf("%s/Maildir", f->dir);
	f->uids[0] = add(f->path, "A: 1\n\none\n");
	f->uids[1] = add(f->path, "A: 2\n\ntwo\nlines\n");
	f->uids[2] = add(f->path, "A: 3\r\n\r\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unit_tmpdir_remove(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* The number of messages left in INBOX, files and index reconciled. */
static size_t remaining(const char *path)
{
	struct mbox *mb;
	struct mbox_folder *f;
	struct err e;
	struct mbox_status st;
	if (mbox_open(&mb, path, 0, &e) != 1 ||
	    mbox_folder_open(mb, MBOX_INBOX, &f, &e) != 1 ||
	    mbox_folder_sync(f, MBOX_SYNC_FULL, NULL, &e) < 0 ||
	    mbox_folder_status(f, &st, &e) < 0)
		fail_msg("remaining: %s", e.msg);
	mbox_folder_close(&f);
	mbox_close(&mb);
	return st.exists;
}

static int get_flags(void *ctx, const struct mbox_msg *m)
{
	*(unsigned *)ctx = m->flags;
	return 1;
}

static unsigned flags_of(const char *path, uint32_t uid)
{
	struct mbox *mb;
	struct mbox_folder *f;
	struct err e;
	unsigned flags = 0xffff;
	if (mbox_open(&mb, path, 0, &e) != 1 ||
	    mbox_folder_open(mb, MBOX_INBOX, &f, &e) != 1 ||
	    mbox_msg_iter(f, uid, uid, get_flags, &flags, &e) < 0)
		fail_msg("flags: %s", e.msg);
	mbox_folder_close(&f);
	mbox_close(&mb);
	return flags;
}

static void test_snapshot(void **state)
{
	struct fx *f = *state;
	struct pop3d_maildrop *md;
	struct err e;
	assert_int_equal(pop3d_maildrop_open(f->path, &md, &e), 1);
	assert_int_equal(md->count, 3);
	assert_int_equal(md->msgs[0].uid, f->uids[0]);
	assert_int_equal(md->msgs[2].uid, f->uids[2]);
	assert_int_equal(md->msgs[0].vsize, strlen("A: 1\r\n\r\none\r\n"));
	assert_int_equal(md->msgs[2].vsize, 8);
	assert_int_equal(md->size, 13 + 20 + 8);

	/* Numbers 1..3; 0 and 4 are not messages. */
	assert_null(pop3d_maildrop_msg(md, 0, NULL));
	assert_null(pop3d_maildrop_msg(md, 4, NULL));
	struct pop3d_msg *m2 = pop3d_maildrop_msg(md, 2, NULL);
	assert_non_null(m2);

	char id[POP3D_UIDL_MAX], want[POP3D_UIDL_MAX];
	pop3d_maildrop_uidl(md, m2, id, sizeof(id));
	snprintf(want, sizeof(want), "%u.%u", md->uidvalidity, f->uids[1]);
	assert_string_equal(id, want);

	bool deleted;
	assert_true(pop3d_maildrop_mark(md, m2));
	assert_false(pop3d_maildrop_mark(md, m2));
	assert_null(pop3d_maildrop_msg(md, 2, &deleted));
	assert_true(deleted);
	assert_int_equal(md->ndeleted, 1);
	assert_int_equal(md->deleted_size, 20);
	pop3d_maildrop_unmark_all(md);
	assert_int_equal(md->ndeleted, 0);
	assert_int_equal(md->deleted_size, 0);
	assert_non_null(pop3d_maildrop_msg(md, 2, &deleted));
	assert_false(deleted);

	/* Closed without commit: nothing changes. */
	(void)pop3d_maildrop_mark(md, m2);
	pop3d_maildrop_close(&md);
	assert_null(md);
	assert_int_equal(remaining(f->path), 3);
}

static void test_lock(void **state)
{
	struct fx *f = *state;
	struct pop3d_maildrop *a, *b;
	struct err e;
	assert_int_equal(pop3d_maildrop_open(f->path, &a, &e), 1);
	assert_int_equal(pop3d_maildrop_open(f->path, &b, &e), 0);
	assert_null(b);
	pop3d_maildrop_close(&a);
	assert_int_equal(pop3d_maildrop_open(f->path, &b, &e), 1);
	pop3d_maildrop_close(&b);
}

static void test_commit(void **state)
{
	struct fx *f = *state;
	struct pop3d_maildrop *md;
	struct err e;
	size_t removed;
	assert_int_equal(pop3d_maildrop_open(f->path, &md, &e), 1);
	md->msgs[0].retrieved = true; /* kept: gets \Seen */
	md->msgs[1].retrieved = true; /* deleted */
	(void)pop3d_maildrop_mark(md, &md->msgs[1]);
	(void)pop3d_maildrop_mark(md, &md->msgs[2]);
	assert_int_equal(pop3d_maildrop_commit(md, false, &removed, &e), 0);
	assert_int_equal(removed, 2);
	pop3d_maildrop_close(&md);
	assert_int_equal(remaining(f->path), 1);
	assert_int_equal(flags_of(f->path, f->uids[0]), MBOX_F_SEEN);

	/* The next session sees the one left, with the same UID. */
	assert_int_equal(pop3d_maildrop_open(f->path, &md, &e), 1);
	assert_int_equal(md->count, 1);
	assert_int_equal(md->msgs[0].uid, f->uids[0]);
	pop3d_maildrop_close(&md);
}

static void test_expire_retrieved(void **state)
{
	struct fx *f = *state;
	struct pop3d_maildrop *md;
	struct err e;
	size_t removed;
	assert_int_equal(pop3d_maildrop_open(f->path, &md, &e), 1);
	md->msgs[2].retrieved = true;
	assert_int_equal(pop3d_maildrop_commit(md, true, &removed, &e), 0);
	assert_int_equal(removed, 1);
	pop3d_maildrop_close(&md);
	assert_int_equal(remaining(f->path), 2);
}

/* IMAP (another handle) expunges a message during the session: RETR
 * finds it gone, and QUIT still removes the rest. */
static void test_gone(void **state)
{
	struct fx *f = *state;
	struct pop3d_maildrop *md;
	struct err e;
	size_t removed;
	int fd;
	assert_int_equal(pop3d_maildrop_open(f->path, &md, &e), 1);

	struct mbox *mb;
	struct mbox_folder *in;
	assert_int_equal(mbox_open(&mb, f->path, 0, &e), 1);
	assert_int_equal(mbox_folder_open(mb, MBOX_INBOX, &in, &e), 1);
	assert_int_equal(mbox_expunge(in, &f->uids[0], 1, NULL, NULL, &e), 0);
	mbox_folder_close(&in);
	mbox_close(&mb);

	assert_int_equal(pop3d_maildrop_open_msg(md, &md->msgs[0], &fd, &e), 0);
	assert_int_equal(pop3d_maildrop_open_msg(md, &md->msgs[1], &fd, &e), 1);
	close(fd);
	(void)pop3d_maildrop_mark(md, &md->msgs[0]);
	(void)pop3d_maildrop_mark(md, &md->msgs[1]);
	assert_int_equal(pop3d_maildrop_commit(md, false, &removed, &e), 0);
	pop3d_maildrop_close(&md);
	assert_int_equal(remaining(f->path), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_expire_retrieved, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_gone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
