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
 * IPC_ATTR_MAX attributes, a message over IPC_MSG_MAX bytes.
 */
#define IPC_NAME_MAX 32
#define IPC_VALUE_MAX (64 * 1024)
#define IPC_ATTR_MAX 512
#define IPC_MSG_MAX (1024 * 1024)

struct ipc_attr {
	const char *name; /* NUL-terminated, points into the message */
	const char *value; /* NUL-terminated copy; may also contain NULs */
	size_t value_len;
};

/* A message being built, or one decoded. Decoded attributes point into
 * storage owned by the message; they stay valid until the next
 * begin/decode/deinit. */
struct ipc_msg {
	struct buf wire; /* encoded attributes, without the terminator */
	struct ipc_attr *attrs;
	size_t nattrs;
	size_t cap;
	char *store; /* decoded names and values */
};

void ipc_msg_init(struct ipc_msg *m);
void ipc_msg_deinit(struct ipc_msg *m);

/* Resets m and adds type=<verb> (request) or status=<s> (reply). */
void ipc_msg_begin(struct ipc_msg *m, const char *type);
void ipc_msg_begin_reply(struct ipc_msg *m, const char *status);
/* Adds an attribute; -1 (m unchanged) if the name is invalid or a limit
 * would be passed. Callers building from trusted data may ignore the
 * result only where the limits cannot be reached, writing (void). */
int ipc_put(struct ipc_msg *m, const char *name, const void *value,
	    size_t len);
int ipc_put_str(struct ipc_msg *m, const char *name, const char *value);
int ipc_put_u64(struct ipc_msg *m, const char *name, uint64_t value);
int ipc_put_i64(struct ipc_msg *m, const char *name, int64_t value);

/*
 * Decodes one message from data[0..len). Returns 1 with *consumed set when
 * a whole message was decoded into m, 0 when more bytes are needed (a
 * prefix of a valid message), -1 with e set when the bytes can never form
 * a valid message. Never reads beyond len.
 */
int ipc_msg_decode(struct ipc_msg *m, const void *data, size_t len,
		   size_t *consumed, struct err *e);

/* Lookups on a decoded (or built) message. Single-valued getters return
 * 1 found, 0 missing, -1 invalid (repeated; NUL inside a string; number
 * not decimal or out of [min, max]). */
int ipc_get_str(const struct ipc_msg *m, const char *name, const char **out);
int ipc_get_bytes(const struct ipc_msg *m, const char *name,
		  const char **out, size_t *len);
int ipc_get_u64(const struct ipc_msg *m, const char *name, uint64_t min,
		uint64_t max, uint64_t *out);
int ipc_get_i64(const struct ipc_msg *m, const char *name, int64_t min,
		int64_t max, int64_t *out);
/* How many times name occurs (repeated attributes carry lists). */
size_t ipc_count(const struct ipc_msg *m, const char *name);
/* The type= (request) or status= (reply) value, or "" if absent. */
const char *ipc_type(const struct ipc_msg *m);
const char *ipc_status(const struct ipc_msg *m);
bool ipc_status_ok(const struct ipc_msg *m);
/* The reason= value or "" */
const char *ipc_reason(const struct ipc_msg *m);

/*
 * A non-blocking connection for event-loop daemons. in/out are bounded by
 * IPC_MSG_MAX (+ a little for pipelined messages).
 */
struct ipc_conn {
	int fd;
	struct buf in;
	struct buf out;
	char peer[64]; /* for log lines */
};

/* Takes ownership of fd (set non-blocking). */
void ipc_conn_init(struct ipc_conn *c, int fd, const char *peer);
/* Closes fd and frees buffers. */
void ipc_conn_deinit(struct ipc_conn *c);
/* Reads what is available: 1 ok (maybe more to decode), 0 EOF, -1 error
 * (errno) or input over its bound. EAGAIN is 1. */
int ipc_conn_fill(struct ipc_conn *c);
/* Takes the next whole message out of c->in: 1 yes, 0 not yet, -1
 * malformed (e set; the caller logs peer + reason and closes). */
int ipc_conn_next(struct ipc_conn *c, struct ipc_msg *m, struct err *e);
/* Queues a message (with its terminator) on c->out. */
int ipc_conn_queue(struct ipc_conn *c, const struct ipc_msg *m);
/* Writes queued output: 1 all sent, 0 some left (wait for EVENT_WRITE),
 * -1 error. */
int ipc_conn_flush(struct ipc_conn *c);
/* Queues the proto=/version= greeting. */
int ipc_conn_greet(struct ipc_conn *c, const char *proto, unsigned version);

/*
 * A blocking client for one-client daemons and command-line tools: every
 * read and write waits at most timeout_ms.
 */
struct ipc_client {
	struct ipc_conn conn;
	int timeout_ms;
};

/* Connects to the UNIX socket at path and checks the greeting names proto
 * with exactly version. 0, or -1 with e set. */
int ipc_client_connect(struct ipc_client *c, const char *path,
		       const char *proto, unsigned version, int timeout_ms,
		       struct err *e);
void ipc_client_close(struct ipc_client *c);
/* Sends one message. 0, or -1 with e set. */
int ipc_client_send(struct ipc_client *c, const struct ipc_msg *m,
		    struct err *e);
/* Receives one message. 0, or -1 with e set (timeout, EOF, malformed). */
int ipc_client_recv(struct ipc_client *c, struct ipc_msg *m, struct err *e);
/* send + recv. */
int ipc_call(struct ipc_client *c, const struct ipc_msg *req,
	     struct ipc_msg *reply, struct err *e);

#endif
