/* SPDX-License-Identifier: MIT */
/*
 * test_mbox.c - the mailbox store: delivery and APPEND, batches over
 * several mailboxes, scans of foreign files, flags in file names,
 * expunge, UID stability across reopen, UIDVALIDITY rules, a crash
 * between rename and index commit, copy/move, cache, \Recent, watch
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/maildir.h"
#include "common/mbox.h"
#include "common/xalloc.h"
#include "unit_tmpdir.h"

struct fx {
	char dir[64];
	char *path; /* dir/Maildir */
	struct mbox *mb;
	struct mbox_folder *inbox;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	if (unit_tmpdir_make(f->dir, sizeof(f->dir), "test_mbox") < 0)
		return -1;
	f->path = xasprintf("%s/user/Maildir", f->dir);
	struct err e = {{0}};
	if (mbox_open(&f->mb, f->path, MBOX_CREATE, &e) != 1 ||
	    mbox_folder_open(f->mb, "INBOX", &f->inbox, &e) != 1) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	mbox_folder_close(&f->inbox);
	mbox_close(&f->mb);
	unit_tmpdir_remove(f->dir);
	free(f->path);
	free(f);
	mbox_set_cache_builder(NULL, 0);
	return 0;
}

/* Appends text as one message; returns its UID. */
static uint32_t append(struct mbox_folder *fo, const char *text,
		       unsigned flags)
{
	struct mbox_part part = {text, strlen(text)};
	struct mbox_new m = {.parts = &part, .nparts = 1, .flags = flags};
	uint32_t uid = 0;
	struct err e = {{0}};
	if (mbox_append(fo, &m, &uid, &e) < 0)
		fail_msg("append: %s", e.msg);
	return uid;
}

static struct mbox_status status(struct mbox_folder *fo)
{
	struct mbox_status st;
	struct err e = {{0}};
	if (mbox_folder_status(fo, &st, &e) < 0)
		fail_msg("status: %s", e.msg);
	return st;
}

static void sync_folder(struct mbox_folder *fo, unsigned flags,
			struct mbox_sync_result *r)
{
	struct err e = {{0}};
	if (mbox_folder_sync(fo, flags, r, &e) < 0)
		fail_msg("sync: %s", e.msg);
}

/* Collects messages in UID order. */
#define MAXM 256
struct msgs {
	size_t n;
	uint32_t uid[MAXM];
	unsigned flags[MAXM];
	uint64_t modseq[MAXM], vsize[MAXM], size[MAXM];
	char kw[MAXM][200];
	char file[MAXM][256];
};

static int collect(void *ctx, const struct mbox_msg *m)
{
	struct msgs *s = ctx;
	if (s->n == MAXM)
		return 1;
	size_t i = s->n++;
	s->uid[i] = m->uid;
	s->flags[i] = m->flags;
	s->modseq[i] = m->modseq;
	s->vsize[i] = m->vsize;
	s->size[i] = m->size;
	s->kw[i][0] = '\0';
	size_t off = 0, o = 0;
	for (size_t k = 0; k < m->nkeywords; k++) {
		int n = snprintf(s->kw[i] + o, sizeof(s->kw[i]) - o, "%s%s",
				 k ? " " : "", m->keywords + off);
		o += (size_t)n;
		off += strlen(m->keywords + off) + 1;
	}
	snprintf(s->file[i], sizeof(s->file[i]), "%s", m->file);
	return 0;
}

static struct msgs *list(struct mbox_folder *fo)
{
	struct msgs *s = xcalloc(1, sizeof(*s));
	struct err e = {{0}};
	if (mbox_msg_iter(fo, 1, UINT32_MAX, collect, s, &e) < 0)
		fail_msg("iter: %s", e.msg);
	return s;
}

/* Reads the whole message uid through mbox_msg_open. */
static char *read_msg(struct mbox_folder *fo, uint32_t uid)
{
	int fd;
	struct err e = {{0}};
	int rc = mbox_msg_open(fo, uid, &fd, &e);
	if (rc < 0)
		fail_msg("open: %s", e.msg);
	if (rc == 0)
		return NULL;
	char *b = xcalloc(1, 65536);
	ssize_t n = read(fd, b, 65535);
	close(fd);
	assert_true(n >= 0);
	return b;
}

