/* SPDX-License-Identifier: MIT */
/*
 * mbox_deliver.c - the mailbox store's delivery path, measured
 *
 *   mbox_deliver DIR SECONDS
 *
 * Prints messages/s for 1 KB messages delivered with mbox_batch_* in
 * batches of 64 (local_batch_size's default), into one mailbox and spread
 * over 64 mailboxes, and by 8 processes in parallel with one message per
 * batch (local serving single-recipient requests), beside the floor: one
 * fsync'd file create per message, what a maildir writer that syncs each
 * message pays (DESIGN.md "The performance budget").
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mbox.h"
#include "common/xalloc.h"

#define BATCH 64
#define BOXES 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char msg[1024];

static double floor_rate(const char *dir, double secs)
{
	char *d = xasprintf("%s/floor", dir);
	(void)mkdir(d, 0700);
	double t0 = now(), t;
	long n = 0;
	while ((t = now()) - t0 < secs) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%ld", d, n);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, msg, sizeof(msg)) != sizeof(msg) ||
		    fsync(fd) < 0) {
			perror(p);
			exit(1);
		}
		close(fd);
		n++;
	}
	free(d);
	return (double)n / (t - t0);
}

static double deliver_rate(const char *dir, const char *name, int nboxes,
			   int batch, double secs)
{
	struct mbox *mb[BOXES];
	struct mbox_folder *in[BOXES];
	struct err e = {{0}};
	for (int i = 0; i < nboxes; i++) {
		char *p = xasprintf("%s/%s/box%d", dir, name, i);
		if (mbox_open(&mb[i], p, MBOX_CREATE, &e) != 1 ||
		    mbox_folder_open(mb[i], "INBOX", &in[i], &e) != 1) {
			fprintf(stderr, "%s: %s\n", p, e.msg);
			exit(1);
		}
		free(p);
	}
	struct mbox_part part = {msg, sizeof(msg)};
	struct mbox_new m = {.parts = &part, .nparts = 1};
	double t0 = now(), t;
	long n = 0;
	while ((t = now()) - t0 < secs) {
		struct mbox_batch *b = mbox_batch_new();
		for (int i = 0; i < batch; i++)
			if (mbox_batch_add(b, in[(n + i) % nboxes], &m, NULL,
					   &e) < 0) {
				fprintf(stderr, "add: %s\n", e.msg);
				exit(1);
			}
		if (mbox_batch_commit(b, NULL, NULL, &e) < 0) {
			fprintf(stderr, "commit: %s\n", e.msg);
			exit(1);
		}
		mbox_batch_free(&b);
		n += batch;
	}
	for (int i = 0; i < nboxes; i++) {
		mbox_folder_close(&in[i]);
		mbox_close(&mb[i]);
	}
	return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mbox_deliver DIR SECONDS\n");
		return 2;
	}
	double secs = atof(argv[2]);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	double fl = floor_rate(argv[1], secs);
	printf("floor: one fsync'd 1 KB file per message: %.0f msg/s\n", fl);
	double one = deliver_rate(argv[1], "one", 1, BATCH, secs);
	printf("mbox batch of %d into 1 mailbox:   %.0f msg/s (%.1fx floor)\n",
	       BATCH, one, one / fl);
	double many = deliver_rate(argv[1], "many", BOXES, BATCH, secs);
	printf("mbox batch of %d into %d mailboxes: %.0f msg/s (%.1fx floor)\n",
	       BATCH, BOXES, many, many / fl);
	/* 8 processes, one message per batch, each into its own 8 boxes. */
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	for (int p = 0; p < 8; p++) {
		if (fork() != 0)
			continue;
		char name[16];
		snprintf(name, sizeof(name), "par%d", p);
		double r = deliver_rate(argv[1], name, 8, 1, secs);
		if (write(pfd[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	double total = 0, r;
	for (int p = 0; p < 8; p++) {
		wait(NULL);
		if (read(pfd[0], &r, sizeof(r)) == sizeof(r))
			total += r;
	}
	printf("8 processes, 1 message per batch:  %.0f msg/s (%.1fx floor)\n",
	       total, total / fl);
	return 0;
}
