/* SPDX-License-Identifier: MIT */
/*
 * ipc.c - the IPC attribute protocol: codec, connections, blocking client
 *
 * Responsible for the wire format of ipc.h (length-prefixed name=value
 * records ending in an empty record), for every limit on it, and for
 * moving messages over a UNIX stream socket, non-blocking (ipc_conn, for
 * event-loop daemons) or with timeouts (ipc_client). Not responsible for
 * what attributes mean: proto_<service>.h and the daemons decide that.
 *
 * Every message has two views kept in step: `wire`, the encoded records
 * (what goes to a peer), and `attrs`, the index the getters read, whose
 * names and values are NUL-terminated copies in the `store` arena, so
 * they never move until the message is reset. Decoding validates the
 * whole message before touching m: a rejected message is never partially
 * visible. Codec and sockets share one file because ipc_conn_next() keeps
 * the decoder's private progress (struct ipc_scan) between reads: without
 * it a peer trickling one byte at a time would make us rescan its message
 * per byte.
 */
#include "common/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/str.h"
#include "common/xalloc.h"

/* The wire buffer leaves room for the terminator within IPC_MSG_MAX. */
#define WIRE_MAX (IPC_MSG_MAX - 4)

void ipc_msg_init(struct ipc_msg *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->wire, WIRE_MAX);
}

void ipc_msg_deinit(struct ipc_msg *m)
{
	buf_deinit(&m->wire);
	free(m->attrs);
	arena_free(&m->store);
	ipc_msg_init(m);
}

void ipc_msg_reset(struct ipc_msg *m)
{
	buf_reset(&m->wire);
	m->nattrs = 0;
	if (m->store)
		arena_reset(m->store);
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool name_valid(const char *name, size_t len)
{
	if (len == 0 || len > IPC_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)name[i]))
			return false;
	return true;
}

static void attrs_reserve(struct ipc_msg *m, size_t n)
{
	if (n <= m->cap)
		return;
	size_t cap = m->cap ? m->cap : 16;
	while (cap < n)
		cap *= 2;
	/* cap <= 2 * IPC_ATTR_MAX: the product cannot overflow. */
	m->attrs = xrealloc(m->attrs, cap * sizeof(*m->attrs));
	m->cap = cap;
}

static char *store_alloc(struct ipc_msg *m, size_t n)
{
	if (!m->store)
		m->store = arena_new();
	return arena_alloc(m->store, n);
}

/* Appends one attribute to the index (not to wire), copying name and
 * value to p, which has room for both and their NULs. */
static void index_add_at(struct ipc_msg *m, char *p, const char *name,
			 size_t nlen, const void *value, size_t vlen)
{
	attrs_reserve(m, m->nattrs + 1);
	memcpy(p, name, nlen);
	p[nlen] = 0;
	if (vlen)
		memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = 0;
	m->attrs[m->nattrs].name = p;
	m->attrs[m->nattrs].value = p + nlen + 1;
	m->attrs[m->nattrs].value_len = vlen;
	m->nattrs++;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int ipc_put(struct ipc_msg *m, const char *name, const void *value, size_t len)
{
	size_t nlen = strlen(name);
	if (!name_valid(name, nlen) || len > IPC_VALUE_MAX ||
	    m->nattrs >= IPC_ATTR_MAX)
		return -1;
	size_t rec = nlen + 1 + len;
	/* All or nothing: reserve first so a full wire leaves m as it was. */
	if (buf_reserve(&m->wire, 4 + rec) < 0)
		return -1;
	unsigned char hdr[4];
	put_be32(hdr, (uint32_t)rec);
	(void)buf_append(&m->wire, hdr, 4);
	(void)buf_append(&m->wire, name, nlen);
	(void)buf_append_char(&m->wire, '=');
	(void)buf_append(&m->wire, value, len);
	index_add_at(m, store_alloc(m, rec + 1), name, nlen, value, len);
	return 0;
}

int ipc_put_str(struct ipc_msg *m, const char *name, const char *value)
{
	return ipc_put(m, name, value, strlen(value));
}

int ipc_put_u64(struct ipc_msg *m, const char *name, uint64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, value);
	return ipc_put(m, name, num, (size_t)n);
}