/* Number of files in fo's directory sub ("new", "cur", "tmp"). */
static int count_files(struct mbox_folder *fo, const char *sub, char *first,
		       size_t firstsz)
{
	char *p = xasprintf("%s/%s", mbox_folder_path(fo), sub);
	DIR *d = opendir(p);
	free(p);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n++ == 0 && first)
			snprintf(first, firstsz, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* ---- tests -------------------------------------------------------------- */

static void open_creates(void **state)
{
	struct fx *f = *state;
	struct stat st;
	static const char *const subs[] = {"cur", "new", "tmp",
					   "posthorn.lmdb"};
	for (size_t i = 0; i < 4; i++) {
		char *p = xasprintf("%s/%s", f->path, subs[i]);
		assert_int_equal(stat(p, &st), 0);
		free(p);
	}
	struct mbox_status s = status(f->inbox);
	assert_true(s.uidvalidity > 0);
	assert_int_equal(s.uidnext, 1);
	assert_int_equal(s.exists, 0);
	assert_string_equal(mbox_folder_name(f->inbox), "INBOX");
	/* Opening again in this process gives the same handle. */
	struct mbox *again;
	struct err e = {{0}};
	assert_int_equal(mbox_open(&again, f->path, 0, &e), 1);
	assert_ptr_equal(again, f->mb);
	mbox_close(&again);
	/* No maildir, no MBOX_CREATE: 0. */
	char *none = xasprintf("%s/none", f->dir);
	assert_int_equal(mbox_open(&again, none, 0, &e), 0);
	free(none);
	struct mbox_folder *fo;
	assert_int_equal(mbox_folder_open(f->mb, "Nope", &fo, &e), 0);
	assert_int_equal(mbox_folder_open(f->mb, "a.b", &fo, &e), -1);
}

static void append_and_read(void **state)
{
	struct fx *f = *state;
	const char *texts[] = {"Subject: one\n\nbody 1\n",
			       "Subject: two\n\nbody\n2\n",
			       "Subject: three\r\n\r\nCRLF body\r\n"};
	for (int i = 0; i < 3; i++)
		assert_int_equal(append(f->inbox, texts[i], 0), i + 1);
	struct msgs *s = list(f->inbox);
	assert_int_equal(s->n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s->uid[i], i + 1);
		assert_int_equal(s->flags[i], 0);
		assert_int_equal(s->size[i], strlen(texts[i]));
		bool cr = false;
		assert_int_equal(s->vsize[i],
				 mbox_crlf_size(texts[i], strlen(texts[i]),
						&cr));
		char *b = read_msg(f->inbox, s->uid[i]);
		assert_string_equal(b, texts[i]);
		free(b);
	}
	assert_int_equal(count_files(f->inbox, "new", NULL, 0), 3);
	assert_int_equal(count_files(f->inbox, "tmp", NULL, 0), 0);
	struct mbox_status st = status(f->inbox);
	assert_int_equal(st.exists, 3);
	assert_int_equal(st.unseen, 3);
	assert_int_equal(st.uidnext, 4);
	assert_int_equal(st.highestmodseq, 4); /* starts at 1 */
	/* With flags and keywords: into cur/ with the letters. */
	const char *kw[] = {"$Label1", "Work"};
	struct mbox_part part = {"x\n", 2};
	struct mbox_new m = {.parts = &part, .nparts = 1,
			     .flags = MBOX_F_SEEN | MBOX_F_DRAFT,
			     .keywords = kw, .nkeywords = 2,
			     .internal_date = 1000000000, .tz_minutes = 120};
	uint32_t uid;
	struct err e = {{0}};
	assert_int_equal(mbox_append(f->inbox, &m, &uid, &e), 0);
	assert_int_equal(uid, 4);
	char name[256];
	assert_int_equal(count_files(f->inbox, "cur", name, sizeof(name)), 1);
	assert_non_null(strstr(name, ":2,DS"));
	free(s);
	s = list(f->inbox);
	assert_string_equal(s->kw[3], "$Label1 Work");
	assert_int_equal(status(f->inbox).unseen, 3);
	free(s);
	/* A bad keyword is refused before anything is written. */
	const char *bad[] = {"a b"};
	m.keywords = bad;
	m.nkeywords = 1;
	assert_int_equal(mbox_append(f->inbox, &m, &uid, &e), -1);
	assert_int_equal(count_files(f->inbox, "tmp", NULL, 0), 0);
}

/* A second mailbox beside the fixture's. */
static void open_other(struct fx *f, struct mbox **mb, struct mbox_folder **in)
{
	struct err e = {{0}};
	char *p = xasprintf("%s/other/Maildir", f->dir);
	if (mbox_open(mb, p, MBOX_CREATE, &e) != 1 ||
	    mbox_folder_open(*mb, "INBOX", in, &e) != 1)
		fail_msg("%s: %s", p, e.msg);
	free(p);
}

static void batch_many_mailboxes(void **state)
{
	struct fx *f = *state;
	struct mbox *mb2;
	struct mbox_folder *in2;
	struct err e = {{0}};
	open_other(f, &mb2, &in2);
	struct mbox_batch *b = mbox_batch_new();
	struct mbox_part hdr = {"Delivered-To: x\n", 16};
	struct mbox_part parts[2] = {hdr, {"Subject: s\n\nbody\n", 17}};
	struct mbox_new m = {.parts = parts, .nparts = 2};
	for (int i = 0; i < 6; i++)
		assert_int_equal(mbox_batch_add(b, i % 2 ? in2 : f->inbox, &m,
						NULL, &e),
				 i);
	assert_int_equal(mbox_batch_count(b), 6);
	uint32_t uid;
	assert_int_equal(mbox_batch_result(b, 0, &uid, NULL, &e), 0);
	assert_int_equal(mbox_batch_commit(b, NULL, NULL, &e), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(mbox_batch_result(b, (size_t)i, &uid, NULL,
						   &e),
				 1);
		assert_int_equal(uid, i / 2 + 1);
	}
	mbox_batch_free(&b);
	assert_int_equal(status(f->inbox).exists, 3);
	assert_int_equal(status(in2).exists, 3);
	char *text = read_msg(in2, 2);
	assert_string_equal(text, "Delivered-To: x\nSubject: s\n\nbody\n");
	free(text);
	/* Items never committed leave nothing behind. */
	b = mbox_batch_new();
	assert_int_equal(mbox_batch_add(b, in2, &m, NULL, &e), 0);
	assert_int_equal(count_files(in2, "tmp", NULL, 0), 1);
	mbox_batch_free(&b);
	assert_int_equal(count_files(in2, "tmp", NULL, 0), 0);
	mbox_folder_close(&in2);
	mbox_close(&mb2);
}

/* An owner callback that refuses one mailbox. */
static int owner_refuse(void *ctx, struct mbox *mb, bool enter,
			struct err *e)
{
	if (enter && mb == ctx) {
		err_set(e, "cannot become the owner");
		return -1;
	}
	return 0;
}

