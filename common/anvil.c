/* SPDX-License-Identifier: MIT */
/*
 * anvil.c - per-client session counts and failure history, shared by file
 *
 * Layout of the file (mapped MAP_SHARED by every process using it):
 *   [header 64 bytes][slot tags][slot records][failure records]
 * A record is a key (kind, length, bytes, its hash) plus a count and a
 * time. A slot's tag repeats its key's hash (0: free), so counting the
 * sessions of a key reads 4 bytes per slot, not a record per slot.
 *
 * A session slot belongs to the handle holding an OFD write lock on the
 * first byte of its record; the holder writes its key there and clears
 * it when the session leaves. The sessions of a key are the slots
 * carrying the key whose lock is held: a dead process's lock is gone, so
 * what it left in its slot is not counted once checked (always before a
 * refusal) and is overwritten by the next taker. No cleanup pass is ever
 * needed, and no process can leak a slot.
 *
 * Every change (taking, leaving, failures) happens under an OFD lock on
 * the header's first byte; a process that dies holding it releases it
 * too, leaving at most one half-written record: a slot nobody holds, or
 * a failure count that is slightly off. Failures are an open-addressed
 * table keyed by hash, probing a few entries; a full window recycles a
 * free entry, else the one with the oldest failure.
 *
 * Not here: what a limit or a delay means for a protocol (the servers).
 */
#include "common/anvil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/xalloc.h"

#define HEADER 64
#define MAGIC "phanvil1"
#define DEFAULT_SLOTS 16384
#define DEFAULT_FAILS 1024
#define DEFAULT_DECAY 600
#define MAX_RECORDS (1u << 20)
#define FAIL_PROBE 8

struct header {
	char magic[8];
	uint32_t slots, fails, rec_size;
};

struct rec {
	uint32_t hash;
	uint8_t kind; /* 0: free */
	uint8_t len;
	uint16_t pad;
	uint32_t count; /* failures (failure records) */
	uint32_t pid;   /* holder (slots), for whoever reads the file */
	int64_t when;   /* slot: entered; failure: last one, after decay */
	unsigned char key[ANVIL_KEY_MAX + 1];
};

struct anvil {
	int fd;
	pid_t pid; /* the process whose locks these are */
	unsigned char *map;
	size_t size;
	unsigned slots, fails;
	long decay;
	time_t (*clock)(void);
	unsigned char *mine; /* slots this handle holds */
};

/* ---- keys ----------------------------------------------------------- */

int anvil_key_addr(struct anvil_key *k, const char *addr)
{
	unsigned char v4[4];
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET6, addr, k->data) == 1) {
		k->kind = ANVIL_KEY_ADDR;
		k->len = 16;
		return 0;
	}
	if (inet_pton(AF_INET, addr, v4) != 1) {
		memset(k, 0, sizeof(*k));
		return -1;
	}
	k->kind = ANVIL_KEY_ADDR;
	k->len = 16;
	k->data[10] = k->data[11] = 0xff;
	memcpy(k->data + 12, v4, 4);
	return 0;
}

int anvil_key_name(struct anvil_key *k, const char *name, size_t len)
{
	memset(k, 0, sizeof(*k));
	if (len > ANVIL_KEY_MAX)
		return -1;
	k->kind = ANVIL_KEY_NAME;
	k->len = (unsigned char)len;
	memcpy(k->data, name, len);
	return 0;
}

/* Never 0, the tag of a free slot. */
static uint32_t key_hash(const struct anvil_key *k)
{
	uint32_t h = 2166136261u ^ k->kind;
	for (unsigned i = 0; i < k->len; i++)
		h = (h ^ k->data[i]) * 16777619u;
	return h ? h : 1;
}

static bool rec_is(const struct rec *r, const struct anvil_key *k, uint32_t h)
{
	return r->kind == k->kind && r->hash == h && r->len == k->len &&
	       memcmp(r->key, k->data, k->len) == 0;
}