int ipc_put_i64(struct ipc_msg *m, const char *name, int64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, value);
	return ipc_put(m, name, num, (size_t)n);
}

void ipc_msg_begin(struct ipc_msg *m, const char *type)
{
	ipc_msg_reset(m);
	if (ipc_put_str(m, "type", type) < 0)
		log_panic("ipc: unusable request type");
}

void ipc_msg_begin_reply(struct ipc_msg *m, const char *status)
{
	ipc_msg_reset(m);
	if (ipc_put_str(m, "status", status) < 0)
		log_panic("ipc: unusable reply status");
}

/* ---- decoding -------------------------------------------------------- */

/*
 * Checks a (possibly partial: the lowest bytes read as 0) record length
 * for attribute number idx starting at offset off. Rejecting a partial
 * length as soon as its high bytes are impossible means a peer cannot
 * make us wait for bytes that could never be accepted.
 */
static int check_len(uint32_t reclen, size_t idx, size_t off, struct err *e)
{
	if (idx >= IPC_ATTR_MAX) {
		err_set(e, "more than %d attributes", IPC_ATTR_MAX);
		return -1;
	}
	if (reclen > IPC_REC_MAX) {
		err_set(e,
			"attribute %zu: record of %" PRIu32 " bytes is over %d",
			idx + 1, reclen, IPC_REC_MAX);
		return -1;
	}
	if (reclen < 2) {
		err_set(e, "attribute %zu: empty name", idx + 1);
		return -1;
	}
	/* The record and the terminator after it must fit. */
	if (off + 4 + reclen + 4 > IPC_MSG_MAX) {
		err_set(e, "message over %d bytes", IPC_MSG_MAX);
		return -1;
	}
	return 0;
}

/*
 * Checks the first `have` bytes of a record of reclen bytes. Sets *nlen
 * to the name's length once the '=' has been seen, else to 0. The name
 * is checked byte by byte so a bad one is refused before its (up to 64
 * KiB) value has to arrive.
 */
static int check_record(const unsigned char *rec, size_t have, size_t reclen,
			size_t idx, size_t *nlen, struct err *e)
{
	size_t lim = have < IPC_NAME_MAX + 1 ? have : IPC_NAME_MAX + 1;
	*nlen = 0;
	for (size_t i = 0; i < lim; i++) {
		if (rec[i] == '=') {
			if (i == 0) {
				err_set(e, "attribute %zu: empty name",
					idx + 1);
				return -1;
			}
			if (reclen - i - 1 > IPC_VALUE_MAX) {
				err_set(e, "attribute %zu: value over %d bytes",
					idx + 1, IPC_VALUE_MAX);
				return -1;
			}
			*nlen = i;
			return 0;
		}
		if (!name_char(rec[i])) {
			err_set(e, "attribute %zu: bad character 0x%02x",
				idx + 1, rec[i]);
			return -1;
		}
	}
	if (lim == IPC_NAME_MAX + 1) {
		err_set(e, "attribute %zu: name over %d bytes", idx + 1,
			IPC_NAME_MAX);
		return -1;
	}
	if (have == reclen) {
		err_set(e, "attribute %zu: no '=' after name", idx + 1);
		return -1;
	}
	return 0;
}

/* Checks the start of a length prefix: only 0 (the terminator) or a
 * length check_len() could accept may follow. */
static int check_partial_len(const unsigned char *p, size_t have, size_t idx,
			     size_t off, struct err *e)
{
	unsigned char b[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < have; i++)
		b[i] = p[i];
	uint32_t lowest = get_be32(b);
	return lowest == 0 ? 0 : check_len(lowest, idx, off, e);
}