static void batch_owner_failure(void **state)
{
	struct fx *f = *state;
	struct mbox *mb2;
	struct mbox_folder *in2;
	struct err e = {{0}};
	open_other(f, &mb2, &in2);
	struct mbox_part part = {"a\n", 2};
	struct mbox_new m = {.parts = &part, .nparts = 1};
	struct mbox_batch *b = mbox_batch_new();
	assert_int_equal(mbox_batch_add(b, f->inbox, &m, NULL, &e), 0);
	assert_int_equal(mbox_batch_add(b, in2, &m, NULL, &e), 1);
	assert_int_equal(mbox_batch_commit(b, owner_refuse, mb2, &e), -1);
	uint32_t uid;
	assert_int_equal(mbox_batch_result(b, 0, &uid, NULL, &e), 1);
	assert_int_equal(mbox_batch_result(b, 1, &uid, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "owner"));
	mbox_batch_free(&b);
	assert_int_equal(count_files(in2, "tmp", NULL, 0), 0);
	assert_int_equal(count_files(in2, "new", NULL, 0), 0);
	mbox_folder_close(&in2);
	mbox_close(&mb2);
}

static void scan_foreign_files(void **state)
{
	struct fx *f = *state;
	append(f->inbox, "ours\n", 0);
	char *p = xasprintf("%s/new/1700000000.foreign1.host", f->path);
	write_file(p, "From: a\n\nforeign\n");
	free(p);
	p = xasprintf("%s/cur/1700000001.foreign2.host:2,RS", f->path);
	write_file(p, "x\r\ny\n");
	free(p);
	/* Not messages: dot files, directories, tmp/. */
	p = xasprintf("%s/new/.hidden", f->path);
	write_file(p, "no");
	free(p);
	p = xasprintf("%s/tmp/1700000002.intmp.host", f->path);
	write_file(p, "no");
	free(p);
	struct mbox_sync_result r;
	sync_folder(f->inbox, 0, &r);
	assert_int_equal(r.added, 2);
	assert_int_equal(r.expunged, 0);
	struct msgs *s = list(f->inbox);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->uid[1], 2);
	assert_string_equal(s->file[1], "1700000000.foreign1.host");
	assert_int_equal(s->size[1], 17);
	assert_int_equal(s->vsize[1], 20);
	assert_int_equal(s->uid[2], 3);
	assert_int_equal(s->flags[2], MBOX_F_ANSWERED | MBOX_F_SEEN);
	assert_int_equal(s->vsize[2], 6);
	free(s);
	/* A second sync finds nothing new. */
	sync_folder(f->inbox, MBOX_SYNC_FULL, &r);
	assert_int_equal(r.added + r.expunged + r.changed, 0);
	/* new/ to cur/ on request keeps the UIDs. */
	sync_folder(f->inbox, MBOX_SYNC_NEW_TO_CUR, &r);
	assert_int_equal(count_files(f->inbox, "new", NULL, 0), 0);
	assert_int_equal(count_files(f->inbox, "cur", NULL, 0), 3);
	s = list(f->inbox);
	assert_int_equal(s->n, 3);
	assert_int_equal(s->uid[2], 3);
	free(s);
	sync_folder(f->inbox, MBOX_SYNC_FULL, &r);
	assert_int_equal(r.added + r.expunged + r.changed, 0);
	char *b = read_msg(f->inbox, 2);
	assert_string_equal(b, "From: a\n\nforeign\n");
	free(b);
}

/* A crash after the rename into new/ and before the index commit leaves
 * a file without an entry: the next sync gives it a UID. */
static void crash_before_index(void **state)
{
	struct fx *f = *state;
	append(f->inbox, "one\n", 0);
	char base[256];
	assert_true(maildir_unique(base, sizeof(base), 4, 5) > 0);
	char *tmp = xasprintf("%s/tmp/%s", f->path, base);
	char *nw = xasprintf("%s/new/%s", f->path, base);
	write_file(tmp, "two\n");
	assert_int_equal(rename(tmp, nw), 0);
	struct mbox_sync_result r;
	sync_folder(f->inbox, 0, &r);
	assert_int_equal(r.added, 1);
	struct msgs *s = list(f->inbox);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->uid[1], 2);
	assert_int_equal(s->vsize[1], 5);
	free(s);
	free(tmp);
	free(nw);
}

