/* SPDX-License-Identifier: MIT */
/*
 * smtpd_conn.c - per-client counters shared by all smtpd processes
 *
 * Layout of queue_directory/pid/smtpd.clients (mapped MAP_SHARED):
 *   [header 64 bytes][SLOTS session slots][FAILS auth-failure entries]
 * A session slot belongs to the process holding an OFD write lock on
 * its first byte; the process keeps that lock (and slot) for its whole
 * life and writes its current client's address into it. Counting the
 * sessions of an address = counting slots with that address whose lock
 * is held. The kernel drops a dead process's locks, so a crash leaves at
 * most a stale address in a slot nobody holds, which is not counted:
 * the table needs no cleanup and is right after any crash or restart.
 * Updates happen under an OFD lock on the header's first byte.
 *
 * Auth-failure entries are a small open-addressed table keyed by address
 * (a full table forgets the oldest entry); counts older than an hour are
 * forgotten. They only slow attackers down, so losing one is harmless.
 */
#include "smtpd_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/xalloc.h"

#define SLOTS 4096
#define FAILS 1024
#define FAIL_PROBE 8
#define FAIL_FORGET 3600 /* seconds */
#define HEADER 64

struct slot {
	unsigned char addr[16]; /* all zero: free */
	uint32_t pid;
	uint32_t pad;
	int64_t since;
};

struct fail {
	unsigned char addr[16];
	uint32_t count;
	uint32_t pad;
	int64_t last;
};

#define TABLE_SIZE                                                            \
	(HEADER + SLOTS * sizeof(struct slot) + FAILS * sizeof(struct fail))

static int fd = -1;
static unsigned char *map;
static long my_slot = -1;

static struct slot *slot_at(long i)
{
	return (struct slot *)(map + HEADER) + i;
}

static struct fail *fail_at(size_t i)
{
	return (struct fail *)(map + HEADER + SLOTS * sizeof(struct slot)) + i;
}

static off_t slot_off(long i)
{
	return (off_t)(HEADER + (size_t)i * sizeof(struct slot));
}

static int lock(int cmd, short type, off_t off)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET,
			   .l_start = off, .l_len = 1};
	int rc;
	do
		rc = fcntl(fd, cmd, &fl);
	while (rc < 0 && errno == EINTR);
	if (rc == 0 && cmd == F_OFD_GETLK)
		return fl.l_type == F_UNLCK ? 0 : 1;
	return rc;
}

void smtpd_conn_open(void)
{
	char *path = xasprintf("%s/pid/smtpd.clients", params->queue_directory);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("open %s: %s; per-client limits are off", path,
			 strerror(errno));
		free(path);
		return;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 ||
	    ((size_t)sb.st_size != TABLE_SIZE &&
	     ftruncate(fd, (off_t)TABLE_SIZE) < 0)) {
		log_warn("size %s: %s; per-client limits are off", path,
			 strerror(errno));
		goto fail;
	}
	map = mmap(NULL, TABLE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (map == MAP_FAILED) {
		map = NULL;
		log_warn("mmap %s: %s; per-client limits are off", path,
			 strerror(errno));
		goto fail;
	}
	free(path);
	return;
fail:
	free(path);
	close(fd);
	fd = -1;
}

static bool addr_key(const char *addr, unsigned char out[16])
{
	unsigned char v4[4];
	memset(out, 0, 16);
	if (inet_pton(AF_INET6, addr, out) == 1)
		return true;
	if (inet_pton(AF_INET, addr, v4) != 1)
		return false;
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
	return true;
}

static bool key_zero(const unsigned char k[16])
{
	static const unsigned char z[16];
	return memcmp(k, z, 16) == 0;
}

/* Takes a slot for this process's life. */
static bool take_slot(void)
{
	if (my_slot >= 0)
		return true;
	long start = (long)(getpid() % SLOTS);
	for (long k = 0; k < SLOTS; k++) {
		long i = (start + k) % SLOTS;
		if (lock(F_OFD_SETLK, F_WRLCK, slot_off(i)) == 0) {
			my_slot = i;
			return true;
		}
	}
	return false;
}

int smtpd_conn_enter(const char *addr)
{
	unsigned char key[16];
	if (!map || !addr_key(addr, key))
		return 0;
	if (lock(F_OFD_SETLKW, F_WRLCK, 0) < 0)
		return 0;
	int n = -1;
	if (take_slot()) {
		n = 1;
		for (long i = 0; i < SLOTS; i++) {
			if (i == my_slot ||
			    memcmp(slot_at(i)->addr, key, 16) != 0)
				continue;
			if (lock(F_OFD_GETLK, F_WRLCK, slot_off(i)) == 1)
				n++;
		}
		struct slot *me = slot_at(my_slot);
		memcpy(me->addr, key, 16);
		me->pid = (uint32_t)getpid();
		me->since = (int64_t)time(NULL);
	}
	(void)lock(F_OFD_SETLK, F_UNLCK, 0);
	return n;
}

void smtpd_conn_leave(void)
{
	if (!map || my_slot < 0)
		return;
	memset(slot_at(my_slot)->addr, 0, 16);
}

/* The entry for key (found or recycled), under the header lock. */
static struct fail *fail_entry(const unsigned char key[16], bool create)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	struct fail *victim = NULL;
	for (int k = 0; k < FAIL_PROBE; k++) {
		struct fail *f = fail_at((h + (unsigned)k) % FAILS);
		if (memcmp(f->addr, key, 16) == 0)
			return f;
		/* Recycle a free entry, else the oldest. */
		if (key_zero(f->addr)) {
			if (!victim || !key_zero(victim->addr))
				victim = f;
		} else if (!victim || (!key_zero(victim->addr) &&
				       f->last < victim->last))
			victim = f;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->addr, key, 16);
	return victim;
}

unsigned smtpd_conn_auth_failed(const char *addr)
{
	unsigned char key[16];
	if (!map || !addr_key(addr, key) ||
	    lock(F_OFD_SETLKW, F_WRLCK, 0) < 0)
		return 1;
	struct fail *f = fail_entry(key, true);
	int64_t now = (int64_t)time(NULL);
	if (now - f->last > FAIL_FORGET)
		f->count = 0;
	if (f->count < UINT32_MAX)
		f->count++;
	f->last = now;
	unsigned n = f->count;
	(void)lock(F_OFD_SETLK, F_UNLCK, 0);
	return n;
}

void smtpd_conn_auth_ok(const char *addr)
{
	unsigned char key[16];
	if (!map || !addr_key(addr, key) ||
	    lock(F_OFD_SETLKW, F_WRLCK, 0) < 0)
		return;
	struct fail *f = fail_entry(key, false);
	if (f)
		memset(f, 0, sizeof(*f));
	(void)lock(F_OFD_SETLK, F_UNLCK, 0);
}