/*
 * Validates framing, names and limits of the message at the start of p,
 * copying nothing. Resumes at st->off, where an earlier call on a prefix
 * of the same bytes stopped, so a message trickling in is checked once,
 * not once per arrival. Returns 1, 0 or -1 as ipc_msg_decode(); on 1,
 * st->off is the message's end.
 */
static int scan(const unsigned char *p, size_t len, struct ipc_scan *st,
		struct err *e)
{
	for (;;) {
		size_t off = st->off, n = st->nattrs, left = len - off;
		if (left < 4) {
			if (check_partial_len(p + off, left, n, off, e) < 0)
				return -1;
			st->need = len + 1;
			return 0;
		}
		uint32_t reclen = get_be32(p + off);
		if (reclen == 0) {
			st->off = off + 4;
			return 1;
		}
		if (check_len(reclen, n, off, e) < 0)
			return -1;
		size_t have = left - 4 < reclen ? left - 4 : reclen, nlen;
		if (check_record(p + off + 4, have, reclen, n, &nlen, e) < 0)
			return -1;
		if (have < reclen) {
			/* With the name checked, nothing can change before
			 * the first byte after this record. */
			st->need = nlen ? off + 4 + reclen + 1 : len + 1;
			return 0;
		}
		st->store += reclen + 1; /* '=' becomes a NUL, plus one */
		st->nattrs++;
		st->off += 4 + reclen;
	}
}

/* ipc_msg_decode(), resuming from and updating st (see scan()). */
static int decode(struct ipc_msg *m, const void *data, size_t len,
		  size_t *consumed, struct ipc_scan *st, struct err *e)
{
	const unsigned char *p = data;
	int r = scan(p, len, st, e);
	if (r <= 0)
		return r;
	size_t recs = st->off - 4; /* the records, without the terminator */
	ipc_msg_reset(m);
	/* Exact sizes up front: the copies below cannot fail or move. */
	(void)buf_append(&m->wire, p, recs);
	attrs_reserve(m, st->nattrs);
	char *store = store_alloc(m, st->store);
	for (size_t off = 0; off < recs;) {
		size_t reclen = get_be32(p + off);
		const char *rec = (const char *)p + off + 4;
		size_t nlen =
			(size_t)((const char *)memchr(rec, '=', reclen) - rec);
		index_add_at(m, store, rec, nlen, rec + nlen + 1,
			     reclen - nlen - 1);
		store += reclen + 1;
		off += 4 + reclen;
	}
	*consumed = st->off;
	return 1;
}

int ipc_msg_decode(struct ipc_msg *m, const void *data, size_t len,
		   size_t *consumed, struct err *e)
{
	struct ipc_scan st = {0, 0, 0, 0};
	return decode(m, data, len, consumed, &st, e);
}

/* ---- lookups --------------------------------------------------------- */

/* 1 with *out when name occurs once, 0 when never, -1 when repeated. */
static int find_one(const struct ipc_msg *m, const char *name,
		    const struct ipc_attr **out)
{
	const struct ipc_attr *found = NULL;
	for (size_t i = 0; i < m->nattrs; i++) {
		if (strcmp(m->attrs[i].name, name) != 0)
			continue;
		if (found)
			return -1;
		found = &m->attrs[i];
	}
	*out = found;
	return found ? 1 : 0;
}

int ipc_get_bytes(const struct ipc_msg *m, const char *name, const char **out,
		  size_t *len)
{
	const struct ipc_attr *a;
	int r = find_one(m, name, &a);
	if (r == 1) {
		*out = a->value;
		*len = a->value_len;
	}
	return r;
}

int ipc_get_str(const struct ipc_msg *m, const char *name, const char **out)
{
	const struct ipc_attr *a;
	int r = find_one(m, name, &a);
	if (r != 1)
		return r;
	/* A NUL would silently shorten the string for C APIs. */
	if (memchr(a->value, 0, a->value_len))
		return -1;
	*out = a->value;
	return 1;
}