static void flags_and_file_names(void **state)
{
	struct fx *f = *state;
	uint32_t uid = append(f->inbox, "m\n", 0);
	uint64_t ms0 = status(f->inbox).highestmodseq;
	struct mbox_store_req req = {.op = MBOX_STORE_ADD,
				     .flags = MBOX_F_SEEN | MBOX_F_FLAGGED};
	struct mbox_store_res res;
	struct err e = {{0}};
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &req, &res, &e), 0);
	assert_int_equal(res.status, MBOX_STORE_CHANGED);
	assert_int_equal(res.modseq, ms0 + 1);
	char name[256];
	assert_int_equal(count_files(f->inbox, "new", NULL, 0), 0);
	assert_int_equal(count_files(f->inbox, "cur", name, sizeof(name)), 1);
	assert_non_null(strstr(name, ":2,FS"));
	assert_int_equal(status(f->inbox).unseen, 0);
	/* The same again changes nothing. */
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &req, &res, &e), 0);
	assert_int_equal(res.status, MBOX_STORE_UNCHANGED);
	/* Keywords: add, case-insensitive duplicates, remove. */
	const char *kw[] = {"Work", "work", "$Junk"};
	struct mbox_store_req kreq = {.op = MBOX_STORE_ADD, .keywords = kw,
				      .nkeywords = 3};
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &kreq, &res, &e), 0);
	struct msgs *s = list(f->inbox);
	assert_string_equal(s->kw[0], "Work $Junk");
	free(s);
	kreq.op = MBOX_STORE_REMOVE;
	kreq.keywords = (const char *[]){"WORK"};
	kreq.nkeywords = 1;
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &kreq, &res, &e), 0);
	s = list(f->inbox);
	assert_string_equal(s->kw[0], "$Junk");
	assert_int_equal(s->flags[0], MBOX_F_SEEN | MBOX_F_FLAGGED);
	uint64_t ms = s->modseq[0];
	free(s);
	/* CONDSTORE: a stale UNCHANGEDSINCE is a conflict. */
	struct mbox_store_req creq = {.op = MBOX_STORE_SET,
				      .flags = MBOX_F_DELETED,
				      .unchanged_since = ms - 1};
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &creq, &res, &e), 0);
	assert_int_equal(res.status, MBOX_STORE_CONFLICT);
	creq.unchanged_since = ms;
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &creq, &res, &e), 0);
	assert_int_equal(res.status, MBOX_STORE_CHANGED);
	assert_int_equal(res.flags, MBOX_F_DELETED);
	/* SET with no keywords cleared them. */
	s = list(f->inbox);
	assert_string_equal(s->kw[0], "");
	free(s);
	/* An unknown UID is GONE. */
	uint32_t nouid = 99;
	assert_int_equal(mbox_store(f->inbox, &nouid, 1, &req, &res, &e), 0);
	assert_int_equal(res.status, MBOX_STORE_GONE);
	/* Another tool renames the file: flags follow, modseq grows. */
	assert_int_equal(count_files(f->inbox, "cur", name, sizeof(name)), 1);
	char *from = xasprintf("%s/cur/%s", f->path, name);
	char *colon = strrchr(name, ':');
	*colon = '\0';
	char *to = xasprintf("%s/cur/%s:2,Pa", f->path, name);
	assert_int_equal(rename(from, to), 0);
	uint64_t before = status(f->inbox).highestmodseq;
	struct mbox_sync_result r;
	sync_folder(f->inbox, 0, &r);
	assert_int_equal(r.changed, 1);
	s = list(f->inbox);
	assert_int_equal(s->flags[0], MBOX_F_PASSED);
	assert_int_equal(s->modseq[0], before + 1);
	free(s);
	/* The extra letter survives our next rename. */
	assert_int_equal(mbox_store(f->inbox, &uid, 1, &req, &res, &e), 0);
	assert_int_equal(count_files(f->inbox, "cur", name, sizeof(name)), 1);
	assert_non_null(strstr(name, ":2,FPSa"));
	char *b = read_msg(f->inbox, uid);
	assert_string_equal(b, "m\n");
	free(b);
	free(from);
	free(to);
}

struct exp_list {
	uint32_t uid[16];
	uint64_t modseq[16];
	size_t n;
};

static int collect_exp(void *ctx, uint32_t uid, uint64_t modseq)
{
	struct exp_list *x = ctx;
	x->uid[x->n] = uid;
	x->modseq[x->n++] = modseq;
	return 0;
}

/* A message callback for mbox_msg_changes when only expunges count:
 * any message reported fails the test. */
static int no_msg(void *ctx, const struct mbox_msg *m)
{
	(void)ctx;
	fail_msg("unexpected change of uid %u", m->uid);
	return 1;
}

static void expunge_and_changes(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 4; i++)
		append(f->inbox, "m\n", 0);
	uint64_t since = status(f->inbox).highestmodseq;
	uint32_t uids[] = {2, 3, 77};
	uint32_t done[3];
	size_t ndone;
	struct err e = {{0}};
	assert_int_equal(mbox_expunge(f->inbox, uids, 3, done, &ndone, &e), 0);
	assert_int_equal(ndone, 2);
	assert_int_equal(done[0], 2);
	assert_int_equal(done[1], 3);
	struct mbox_status st = status(f->inbox);
	assert_int_equal(st.exists, 2);
	assert_int_equal(st.uidnext, 5);
	assert_int_equal(count_files(f->inbox, "new", NULL, 0), 2);
	assert_null(read_msg(f->inbox, 2));
	/* The remaining messages did not change since; two expunges. */
	struct exp_list xs = {0};
	assert_int_equal(mbox_msg_changes(f->inbox, since, no_msg,
					  collect_exp, &xs, &e),
			 0);
	assert_int_equal(xs.n, 2);
	assert_int_equal(xs.uid[0], 2);
	assert_int_equal(xs.modseq[0], since + 1);
	assert_int_equal(xs.modseq[1], since + 2);
	/* A file deleted by another tool is expunged by the next sync. */
	struct msgs *s = list(f->inbox);
	char *p = xasprintf("%s/new/%s", f->path, s->file[0]);
	assert_int_equal(unlink(p), 0);
	struct mbox_sync_result r;
	sync_folder(f->inbox, 0, &r);
	assert_int_equal(r.expunged, 1);
	assert_int_equal(status(f->inbox).exists, 1);
	/* UIDs are never reused. */
	assert_int_equal(append(f->inbox, "new\n", 0), 5);
	free(s);
	free(p);
}

