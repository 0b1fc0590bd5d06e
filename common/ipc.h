/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_IPC_H
#define POSTHORN_COMMON_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/*
 * The attribute protocol every daemon speaks over UNIX stream sockets
 * (CONVENTIONS.md section 5).
 *
 * A message is a sequence of attributes ending with an empty one. An
 * attribute is a 4-byte big-endian length L, then L bytes "name=value".
 * L = 0 ends the message. Names are [a-z0-9_]{1,32}; values are opaque
 * bytes. Numbers travel as decimal text. Requests start with type=<verb>,
 * replies with status=ok|defer|fail|error (+ reason= when not ok). On
 * connect the server sends proto=<service>, version=<n>.
 *
 * The decoder rejects, with a reason and never partially: a record longer
 * than IPC_VALUE_MAX + name, a bad name, a record without '=', more than
 * IPC_ATTR_MAX attributes, a message over IPC_MSG_MAX bytes (counting
 * every length prefix and the terminator).
 */
#define IPC_NAME_MAX 32
#define IPC_VALUE_MAX (64 * 1024)
#define IPC_ATTR_MAX 512
#define IPC_MSG_MAX (1024 * 1024)
/* The longest record: name, '=', value. */
#define IPC_REC_MAX (IPC_NAME_MAX + 1 + IPC_VALUE_MAX)
/* ipc_conn buffers: input holds one whole message plus what a peer may
 * pipeline behind it; output holds a full message behind others. */
#define IPC_CONN_IN_MAX (IPC_MSG_MAX + 64 * 1024)
#define IPC_CONN_OUT_MAX (2 * IPC_MSG_MAX)

struct ipc_attr {
	const char *name;  /* NUL-terminated, points into the message */
	const char *value; /* NUL-terminated copy; may also contain NULs */
	size_t value_len;
};

struct arena;

/* A message being built, or one decoded. Names and values point into
 * storage owned by the message; they stay valid until the next
 * reset/begin/decode/deinit (ipc_put() does not move them). attrs[0 ..
 * nattrs) may be read directly, in wire order; the array itself may move
 * when an attribute is added. */
struct ipc_msg {
	struct buf wire; /* encoded attributes, without the terminator */
	struct ipc_attr *attrs;
	size_t nattrs;
	size_t cap;
	struct arena *store; /* names and values; created on first use */
};

/* An empty message; allocates nothing until used. */
void ipc_msg_init(struct ipc_msg *m);
/* Frees everything; m can be ipc_msg_init()ed again. */
void ipc_msg_deinit(struct ipc_msg *m);
/* Empties m (no attributes), keeping its storage. */
void ipc_msg_reset(struct ipc_msg *m);

/* Resets m and adds type=<verb> (request) or status=<s> (reply). */
void ipc_msg_begin(struct ipc_msg *m, const char *type);
void ipc_msg_begin_reply(struct ipc_msg *m, const char *status);
/* Adds an attribute; -1 (m unchanged) if the name is invalid or a limit
 * would be passed. Callers building from trusted data may ignore the
 * result only where the limits cannot be reached, writing (void). */
int ipc_put(struct ipc_msg *m, const char *name, const void *value, size_t len);
int ipc_put_str(struct ipc_msg *m, const char *name, const char *value);
int ipc_put_u64(struct ipc_msg *m, const char *name, uint64_t value);
int ipc_put_i64(struct ipc_msg *m, const char *name, int64_t value);

/*
 * Decodes one message from data[0..len). Returns 1 with *consumed set when
 * a whole message was decoded into m, 0 when more bytes are needed (a
 * prefix of a valid message), -1 with e set when the bytes can never form
 * a valid message (detected as early as the bytes allow, e.g. a bad name
 * character before its record is complete). Never reads beyond len. m is
 * changed only when 1 is returned.
 */
int ipc_msg_decode(struct ipc_msg *m, const void *data, size_t len,
		   size_t *consumed, struct err *e);

/* Lookups on a decoded (or built) message. Single-valued getters return
 * 1 found, 0 missing, -1 invalid (repeated; NUL inside a string; number
 * not decimal or out of [min, max]). Numbers are plain decimal digits
 * (leading zeros allowed, no '+', no spaces); ipc_get_i64 also takes one
 * leading '-'. */
int ipc_get_str(const struct ipc_msg *m, const char *name, const char **out);
int ipc_get_bytes(const struct ipc_msg *m, const char *name, const char **out,
		  size_t *len);
int ipc_get_u64(const struct ipc_msg *m, const char *name, uint64_t min,
		uint64_t max, uint64_t *out);