int ipc_get_u64(const struct ipc_msg *m, const char *name, uint64_t min,
		uint64_t max, uint64_t *out)
{
	const struct ipc_attr *a;
	int r = find_one(m, name, &a);
	if (r != 1)
		return r;
	return parse_uintn(a->value, a->value_len, min, max, out) < 0 ? -1 : 1;
}

int ipc_get_i64(const struct ipc_msg *m, const char *name, int64_t min,
		int64_t max, int64_t *out)
{
	const struct ipc_attr *a;
	int r = find_one(m, name, &a);
	if (r != 1)
		return r;
	const char *s = a->value;
	size_t len = a->value_len;
	bool neg = len > 0 && s[0] == '-';
	uint64_t mag;
	/* |INT64_MIN| = INT64_MAX + 1 is representable as a magnitude. */
	uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (parse_uintn(s + neg, len - neg, 0, lim, &mag) < 0)
		return -1;
	int64_t v;
	if (!neg)
		v = (int64_t)mag;
	else if (mag == (uint64_t)INT64_MAX + 1)
		v = INT64_MIN;
	else
		v = -(int64_t)mag;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 1;
}

size_t ipc_count(const struct ipc_msg *m, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nattrs; i++)
		if (strcmp(m->attrs[i].name, name) == 0)
			n++;
	return n;
}

int ipc_get_next(const struct ipc_msg *m, const char *name, size_t *pos,
		 const char **out, size_t *len)
{
	for (size_t i = *pos; i < m->nattrs; i++) {
		if (strcmp(m->attrs[i].name, name) != 0)
			continue;
		*out = m->attrs[i].value;
		if (len)
			*len = m->attrs[i].value_len;
		*pos = i + 1;
		return 1;
	}
	*pos = m->nattrs;
	return 0;
}

static const char *str_or_empty(const struct ipc_msg *m, const char *name)
{
	const char *v;
	return ipc_get_str(m, name, &v) == 1 ? v : "";
}

const char *ipc_type(const struct ipc_msg *m)
{
	return str_or_empty(m, "type");
}

const char *ipc_status(const struct ipc_msg *m)
{
	return str_or_empty(m, "status");
}

bool ipc_status_ok(const struct ipc_msg *m)
{
	return strcmp(ipc_status(m), "ok") == 0;
}

const char *ipc_reason(const struct ipc_msg *m)
{
	return str_or_empty(m, "reason");
}

/* ---- non-blocking connections ---------------------------------------- */

/* Reads at least this much at a time; buffers grow only with demand. */
#define READ_MIN 4096

void ipc_conn_init(struct ipc_conn *c, int fd, const char *peer)
{
	c->fd = fd;
	buf_init(&c->in, IPC_CONN_IN_MAX);
	buf_init(&c->out, IPC_CONN_OUT_MAX);
	(void)snprintf(c->peer, sizeof(c->peer), "%s", peer ? peer : "?");
	c->taken = 0;
	memset(&c->scan, 0, sizeof(c->scan));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		log_panic("ipc: fcntl on fd %d: %s", fd, strerror(errno));
}

void ipc_conn_deinit(struct ipc_conn *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	c->taken = 0;
	memset(&c->scan, 0, sizeof(c->scan));
}