static void uids_survive_reopen(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 3; i++)
		append(f->inbox, "m\n", 0);
	uint32_t two = 2;
	struct err e = {{0}};
	assert_int_equal(mbox_expunge(f->inbox, &two, 1, NULL, NULL, &e), 0);
	struct mbox_status before = status(f->inbox);
	mbox_folder_close(&f->inbox);
	mbox_close(&f->mb);
	assert_int_equal(mbox_open(&f->mb, f->path, 0, &e), 1);
	assert_int_equal(mbox_folder_open(f->mb, "inbox", &f->inbox, &e), 1);
	struct mbox_status after = status(f->inbox);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.uidnext, 4);
	assert_int_equal(after.highestmodseq, before.highestmodseq);
	sync_folder(f->inbox, MBOX_SYNC_FULL, NULL);
	struct msgs *s = list(f->inbox);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->uid[0], 1);
	assert_int_equal(s->uid[1], 3);
	free(s);
	assert_int_equal(append(f->inbox, "m\n", 0), 4);
}

static void uidvalidity_rules(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	append(f->inbox, "a\n", 0);
	append(f->inbox, "b\n", 0);
	uint32_t v1 = status(f->inbox).uidvalidity;
	/* A new folder gets a UIDVALIDITY above every earlier one. */
	assert_int_equal(mbox_folder_create(f->mb, "Sent", MBOX_SU_SENT, &e),
			 1);
	assert_int_equal(mbox_folder_create(f->mb, "Sent", 0, &e), 0);
	struct mbox_folder *sent;
	assert_int_equal(mbox_folder_open(f->mb, "Sent", &sent, &e), 1);
	uint32_t v2 = status(sent).uidvalidity;
	assert_true(v2 > v1);
	assert_int_equal(status(sent).special_use, MBOX_SU_SENT);
	append(sent, "s\n", 0);
	mbox_folder_close(&sent);
	/* Deleted and made again: a new UIDVALIDITY, UIDs from 1. */
	assert_int_equal(mbox_folder_delete(f->mb, "Sent", &e), 1);
	assert_int_equal(mbox_folder_delete(f->mb, "Sent", &e), 0);
	assert_int_equal(mbox_folder_create(f->mb, "Sent", 0, &e), 1);
	assert_int_equal(mbox_folder_open(f->mb, "Sent", &sent, &e), 1);
	uint32_t v3 = status(sent).uidvalidity;
	assert_true(v3 > v2);
	assert_int_equal(status(sent).exists, 0);
	assert_int_equal(append(sent, "s\n", 0), 1);
	mbox_folder_close(&sent);
	/* The index is lost: rebuilt from the files with new
	 * UIDVALIDITYs, above every value given before. */
	mbox_folder_close(&f->inbox);
	mbox_close(&f->mb);
	char *idx = xasprintf("%s/posthorn.lmdb", f->path);
	char *lock = xasprintf("%s/posthorn.lmdb-lock", f->path);
	assert_int_equal(unlink(idx), 0);
	(void)unlink(lock);
	assert_int_equal(mbox_open(&f->mb, f->path, 0, &e), 1);
	assert_int_equal(mbox_folder_open(f->mb, "INBOX", &f->inbox, &e), 1);
	sync_folder(f->inbox, 0, NULL);
	struct mbox_status st = status(f->inbox);
	assert_true(st.uidvalidity > v3);
	assert_int_equal(st.exists, 2);
	free(idx);
	free(lock);
}

static void concurrent_writers(void **state)
{
	struct fx *f = *state;
	enum { CHILDREN = 4, EACH = 25 };
	pid_t pids[CHILDREN];
	for (int c = 0; c < CHILDREN; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] > 0)
			continue;
		/* Never use the parent's handle: open our own. */
		struct mbox *mb;
		struct mbox_folder *in;
		struct err e = {{0}};
		if (mbox_open(&mb, f->path, 0, &e) != 1 ||
		    mbox_folder_open(mb, "INBOX", &in, &e) != 1)
			_exit(1);
		for (int i = 0; i < EACH; i++) {
			char text[64];
			snprintf(text, sizeof(text), "child %d msg %d\n", c, i);
			struct mbox_part part = {text, strlen(text)};
			struct mbox_new m = {.parts = &part, .nparts = 1};
			uint32_t uid;
			if (mbox_append(in, &m, &uid, &e) < 0)
				_exit(2);
			/* Some of them scan meanwhile. */
			if (c % 2 && mbox_folder_sync(in, 0, NULL, &e) < 0)
				_exit(3);
		}
		mbox_folder_close(&in);
		mbox_close(&mb);
		_exit(0);
	}
	for (int c = 0; c < CHILDREN; c++) {
		int ws;
		assert_int_equal(waitpid(pids[c], &ws, 0), pids[c]);
		assert_true(WIFEXITED(ws));
		assert_int_equal(WEXITSTATUS(ws), 0);
	}
	sync_folder(f->inbox, MBOX_SYNC_FULL, NULL);
	struct msgs *s = list(f->inbox);
	assert_int_equal(s->n, CHILDREN * EACH);
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(s->uid[i], i + 1);
	assert_int_equal(status(f->inbox).uidnext, CHILDREN * EACH + 1);
	free(s);
}

struct names {
	char v[16][64];
	unsigned su[16];
	bool sub[16];
	size_t n;
};

static int collect_folder(void *ctx, const struct mbox_folder_info *fi)
{
	struct names *n = ctx;
	snprintf(n->v[n->n], sizeof(n->v[0]), "%s", fi->name);
	n->su[n->n] = fi->special_use;
	n->sub[n->n++] = fi->subscribed;
	return 0;
}

static int collect_name(void *ctx, const char *name)
{
	struct names *n = ctx;
	snprintf(n->v[n->n++], sizeof(n->v[0]), "%s", name);
	return 0;
}