int ipc_get_i64(const struct ipc_msg *m, const char *name, int64_t min,
		int64_t max, int64_t *out);
/* How many times name occurs (repeated attributes carry lists). */
size_t ipc_count(const struct ipc_msg *m, const char *name);
/* Walks the values of a repeated attribute in wire order: start with
 * *pos = 0; 1 with *out and *len set (len may be NULL) and *pos advanced, 0
 * when there are no more. */
int ipc_get_next(const struct ipc_msg *m, const char *name, size_t *pos,
		 const char **out, size_t *len);
/* The type= (request) or status= (reply) value, or "" if absent or not
 * a valid single string (so it matches no verb). */
const char *ipc_type(const struct ipc_msg *m);
const char *ipc_status(const struct ipc_msg *m);
bool ipc_status_ok(const struct ipc_msg *m);
/* The reason= value or "" */
const char *ipc_reason(const struct ipc_msg *m);

/*
 * A non-blocking connection for event-loop daemons. in is bounded by
 * IPC_CONN_IN_MAX, out by IPC_CONN_OUT_MAX.
 */
/* How far the decoder got into a partial message (private to ipc.c). */
struct ipc_scan {
	size_t off;    /* start of the first record not yet checked */
	size_t nattrs; /* records checked before off */
	size_t store;  /* bytes their names and values will need */
	size_t need;   /* in.len below which the answer cannot change */
};

struct ipc_conn {
	int fd;
	struct buf in;
	struct buf out;
	char peer[64];        /* for log lines */
	size_t taken;         /* in[0..taken) was handed out by ipc_conn_next */
	struct ipc_scan scan; /* progress, relative to in.data + taken */
};

/* Takes ownership of fd, a stream socket (set non-blocking and
 * close-on-exec); peer is copied (truncated to fit). Input is read only
 * through ipc_conn_next(): in may still hold messages already taken. */
void ipc_conn_init(struct ipc_conn *c, int fd, const char *peer);
/* Closes fd (if >= 0) and frees buffers; safe to call twice. */
void ipc_conn_deinit(struct ipc_conn *c);
/* Reads what is available: 1 ok (maybe more to decode), 0 EOF, -1 error
 * (errno). EAGAIN is 1. Reads nothing (and returns 1) while in is full:
 * a full buffer always holds a whole or a malformed message, so call
 * ipc_conn_next() until it returns 0 after every fill. Never blocks. */
int ipc_conn_fill(struct ipc_conn *c);
/* Takes the next whole message out of c->in: 1 yes, 0 not yet, -1
 * malformed (e set; the caller logs peer + reason and closes). */
int ipc_conn_next(struct ipc_conn *c, struct ipc_msg *m, struct err *e);
/* Queues a message (with its terminator) on c->out; -1 if out would pass
 * IPC_CONN_OUT_MAX (the peer is not reading: close it). */
int ipc_conn_queue(struct ipc_conn *c, const struct ipc_msg *m);
/* Writes queued output: 1 all sent, 0 some left (wait for EVENT_WRITE),
 * -1 error (errno; EPIPE when the peer closed, never SIGPIPE). */
int ipc_conn_flush(struct ipc_conn *c);
/* Queues the proto=/version= greeting. */
int ipc_conn_greet(struct ipc_conn *c, const char *proto, unsigned version);

/*
 * A blocking client for one-client daemons and command-line tools: every
 * connect, send and receive finishes within timeout_ms (the whole
 * operation, not each system call), or fails; timeout_ms < 0 waits
 * without limit.
 */
struct ipc_client {
	struct ipc_conn conn;
	int timeout_ms;
};

/* Connects to the UNIX socket at path and checks the greeting names proto
 * with exactly version. 0, or -1 with e set (and c closed, so
 * ipc_client_close() is harmless). Blocks up to timeout_ms per step. */
int ipc_client_connect(struct ipc_client *c, const char *path,
		       const char *proto, unsigned version, int timeout_ms,
		       struct err *e);
void ipc_client_close(struct ipc_client *c);
/* Sends one message. 0, or -1 with e set. After any -1 the connection
 * is in an unknown state: close it. */
int ipc_client_send(struct ipc_client *c, const struct ipc_msg *m,
		    struct err *e);
/* Receives one message. 0, or -1 with e set (timeout, EOF, malformed). */
int ipc_client_recv(struct ipc_client *c, struct ipc_msg *m, struct err *e);
/* send + recv. */
int ipc_call(struct ipc_client *c, const struct ipc_msg *req,
	     struct ipc_msg *reply, struct err *e);

#endif