int ipc_conn_fill(struct ipc_conn *c)
{
	struct buf *b = &c->in;
	/*
	 * Messages handed out are dropped here, once per read, rather than
	 * one memmove per message, which a peer pipelining thousands of
	 * tiny messages could make quadratic. What moves is the unfinished
	 * rest, and it is taken before the next compaction: each byte moves
	 * at most once.
	 */
	if (c->taken) {
		buf_consume(b, c->taken);
		c->taken = 0;
	}
	if (b->len == b->max)
		return 1;
	if (b->cap < b->len + 1 + READ_MIN) {
		size_t want =
			b->max - b->len < READ_MIN ? b->max - b->len : READ_MIN;
		if (buf_reserve(b, want) < 0)
			return -1; /* cannot happen: want fits under max */
	}
	/* Read straight into the buffer's spare room (buf keeps one byte
	 * for its NUL), but never past its maximum. */
	size_t room = b->cap - b->len - 1;
	if (room > b->max - b->len)
		room = b->max - b->len;
	for (;;) {
		ssize_t n = read(c->fd, b->data + b->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
		if (n == 0)
			return 0;
		b->len += (size_t)n;
		b->data[b->len] = 0;
		return 1;
	}
}

int ipc_conn_next(struct ipc_conn *c, struct ipc_msg *m, struct err *e)
{
	size_t left = c->in.len - c->taken, consumed;
	if (left == 0 || left < c->scan.need)
		return 0;
	int r = decode(m, c->in.data + c->taken, left, &consumed, &c->scan, e);
	if (r <= 0)
		return r;
	c->taken += consumed;
	if (c->taken == c->in.len) {
		buf_reset(&c->in);
		c->taken = 0;
	}
	memset(&c->scan, 0, sizeof(c->scan));
	return 1;
}

int ipc_conn_queue(struct ipc_conn *c, const struct ipc_msg *m)
{
	static const char end[4];
	if (buf_reserve(&c->out, m->wire.len + sizeof(end)) < 0)
		return -1;
	(void)buf_append(&c->out, m->wire.data, m->wire.len);
	(void)buf_append(&c->out, end, sizeof(end));
	return 0;
}

int ipc_conn_flush(struct ipc_conn *c)
{
	size_t off = 0;
	int r = 1;
	while (off < c->out.len) {
		/* MSG_NOSIGNAL: a peer that went away is an EPIPE for this
		 * connection, not a SIGPIPE for the whole daemon. */
		ssize_t n = send(c->fd, c->out.data + off, c->out.len - off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
			break;
		}
		off += (size_t)n;
	}
	int saved = errno;
	buf_consume(&c->out, off);
	errno = saved;
	return r;
}

int ipc_conn_greet(struct ipc_conn *c, const char *proto, unsigned version)
{
	struct ipc_msg m;
	ipc_msg_init(&m);
	int r = ipc_put_str(&m, "proto", proto) < 0 ||
				ipc_put_u64(&m, "version", version) < 0 ||
				ipc_conn_queue(c, &m) < 0
			? -1
			: 0;
	ipc_msg_deinit(&m);
	return r;
}

/* ---- the blocking client ---------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A deadline of 0 means none. */
static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : mono_ms() + (uint64_t)timeout_ms;
}

/* Waits until fd is ready for events or the deadline passes: 0 ready
 * (or in error, which the next read/write reports), -1 with e set. */
static int wait_fd(struct ipc_client *c, short events, uint64_t deadline,
		   struct err *e)
{
	for (;;) {
		int ms = -1;
		if (deadline) {
			uint64_t now = mono_ms();
			if (now >= deadline)
				ms = 0;
			else if (deadline - now > INT_MAX)
				ms = INT_MAX;
			else
				ms = (int)(deadline - now);
		}
		struct pollfd pfd = {.fd = c->conn.fd, .events = events};
		int n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			err_set(e, "%s: timed out after %d ms", c->conn.peer,
				c->timeout_ms);
		else
			err_set(e, "%s: poll: %s", c->conn.peer,
				strerror(errno));
		return -1;
	}
}

int ipc_client_send(struct ipc_client *c, const struct ipc_msg *m,
		    struct err *e)
{
	if (ipc_conn_queue(&c->conn, m) < 0) {
		err_set(e, "%s: output buffer full", c->conn.peer);
		return -1;
	}
	uint64_t deadline = deadline_of(c->timeout_ms);
	for (;;) {
		int r = ipc_conn_flush(&c->conn);
		if (r == 1)
			return 0;
		if (r < 0) {
			err_set(e, "%s: send: %s", c->conn.peer,
				strerror(errno));
			return -1;
		}
		if (wait_fd(c, POLLOUT, deadline, e) < 0)
			return -1;
	}
}