static void folders(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	assert_int_equal(mbox_folder_create(f->mb, "Sent", MBOX_SU_SENT, &e),
			 1);
	assert_int_equal(mbox_folder_create(f->mb, "A", 0, &e), 1);
	assert_int_equal(mbox_folder_create(f->mb, "A/B", 0, &e), 1);
	assert_int_equal(mbox_folder_create(f->mb, "INBOX", 0, &e), 0);
	assert_int_equal(mbox_folder_create(f->mb, "x.y", 0, &e), -1);
	char *marker = xasprintf("%s/.A.B/maildirfolder", f->path);
	struct stat st;
	assert_int_equal(stat(marker, &st), 0);
	free(marker);
	/* A folder another tool made is listed and opened. */
	char *foreign = xasprintf("%s/.Foreign", f->path);
	assert_int_equal(maildir_make(foreign, true, false, &e), 0);
	free(foreign);
	assert_int_equal(mbox_subscribe(f->mb, "Sent", true, &e), 0);
	assert_int_equal(mbox_subscribe(f->mb, "Gone", true, &e), 0);
	assert_int_equal(mbox_subscribe(f->mb, "inbox", true, &e), 0);
	struct names n = {0};
	assert_int_equal(mbox_folder_list(f->mb, collect_folder, &n, &e), 0);
	assert_int_equal(n.n, 5);
	assert_string_equal(n.v[0], "INBOX");
	assert_true(n.sub[0]);
	assert_string_equal(n.v[1], "A");
	assert_string_equal(n.v[2], "A/B");
	assert_string_equal(n.v[3], "Foreign");
	assert_string_equal(n.v[4], "Sent");
	assert_int_equal(n.su[4], MBOX_SU_SENT);
	assert_true(n.sub[4]);
	assert_false(n.sub[1]);
	struct names subs = {0};
	assert_int_equal(mbox_subscriptions(f->mb, collect_name, &subs, &e), 0);
	assert_int_equal(subs.n, 3);
	assert_string_equal(subs.v[0], "Gone");
	assert_int_equal(mbox_subscribe(f->mb, "Gone", false, &e), 0);
	/* Rename takes the sub-folders along and keeps UIDVALIDITY. */
	struct mbox_folder *ab;
	assert_int_equal(mbox_folder_open(f->mb, "A/B", &ab, &e), 1);
	append(ab, "in a/b\n", 0);
	uint32_t v = status(ab).uidvalidity;
	mbox_folder_close(&ab);
	assert_int_equal(mbox_folder_rename(f->mb, "A", "C", &e), 1);
	assert_int_equal(mbox_folder_rename(f->mb, "A", "D", &e), 0);
	assert_int_equal(mbox_folder_rename(f->mb, "C", "Sent", &e), -1);
	assert_int_equal(mbox_folder_rename(f->mb, "C", "C/D", &e), -1);
	assert_int_equal(mbox_folder_open(f->mb, "A/B", &ab, &e), 0);
	assert_int_equal(mbox_folder_open(f->mb, "C/B", &ab, &e), 1);
	assert_int_equal(status(ab).uidvalidity, v);
	assert_int_equal(status(ab).exists, 1);
	char *b = read_msg(ab, 1);
	assert_string_equal(b, "in a/b\n");
	free(b);
	mbox_folder_close(&ab);
	/* Special use can change. */
	assert_int_equal(mbox_folder_set_special_use(f->mb, "C",
						     MBOX_SU_ARCHIVE, &e),
			 1);
	/* Delete leaves sub-folders. */
	assert_int_equal(mbox_folder_delete(f->mb, "C", &e), 1);
	assert_int_equal(mbox_folder_delete(f->mb, "INBOX", &e), -1);
	memset(&n, 0, sizeof(n));
	assert_int_equal(mbox_folder_list(f->mb, collect_folder, &n, &e), 0);
	assert_int_equal(n.n, 4);
	assert_string_equal(n.v[1], "C/B");
}

static void rename_inbox(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	for (int i = 0; i < 3; i++)
		append(f->inbox, "m\n", 0);
	assert_int_equal(mbox_folder_rename(f->mb, "INBOX", "Old", &e), 1);
	assert_int_equal(status(f->inbox).exists, 0);
	struct mbox_folder *old;
	assert_int_equal(mbox_folder_open(f->mb, "Old", &old, &e), 1);
	assert_int_equal(status(old).exists, 3);
	mbox_folder_close(&old);
	assert_int_equal(append(f->inbox, "m\n", 0), 4);
}

static void copy_and_move(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	append(f->inbox, "one\n", 0);
	append(f->inbox, "two\n", MBOX_F_SEEN);
	const char *kw[] = {"K"};
	struct mbox_store_req req = {.op = MBOX_STORE_ADD, .keywords = kw,
				     .nkeywords = 1};
	struct mbox_store_res res;
	uint32_t one = 1;
	assert_int_equal(mbox_store(f->inbox, &one, 1, &req, &res, &e), 0);
	assert_int_equal(mbox_folder_create(f->mb, "Archive", 0, &e), 1);
	struct mbox_folder *ar;
	assert_int_equal(mbox_folder_open(f->mb, "Archive", &ar, &e), 1);
	assert_int_equal(mbox_cache_put(f->inbox, 1, 7, "blob", 4, &e), 1);
	uint32_t uids[] = {1, 2, 9}, out[3];
	assert_int_equal(mbox_copy(f->inbox, uids, 3, ar, out, &e), 0);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);
	assert_int_equal(out[2], 0);
	struct msgs *s = list(ar);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->kw[0], "K");
	assert_int_equal(s->flags[1], MBOX_F_SEEN);
	free(s);
	char *b = read_msg(ar, 2);
	assert_string_equal(b, "two\n");
	free(b);
	unsigned ver;
	void *blob;
	size_t blen;
	assert_int_equal(mbox_cache_get(ar, 1, &ver, &blob, &blen, &e), 1);
	assert_int_equal(ver, 7);
	assert_int_equal(blen, 4);
	free(blob);
	assert_int_equal(status(f->inbox).exists, 2);
	/* Move: gone from the source, with an expunge record. */
	uint64_t since = status(f->inbox).highestmodseq;
	assert_int_equal(mbox_move(f->inbox, uids, 2, ar, out, &e), 0);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 4);
	assert_int_equal(status(f->inbox).exists, 0);
	assert_int_equal(status(ar).exists, 4);
	struct exp_list xs = {0};
	assert_int_equal(mbox_msg_changes(f->inbox, since, no_msg,
					  collect_exp, &xs, &e),
			 0);
	assert_int_equal(xs.n, 2);
	b = read_msg(ar, 4);
	assert_string_equal(b, "two\n");
	free(b);
	assert_int_equal(mbox_move(ar, uids, 1, ar, out, &e), -1);
	sync_folder(ar, MBOX_SYNC_FULL, NULL);
	sync_folder(f->inbox, MBOX_SYNC_FULL, NULL);
	assert_int_equal(status(ar).exists, 4);
	assert_int_equal(status(f->inbox).exists, 0);
	mbox_folder_close(&ar);
}