static void rec_set(struct rec *r, const struct anvil_key *k, uint32_t h)
{
	memset(r, 0, sizeof(*r));
	r->hash = h;
	r->kind = k->kind;
	r->len = k->len;
	memcpy(r->key, k->data, k->len);
}

/* ---- the file and its locks ------------------------------------------ */

static uint32_t *tag_at(struct anvil *t, unsigned i)
{
	return (uint32_t *)(t->map + HEADER) + i;
}

static size_t records_off(const struct anvil *t)
{
	size_t tags = (size_t)t->slots * sizeof(uint32_t);
	return HEADER + (tags + 63) / 64 * 64;
}

static struct rec *slot_at(struct anvil *t, unsigned i)
{
	return (struct rec *)(t->map + records_off(t)) + i;
}

static struct rec *fail_at(struct anvil *t, unsigned i)
{
	return (struct rec *)(t->map + records_off(t)) + t->slots + i;
}

/* The byte whose lock is slot i. */
static off_t slot_off(const struct anvil *t, unsigned i)
{
	return (off_t)(records_off(t) + (size_t)i * sizeof(struct rec));
}

static void slot_clear(struct anvil *t, unsigned i)
{
	*tag_at(t, i) = 0;
	memset(slot_at(t, i), 0, sizeof(struct rec));
}

/* F_OFD_GETLK: 1 locked by another description, 0 not, -1 error. */
static int lock_op(int fd, int cmd, short type, off_t off)
{
	struct flock fl = {.l_type = type,
	                   .l_whence = SEEK_SET,
	                   .l_start = off,
	                   .l_len = 1};
	int rc;
	do
		rc = fcntl(fd, cmd, &fl);
	while (rc < 0 && errno == EINTR);
	if (rc == 0 && cmd == F_OFD_GETLK)
		return fl.l_type == F_UNLCK ? 0 : 1;
	return rc;
}

static int table_lock(struct anvil *t)
{
	/* An inherited handle shares its locks with the parent: a bug. */
	ASSERT(t->pid == getpid());
	return lock_op(t->fd, F_OFD_SETLKW, F_WRLCK, 0);
}

static void table_unlock(struct anvil *t)
{
	(void)lock_op(t->fd, F_OFD_SETLK, F_UNLCK, 0);
}

/* Anything to do: a table and a key. */
static bool usable(const struct anvil *t, const struct anvil_key *k)
{
	return t && k->kind;
}

static time_t now(const struct anvil *t)
{
	return t->clock ? t->clock() : time(NULL);
}

/* Under the header lock: a file with another layout (or a new one) is
 * reset. Records of processes still using the old layout are lost. */
static void check_layout(struct anvil *t)
{
	struct header *h = (struct header *)t->map;
	if (memcmp(h->magic, MAGIC, 8) == 0 && h->slots == t->slots &&
	    h->fails == t->fails && h->rec_size == sizeof(struct rec))
		return;
	memset(t->map, 0, t->size);
	h->slots = t->slots;
	h->fails = t->fails;
	h->rec_size = (uint32_t)sizeof(struct rec);
	memcpy(h->magic, MAGIC, 8);
}

static int map_file(struct anvil *t, const char *path, struct err *e)
{
	struct stat sb;
	if (table_lock(t) < 0) {
		err_set(e, "lock %s: %s", path, strerror(errno));
		return -1;
	}
	/* Grow only: shrinking would fault processes mapping more. */
	if (fstat(t->fd, &sb) < 0 || ((size_t)sb.st_size < t->size &&
	                              ftruncate(t->fd, (off_t)t->size) < 0)) {
		err_set(e, "size %s: %s", path, strerror(errno));
		table_unlock(t);
		return -1;
	}
	void *m = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd,
	               0);
	if (m == MAP_FAILED) {
		err_set(e, "mmap %s: %s", path, strerror(errno));
		table_unlock(t);
		return -1;
	}
	t->map = m;
	check_layout(t);
	table_unlock(t);
	return 0;
}