int ipc_client_recv(struct ipc_client *c, struct ipc_msg *m, struct err *e)
{
	uint64_t deadline = deadline_of(c->timeout_ms);
	struct err why;
	for (;;) {
		int r = ipc_conn_next(&c->conn, m, &why);
		if (r == 1)
			return 0;
		if (r < 0) {
			err_set(e, "%s: malformed message: %s", c->conn.peer,
				why.msg);
			return -1;
		}
		if (wait_fd(c, POLLIN, deadline, e) < 0)
			return -1;
		r = ipc_conn_fill(&c->conn);
		if (r == 0) {
			err_set(e, "%s: connection closed by peer",
				c->conn.peer);
			return -1;
		}
		if (r < 0) {
			err_set(e, "%s: read: %s", c->conn.peer,
				strerror(errno));
			return -1;
		}
	}
}

int ipc_call(struct ipc_client *c, const struct ipc_msg *req,
	     struct ipc_msg *reply, struct err *e)
{
	if (ipc_client_send(c, req, e) < 0)
		return -1;
	return ipc_client_recv(c, reply, e);
}

/* Checks proto=<proto> and version=<version>, exactly. */
static int check_greeting(struct ipc_client *c, const struct ipc_msg *g,
			  const char *proto, unsigned version, struct err *e)
{
	const char *got = "";
	uint64_t v = 0;
	int rp = ipc_get_str(g, "proto", &got);
	int rv = ipc_get_u64(g, "version", 0, UINT_MAX, &v);
	if (rp == 1 && strcmp(got, proto) == 0 && rv == 1 && v == version)
		return 0;
	char q[64];
	if (rp != 1)
		err_set(e, "%s: greeting without a valid proto=, want %s",
			c->conn.peer, proto);
	else if (strcmp(got, proto) != 0)
		err_set(e, "%s: greeting proto=%s, want %s", c->conn.peer,
			log_quote(q, sizeof(q), got, strlen(got)), proto);
	else if (rv != 1)
		err_set(e, "%s: greeting without a valid version=, want %u",
			c->conn.peer, version);
	else
		err_set(e, "%s: greeting version=%" PRIu64 ", want %u",
			c->conn.peer, v, version);
	return -1;
}

/* connect(2) with the timeout: on a UNIX socket a blocking connect waits
 * only while the listener's backlog is full, and SO_SNDTIMEO bounds that
 * wait (it then fails with EAGAIN). */
static int connect_unix(const char *path, int timeout_ms, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	if (plen >= sizeof(sa.sun_path)) {
		err_set(e, "%s: socket path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, plen + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(e, "socket: %s", strerror(errno));
		return -1;
	}
	if (timeout_ms >= 0) {
		/* A zero timeval would mean "no timeout". */
		long ms = timeout_ms > 0 ? timeout_ms : 1;
		struct timeval tv = {.tv_sec = ms / 1000,
				     .tv_usec = (ms % 1000) * 1000};
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		err_set(e, "connect to %s: %s", path,
			errno == EAGAIN ? "timed out (backlog full)"
					: strerror(errno));
		(void)close(fd);
		return -1;
	}
	return fd;
}

int ipc_client_connect(struct ipc_client *c, const char *path,
		       const char *proto, unsigned version, int timeout_ms,
		       struct err *e)
{
	c->timeout_ms = timeout_ms;
	c->conn.fd = -1;
	buf_init(&c->conn.in, IPC_CONN_IN_MAX);
	buf_init(&c->conn.out, IPC_CONN_OUT_MAX);
	int fd = connect_unix(path, timeout_ms, e);
	if (fd < 0)
		return -1;
	ipc_conn_init(&c->conn, fd, path);
	struct ipc_msg g;
	ipc_msg_init(&g);
	int r = ipc_client_recv(c, &g, e);
	if (r == 0)
		r = check_greeting(c, &g, proto, version, e);
	ipc_msg_deinit(&g);
	if (r < 0)
		ipc_client_close(c);
	return r;
}

void ipc_client_close(struct ipc_client *c)
{
	ipc_conn_deinit(&c->conn);
}