static void open_after_foreign_rename(void **state)
{
	struct fx *f = *state;
	uint32_t uid = append(f->inbox, "hello\n", 0);
	char name[256];
	assert_int_equal(count_files(f->inbox, "new", name, sizeof(name)), 1);
	char *from = xasprintf("%s/new/%s", f->path, name);
	char *to = xasprintf("%s/cur/%s:2,S", f->path, name);
	assert_int_equal(rename(from, to), 0);
	char *b = read_msg(f->inbox, uid); /* before any sync */
	assert_string_equal(b, "hello\n");
	free(b);
	free(from);
	free(to);
}

static void session_lock(void **state)
{
	struct fx *f = *state;
	int fd;
	struct err e = {{0}};
	assert_int_equal(mbox_lock_session(f->mb, &fd, &e), 1);
	pid_t pid = fork();
	if (pid == 0) {
		struct mbox *mb;
		int cfd;
		if (mbox_open(&mb, f->path, 0, &e) != 1)
			_exit(1);
		_exit(mbox_lock_session(mb, &cfd, &e) == 0 ? 0 : 2);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_int_equal(WEXITSTATUS(ws), 0);
	close(fd);
	assert_int_equal(mbox_lock_session(f->mb, &fd, &e), 1);
	close(fd);
}

static int builder(const void *msg, size_t len, struct buf *out)
{
	return buf_printf(out, "len=%zu first=%c", len, *(const char *)msg);
}

static void cache_builder(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	mbox_set_cache_builder(builder, 3);
	struct mbox_part parts[2] = {{"Xhdr\n", 5}, {"body\n", 5}};
	struct mbox_new m = {.parts = parts, .nparts = 2};
	uint32_t uid;
	assert_int_equal(mbox_append(f->inbox, &m, &uid, &e), 0);
	unsigned ver;
	void *blob;
	size_t len;
	assert_int_equal(mbox_cache_get(f->inbox, uid, &ver, &blob, &len, &e),
			 1);
	assert_int_equal(ver, 3);
	assert_memory_equal(blob, "len=10 first=X", len);
	free(blob);
	assert_int_equal(mbox_cache_put(f->inbox, uid, 4, "new", 3, &e), 1);
	assert_int_equal(mbox_cache_put(f->inbox, 99, 4, "new", 3, &e), 0);
	assert_int_equal(mbox_cache_get(f->inbox, 99, &ver, &blob, &len, &e),
			 0);
	assert_int_equal(mbox_cache_get(f->inbox, uid, &ver, &blob, &len, &e),
			 1);
	assert_int_equal(ver, 4);
	free(blob);
	uint32_t one = uid;
	assert_int_equal(mbox_expunge(f->inbox, &one, 1, NULL, NULL, &e), 0);
	assert_int_equal(mbox_cache_get(f->inbox, uid, &ver, &blob, &len, &e),
			 0);
}

static void recent(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	append(f->inbox, "a\n", 0);
	append(f->inbox, "b\n", 0);
	assert_int_equal(status(f->inbox).recent, 2);
	uint32_t first, end;
	assert_int_equal(mbox_folder_take_recent(f->inbox, &first, &end, &e),
			 0);
	assert_int_equal(first, 1);
	assert_int_equal(end, 3);
	assert_int_equal(status(f->inbox).recent, 0);
	append(f->inbox, "c\n", 0);
	assert_int_equal(status(f->inbox).recent, 1);
	assert_int_equal(mbox_folder_take_recent(f->inbox, &first, &end, &e),
			 0);
	assert_int_equal(first, 3);
	assert_int_equal(end, 4);
	assert_int_equal(mbox_folder_take_recent(f->inbox, &first, &end, &e),
			 0);
	assert_int_equal(first, end);
}

static void watch(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	int fd = mbox_watch_open(f->inbox, &e);
	assert_true(fd >= 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct mbox *mb;
		struct mbox_folder *in;
		if (mbox_open(&mb, f->path, 0, &e) != 1 ||
		    mbox_folder_open(mb, "INBOX", &in, &e) != 1)
			_exit(1);
		struct mbox_part part = {"x\n", 2};
		struct mbox_new m = {.parts = &part, .nparts = 1};
		uint32_t uid;
		_exit(mbox_append(in, &m, &uid, &e) == 0 ? 0 : 2);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_int_equal(poll(&p, 1, 1000), 1);
	mbox_watch_drain(fd);
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(status(f->inbox).exists, 1);
	close(fd);
}


/* The boot id as mbox_dirty.c names markers. */
static void read_boot_id(char *out, size_t outsz)
{
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "r");
	assert_non_null(fp);
	assert_non_null(fgets(out, (int)outsz, fp));
	fclose(fp);
	out[strcspn(out, "\n")] = '\0';
}

static void reopen(struct fx *f)
{
	struct err e = {{0}};
	mbox_folder_close(&f->inbox);
	mbox_close(&f->mb);
	if (mbox_open(&f->mb, f->path, 0, &e) != 1 ||
	    mbox_folder_open(f->mb, "INBOX", &f->inbox, &e) != 1)
		fail_msg("reopen: %s", e.msg);
}

/* The markers in dir: how many, and how many say clean. */
static void count_markers(const char *dir, int *all, int *clean)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	*all = *clean = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", dir, de->d_name);
		char c = 0;
		FILE *fp = fopen(p, "r");
		assert_non_null(fp);
		if (fread(&c, 1, 1, fp) != 1)
			c = 0;
		fclose(fp);
		(*all)++;
		if (c == 'C')
			(*clean)++;
		free(p);
	}
	closedir(d);
}