int anvil_open(const char *path, const struct anvil_opts *o, struct anvil **out,
               struct err *e)
{
	static const struct anvil_opts defaults;
	if (!o)
		o = &defaults;
	*out = NULL;
	struct anvil *t = xcalloc(1, sizeof(*t));
	t->pid = getpid();
	t->slots = o->slots ? o->slots : DEFAULT_SLOTS;
	t->fails = o->fails ? o->fails : DEFAULT_FAILS;
	t->decay = o->fail_decay > 0 ? o->fail_decay : DEFAULT_DECAY;
	t->clock = o->clock;
	if (t->slots > MAX_RECORDS || t->fails > MAX_RECORDS) {
		err_set(e, "%s: table too large", path);
		free(t);
		return -1;
	}
	t->size = records_off(t) +
	          ((size_t)t->slots + t->fails) * sizeof(struct rec);
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (t->fd < 0) {
		err_set(e, "open %s: %s", path, strerror(errno));
		free(t);
		return -1;
	}
	if (map_file(t, path, e) < 0) {
		close(t->fd);
		free(t);
		return -1;
	}
	t->mine = xcalloc(t->slots, 1);
	*out = t;
	return 0;
}

struct anvil *anvil_open_family(const char *name)
{
	struct anvil_opts o = {.fail_decay = params->auth_failure_decay_time};
	struct anvil *t;
	struct err e;
	char *path =
	        xasprintf("%s/pid/%s.clients", params->queue_directory, name);
	if (anvil_open(path, &o, &t, &e) < 0) {
		log_warn("%s; per-client limits are off", e.msg);
		t = NULL;
	}
	free(path);
	return t;
}

void anvil_close(struct anvil **tp)
{
	struct anvil *t = *tp;
	if (!t)
		return;
	/* Closing the descriptor drops every lock, hence every slot. */
	munmap(t->map, t->size);
	close(t->fd);
	free(t->mine);
	free(t);
	*tp = NULL;
}

/* ---- sessions ------------------------------------------------------- */

/*
 * Under the header lock: the slots carrying key. Only a process that
 * died without leaving leaves its key behind, so the keys alone are
 * almost always right; with verify, each one's lock is checked (one
 * system call per slot, each walking the file's lock list) and the
 * records of dead holders are cleared. Nobody can be taking such a slot
 * meanwhile: takers hold the header lock too.
 */
static int count_sessions(struct anvil *t, const struct anvil_key *k,
                          uint32_t h, bool verify)
{
	int n = 0;
	for (unsigned i = 0; i < t->slots; i++) {
		if (*tag_at(t, i) != h || !rec_is(slot_at(t, i), k, h))
			continue;
		/* Our own locks never conflict with us: count them apart. */
		if (!verify || t->mine[i] ||
		    lock_op(t->fd, F_OFD_GETLK, F_WRLCK, slot_off(t, i)) == 1)
			n++;
		else
			slot_clear(t, i);
	}
	return n;
}

/* Under the header lock: locks a free slot; its index, or -1. Starting
 * at a place that depends on the pid keeps processes from all trying the
 * same busy slots first. */
static int take_slot(struct anvil *t)
{
	unsigned start = (unsigned)getpid() * 2654435761u % t->slots;
	for (unsigned k = 0; k < t->slots; k++) {
		unsigned i = (start + k) % t->slots;
		if (t->mine[i])
			continue;
		if (lock_op(t->fd, F_OFD_SETLK, F_WRLCK, slot_off(t, i)) == 0)
			return (int)i;
		if (errno != EAGAIN && errno != EACCES)
			return -1;
	}
	return -1;
}