/* A batch leaves only a clean marker behind, gone at close; a dirty
 * marker of a dead process of this boot is flushed and removed without
 * touching the index, a clean one just removed. */
static void dirty_markers_same_boot(void **state)
{
	struct fx *f = *state;
	int all, clean;
	append(f->inbox, "a\n", 0);
	append(f->inbox, "b\n", 0);
	char *dir = xasprintf("%s/posthorn.dirty", f->path);
	count_markers(dir, &all, &clean); /* dir made by the batch */
	assert_int_equal(all, 1);
	assert_int_equal(clean, 1);
	reopen(f);
	count_markers(dir, &all, &clean);
	assert_int_equal(all, 0);
	uint32_t v = status(f->inbox).uidvalidity;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	char boot[64];
	read_boot_id(boot, sizeof(boot));
	char *marker = xasprintf("%s/%s.%ld", dir, boot, (long)pid);
	write_file(marker, "");
	reopen(f);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(status(f->inbox).uidvalidity, v);
	assert_int_equal(status(f->inbox).exists, 2);
	/* A clean marker of a dead process goes without a sync. */
	write_file(marker, "C");
	reopen(f);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(status(f->inbox).uidvalidity, v);
	/* A live process's marker is left alone. */
	free(marker);
	marker = xasprintf("%s/%s.%ld", dir, boot, (long)getppid());
	write_file(marker, "");
	reopen(f);
	assert_int_equal(access(marker, F_OK), 0);
	unlink(marker);
	free(marker);
	free(dir);
}

/* A marker from an earlier boot: relaxed commits may have been lost in
 * a crash, so the index is rebuilt with new UIDVALIDITYs. */
static void dirty_marker_after_crash(void **state)
{
	struct fx *f = *state;
	struct err e = {{0}};
	append(f->inbox, "a\n", 0);
	append(f->inbox, "b\n", MBOX_F_SEEN);
	assert_int_equal(mbox_folder_create(f->mb, "Sent", MBOX_SU_SENT, &e),
			 1);
	uint32_t v = status(f->inbox).uidvalidity;
	char *marker = xasprintf("%s/posthorn.dirty/an-earlier-boot.4242",
				 f->path);
	/* Clean: nothing was in flight, the index stays. */
	write_file(marker, "C");
	reopen(f);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(status(f->inbox).uidvalidity, v);
	write_file(marker, "D");
	reopen(f);
	assert_int_equal(access(marker, F_OK), -1);
	char *aside = xasprintf("%s/posthorn.lmdb.crashed", f->path);
	assert_int_equal(access(aside, F_OK), 0);
	sync_folder(f->inbox, 0, NULL);
	struct mbox_status st = status(f->inbox);
	assert_true(st.uidvalidity > v);
	assert_int_equal(st.exists, 2);
	struct msgs *s = list(f->inbox);
	assert_int_equal(s->flags[1], MBOX_F_SEEN); /* from the file name */
	free(s);
	struct mbox_folder *sent;
	assert_int_equal(mbox_folder_open(f->mb, "Sent", &sent, &e), 1);
	assert_true(status(sent).uidvalidity > v);
	mbox_folder_close(&sent);
	free(marker);
	free(aside);
}

/* An index that is not an LMDB file any more is rebuilt, not fatal. */
static void damaged_index(void **state)
{
	struct fx *f = *state;
	append(f->inbox, "a\n", 0);
	uint32_t v = status(f->inbox).uidvalidity;
	mbox_folder_close(&f->inbox);
	mbox_close(&f->mb);
	char *idx = xasprintf("%s/posthorn.lmdb", f->path);
	write_file(idx, "this is not an LMDB file, not at all, no");
	free(idx);
	reopen(f);
	sync_folder(f->inbox, 0, NULL);
	assert_true(status(f->inbox).uidvalidity > v);
	assert_int_equal(status(f->inbox).exists, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(open_creates),	 T(append_and_read),
		T(batch_many_mailboxes), T(batch_owner_failure),
		T(scan_foreign_files),	 T(crash_before_index),
		T(flags_and_file_names), T(expunge_and_changes),
		T(uids_survive_reopen),	 T(uidvalidity_rules),
		T(concurrent_writers),	 T(folders),
		T(rename_inbox),	 T(copy_and_move),
		T(open_after_foreign_rename), T(session_lock),
		T(cache_builder),	 T(recent),
		T(watch),		 T(dirty_markers_same_boot),
		T(dirty_marker_after_crash), T(damaged_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