int anvil_enter(struct anvil *t, const struct anvil_key *k, unsigned limit,
                int *slot_out)
{
	*slot_out = -1;
	if (!usable(t, k) || table_lock(t) < 0)
		return 0;
	uint32_t h = key_hash(k);
	/* A refusal must not be caused by a crashed process: verify then. */
	int n = count_sessions(t, k, h, false) + 1;
	if (limit > 0 && (unsigned)n > limit)
		n = count_sessions(t, k, h, true) + 1;
	if (limit == 0 || (unsigned)n <= limit) {
		int i = take_slot(t);
		if (i < 0) {
			n = -1;
		} else {
			struct rec *r = slot_at(t, (unsigned)i);
			rec_set(r, k, h);
			r->pid = (uint32_t)getpid();
			r->when = (int64_t)now(t);
			*tag_at(t, (unsigned)i) = h;
			t->mine[i] = 1;
			*slot_out = i;
		}
	}
	table_unlock(t);
	return n;
}

void anvil_leave(struct anvil *t, int *slot)
{
	if (!t || *slot < 0)
		return;
	unsigned i = (unsigned)*slot;
	ASSERT(i < t->slots && t->mine[i]);
	/* Cleared under the header lock, so a counter never sees the key
	 * of a slot somebody else has just taken. */
	bool locked = table_lock(t) == 0;
	slot_clear(t, i);
	(void)lock_op(t->fd, F_OFD_SETLK, F_UNLCK, slot_off(t, i));
	if (locked)
		table_unlock(t);
	t->mine[i] = 0;
	*slot = -1;
}

int anvil_sessions(struct anvil *t, const struct anvil_key *k)
{
	if (!usable(t, k) || table_lock(t) < 0)
		return 0;
	int n = count_sessions(t, k, key_hash(k), true);
	table_unlock(t);
	return n;
}

/* ---- failures ------------------------------------------------------- */

/* Forgets one failure per full decay interval since the last one. */
static void decay(struct anvil *t, struct rec *f, int64_t at)
{
	if (!f->kind)
		return;
	if (at < f->when) { /* the clock went back */
		f->when = at;
		return;
	}
	int64_t steps = (at - f->when) / t->decay;
	if (steps >= (int64_t)f->count) {
		memset(f, 0, sizeof(*f));
		return;
	}
	f->count -= (uint32_t)steps;
	f->when += steps * t->decay;
}

/*
 * Under the header lock: key's failure record, decayed to time at. Not
 * found: NULL, or with create a recycled record (free, else the one
 * with the oldest failure in the probe window) set to key, count 0.
 */
static struct rec *fail_find(struct anvil *t, const struct anvil_key *k,
                             int64_t at, bool create)
{
	uint32_t h = key_hash(k);
	struct rec *victim = NULL;
	for (unsigned p = 0; p < FAIL_PROBE && p < t->fails; p++) {
		struct rec *f = fail_at(t, (h + p) % t->fails);
		decay(t, f, at);
		if (rec_is(f, k, h))
			return f;
		if (!victim ||
		    (victim->kind && (!f->kind || f->when < victim->when)))
			victim = f;
	}
	if (!create)
		return NULL;
	rec_set(victim, k, h);
	victim->when = at;
	return victim;
}

unsigned anvil_fail(struct anvil *t, const struct anvil_key *k)
{
	if (!usable(t, k) || table_lock(t) < 0)
		return 0;
	int64_t at = (int64_t)now(t);
	struct rec *f = fail_find(t, k, at, true);
	if (f->count < UINT32_MAX)
		f->count++;
	f->when = at;
	unsigned n = f->count;
	table_unlock(t);
	return n;
}

unsigned anvil_failures(struct anvil *t, const struct anvil_key *k)
{
	if (!usable(t, k) || table_lock(t) < 0)
		return 0;
	struct rec *f = fail_find(t, k, (int64_t)now(t), false);
	unsigned n = f ? f->count : 0;
	table_unlock(t);
	return n;
}

void anvil_fail_clear(struct anvil *t, const struct anvil_key *k)
{
	if (!usable(t, k) || table_lock(t) < 0)
		return;
	struct rec *f = fail_find(t, k, (int64_t)now(t), false);
	if (f)
		memset(f, 0, sizeof(*f));
	table_unlock(t);
}

long anvil_fail_delay(unsigned n, long step, long max)
{
	if (step <= 0 || n == 0)
		return 0;
	if ((long)n > max / step)
		return max;
	return step * (long)n;
}
