/* SPDX-License-Identifier: MIT */
/*
 * smtp_deliver.c - delivery requests from qmgr and their results
 *
 * Serves one qmgr connection (common/proto_deliver.h): decodes each
 * request, maps the queue file, picks the next hop's TLS policy
 * (smtp_tls_policy_maps), tries the cached connection to the same
 * next hop (RSET first) and then the route's hosts one after another
 * until every recipient has a final result, replies with one result per
 * recipient and logs each in Postfix's shape ("to=<...>, relay=...,
 * delay=..., dsn=..., status=sent (...)").
 * Keeps at most one idle connection, for the next hop of the last
 * request, for smtp_connection_cache_time_limit while qmgr is quiet and
 * smtp_connection_reuse_time_limit in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_deliver.h"
#include "common/queue_env.h"
#include "common/service.h"
#include "common/xalloc.h"

#include "smtp.h"
#include "smtp_body.h"
#include "smtp_proto.h"
#include "smtp_session.h"

/* Envelope fields go into SMTP commands: bound them (RFC 5321 4.5.3.1
 * allows 256 for a path; RFC 3461 100 for ENVID) with room to spare. */
#define ADDR_MAX 1000
#define PARAM_MAX 1000

/* Set up by smtp.c at start (declared in smtp.h); here so that the
 * library the tests link holds it. */
struct smtp_state smtp_state;

static struct smtp_session *cached;

/* ---- results ------------------------------------------------------------ */

static void vset(struct smtp_request *req, struct smtp_rcpt *r,
                 enum smtp_result res, bool final, const char *dsn,
                 const char *relay, const char *fmt, va_list ap)
        __attribute__((format(printf, 7, 0)));

static void vset(struct smtp_request *req, struct smtp_rcpt *r,
                 enum smtp_result res, bool final, const char *dsn,
                 const char *relay, const char *fmt, va_list ap)
{
	if (r->final)
		return;
	char text[DELIVER_REASON_MAX + 1];
	vsnprintf(text, sizeof(text), fmt, ap);
	r->result = res;
	r->final = final;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	r->reason = arena_strdup(req->arena, text);
	r->relay = arena_strdup(req->arena, relay ? relay : "none");
}

void smtp_rcpt_set(struct smtp_request *req, struct smtp_rcpt *r,
                   enum smtp_result res, bool final, const char *dsn,
                   const char *relay, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(req, r, res, final, dsn, relay, fmt, ap);
	va_end(ap);
}

void smtp_rcpt_set_all(struct smtp_request *req, enum smtp_result res,
                       bool final, const char *dsn, const char *relay,
                       const char *fmt, ...)
{
	for (size_t i = 0; i < req->nrcpt; i++) {
		va_list ap;
		va_start(ap, fmt);
		vset(req, &req->rcpt[i], res, final, dsn, relay, fmt, ap);
		va_end(ap);
	}
}

size_t smtp_rcpt_pending(const struct smtp_request *req)
{
	size_t n = 0;
	for (size_t i = 0; i < req->nrcpt; i++)
		if (!req->rcpt[i].final)
			n++;
	return n;
}

bool smtp_request_has_8bit(struct smtp_request *req)
{
	if (req->has_8bit < 0)
		req->has_8bit = smtp_body_has_8bit(req->data, req->len);
	return req->has_8bit;
}

/* ---- decoding a request ------------------------------------------------- */

/* An envelope value that may go into an SMTP command: no controls (no
 * CR or LF smuggling a command of its own), bounded. */
static bool clean(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n <= max;
}

/* "queue/<id>" and nothing that leaves the queue directory. */
static bool queue_path_ok(const char *p)
{
	if (!p[0] || p[0] == '/' || strstr(p, "..") || strlen(p) > 256)
		return false;
	for (const char *c = p; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '/' || *c == '_' ||
		      *c == '-' || *c == '.'))
			return false;
	return true;
}

static int get_opt_str(const struct ipc_msg *m, const char *name,
                       const char **out, struct err *e)
{
	int rc = ipc_get_str(m, name, out);
	if (rc < 0) {
		err_set(e, "bad attribute %s", name);
		return -1;
	}
	if (rc == 0)
		*out = NULL;
	return 0;
}

static int get_str(const struct ipc_msg *m, const char *name, const char **out,
                   struct err *e)
{
	if (get_opt_str(m, name, out, e) < 0)
		return -1;
	if (!*out) {
		err_set(e, "missing attribute %s", name);
		return -1;
	}
	return 0;
}

static int decode_rcpts(const struct ipc_msg *m, struct smtp_request *req,
                        struct err *e)
{
	uint64_t n;
	if (ipc_get_u64(m, DELIVER_ATTR_NRCPT, 1, UINT32_MAX, &n) != 1) {
		err_set(e, "missing or bad attribute %s", DELIVER_ATTR_NRCPT);
		return -1;
	}
	if (n > SMTP_RCPT_MAX) {
		err_set(e, "nrcpt=%llu: at most %d recipients per request",
		        (unsigned long long)n, SMTP_RCPT_MAX);
		return -2;
	}
	static const char *const names[] = {
	        DELIVER_ATTR_RCPT_ID, DELIVER_ATTR_RCPT, DELIVER_ATTR_ORCPT,
	        DELIVER_ATTR_NOTIFY};
	for (size_t k = 0; k < 4; k++) {
		if (ipc_count(m, names[k]) != n) {
			err_set(e, "%s given %zu times for %llu recipients",
			        names[k], ipc_count(m, names[k]),
			        (unsigned long long)n);
			return -1;
		}
	}
	req->nrcpt = (size_t)n;
	req->rcpt = arena_calloc(req->arena, req->nrcpt, sizeof(*req->rcpt));
	size_t pos[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < req->nrcpt; i++) {
		const char *v[4];
		size_t len;
		for (size_t k = 0; k < 4; k++) {
			(void)ipc_get_next(m, names[k], &pos[k], &v[k], &len);
			if (strlen(v[k]) != len || !clean(v[k], ADDR_MAX)) {
				err_set(e, "bad %s value", names[k]);
				return -1;
			}
		}
		struct smtp_rcpt *r = &req->rcpt[i];
		r->id = v[0];
		r->addr = v[1];
		r->orcpt = v[2];
		r->notify = v[3];
		if (!r->addr[0]) {
			err_set(e, "empty recipient address");
			return -1;
		}
	}
	return 0;
}

int smtp_request_decode(const struct ipc_msg *m, struct smtp_request *req,
                        struct err *e)
{
	const char *body, *utf8;
	if (strcmp(ipc_type(m), DELIVER_REQ_DELIVER) != 0) {
		err_set(e, "unknown request type \"%.40s\"", ipc_type(m));
		return -1;
	}
	if (get_str(m, DELIVER_ATTR_QUEUE_ID, &req->queue_id, e) < 0 ||
	    get_str(m, DELIVER_ATTR_QUEUE_FILE, &req->queue_file, e) < 0 ||
	    get_str(m, DELIVER_ATTR_SENDER, &req->sender, e) < 0 ||
	    get_str(m, DELIVER_ATTR_NEXTHOP, &req->nexthop_text, e) < 0 ||
	    get_opt_str(m, DELIVER_ATTR_BODY, &body, e) < 0 ||
	    get_opt_str(m, DELIVER_ATTR_SMTPUTF8, &utf8, e) < 0 ||
	    get_opt_str(m, DELIVER_ATTR_ENVID, &req->envid, e) < 0 ||
	    get_opt_str(m, DELIVER_ATTR_RET, &req->ret, e) < 0 ||
	    get_opt_str(m, DELIVER_ATTR_DELIVERED_TO, &req->dlvto, e) < 0)
		return -1;
	if (ipc_get_u64(m, DELIVER_ATTR_ARRIVAL, 0, UINT64_MAX,
	                &req->arrival) != 1 ||
	    ipc_get_u64(m, DELIVER_ATTR_SIZE, 0, UINT64_MAX, &req->size) != 1) {
		err_set(e, "missing or bad arrival or size");
		return -1;
	}
	if (!clean(req->queue_id, 64) || !queue_path_ok(req->queue_file) ||
	    !clean(req->sender, ADDR_MAX) ||
	    (req->envid && !clean(req->envid, PARAM_MAX))) {
		err_set(e, "malformed queue id, queue file or envelope");
		return -1;
	}
	if (req->ret && strcmp(req->ret, "FULL") && strcmp(req->ret, "HDRS"))
		req->ret = NULL;
	if (req->dlvto && !req->dlvto[0])
		req->dlvto = NULL;
	/* Each address becomes a header line: no CR, LF or NUL may hide
	 * a line of its own in one. */
	if (req->dlvto && !queue_dlvto_safe(req->dlvto, strlen(req->dlvto))) {
		err_set(e, "malformed delivered_to chain");
		return -1;
	}
	if (!body || !strcmp(body, "7BIT"))
		req->body = SMTP_BODY_7BIT;
	else if (!strcmp(body, "8BITMIME"))
		req->body = SMTP_BODY_8BITMIME;
	else if (!strcmp(body, "BINARYMIME"))
		req->body = SMTP_BODY_BINARYMIME;
	else {
		err_set(e, "bad body type \"%.20s\"", body);
		return -1;
	}
	req->smtputf8 = utf8 && !strcmp(utf8, "1");
	if (nexthop_parse(req->nexthop_text, strlen(req->nexthop_text),
	                  &req->nexthop, e) < 0)
		return -1;
	nexthop_format(&req->nexthop, req->nexthop_key,
	               sizeof(req->nexthop_key));
	req->has_8bit = -1;
	return decode_rcpts(m, req, e);
}

/* ---- the queue file ----------------------------------------------------- */

static void *map_queue_file(struct smtp_request *req, size_t *maplen,
                            struct err *e)
{
	char *path = arena_printf(req->arena, "%s/%s", params->queue_directory,
	                          req->queue_file);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err_set(e, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	*maplen = (size_t)st.st_size;
	void *p = "";
	if (*maplen > 0) {
		p = mmap(NULL, *maplen, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			err_set(e, "mmap %s: %s", path, strerror(errno));
			close(fd);
			return NULL;
		}
	}
	close(fd);
	if ((uint64_t)st.st_size != req->size)
		log_warn("%s: queue file has %lld bytes, request says %llu",
		         req->queue_id, (long long)st.st_size,
		         (unsigned long long)req->size);
	req->data = p;
	req->len = *maplen;
	return p;
}

/* ---- delivery ----------------------------------------------------------- */

static bool cache_usable(const struct smtp_request *req)
{
	if (!cached)
		return false;
	uint64_t age = smtp_now_ms() - cached->born_ms;
	return strcmp(cached->key, req->nexthop_key) == 0 &&
	       age < (uint64_t)params->smtp_connection_reuse_time_limit * 1000u;
}

/* Keeps s for the next request to the same next hop, or closes it. */
static void keep_or_close(struct smtp_session **sp,
                          const struct smtp_request *req)
{
	struct smtp_session *s = *sp;
	if (smtp_session_reusable(s) && !smtp_rcpt_pending(req) &&
	    !service_stopping()) {
		smtp_session_close(&cached, true);
		snprintf(s->key, sizeof(s->key), "%s", req->nexthop_key);
		cached = s;
		*sp = NULL;
		return;
	}
	smtp_session_close(sp, true);
}

/* Logs why a host did not take every recipient before moving on. */
static void log_host_failure(const struct smtp_request *req)
{
	for (size_t i = 0; i < req->nrcpt; i++) {
		const struct smtp_rcpt *r = &req->rcpt[i];
		if (!r->final && r->reason) {
			log_info("%s: %s", req->queue_id, r->reason);
			return;
		}
	}
}

static void try_hosts(struct smtp_request *req, const struct smtp_route *rt)
{
	for (size_t i = 0; i < rt->n && smtp_rcpt_pending(req); i++) {
		struct smtp_session *s = NULL;
		enum smtp_open rc =
		        smtp_session_open(req, &rt->t[i], false, &s);
		if (rc == SMTP_OPEN_RETRY_PLAIN) {
			log_info("%s: %s[%s]:%u: trying again without TLS",
			         req->queue_id, rt->t[i].host,
			         rt->t[i].addr.text, rt->t[i].port);
			rc = smtp_session_open(req, &rt->t[i], true, &s);
		}
		if (rc == SMTP_OPEN_OK) {
			smtp_proto_transaction(s, req);
			keep_or_close(&s, req);
		}
		if (smtp_rcpt_pending(req) && i + 1 < rt->n)
			log_host_failure(req);
	}
}

/* Sets req->tls: the next hop's smtp_tls_policy_maps entry, else
 * smtp_tls_security_level. -1 when the table fails or holds an invalid
 * policy: every recipient is deferred then, since sending with less
 * protection than the admin asked for is worse than waiting. */
static int choose_tls_policy(struct smtp_request *req)
{
	struct err e;
	const char *key = NULL;
	req->tls = (struct smtp_tls_policy){.level = smtp_state.tls_level};
	int rc = smtp_tls_policy_find(smtp_state.tls_policy, req->nexthop_text,
	                              &req->nexthop, req->arena, &req->tls,
	                              &key, &e);
	if (rc == -2) {
		log_warn("%s: smtp_tls_policy_maps: %s", req->queue_id, e.msg);
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, true, "4.7.5", "none",
		                  "client TLS configuration problem: %s",
		                  e.msg);
		return -1;
	}
	if (rc < 0) {
		log_warn("%s: smtp_tls_policy_maps: %s", req->queue_id, e.msg);
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, true, "4.3.0", "none",
		                  "TLS policy lookup for %s failed",
		                  req->nexthop_key);
		return -1;
	}
	if (rc == 1) {
		char text[SMTP_TLS_POLICY_MAX];
		log_debug(1, "%s: TLS policy for %s (from %s): %s",
		          req->queue_id, req->nexthop_key, key,
		          smtp_tls_policy_format(&req->tls, text, sizeof(text)));
	}
	return 0;
}

static void deliver(struct smtp_request *req)
{
	if (choose_tls_policy(req) < 0)
		return;
	if (cached && !cache_usable(req))
		smtp_session_close(&cached, true);
	if (cached) {
		struct smtp_session *s = cached;
		cached = NULL;
		if (smtp_session_reset(s) == 0) {
			log_debug(1, "%s: reusing connection to %s",
			          req->queue_id, s->relay);
			smtp_proto_transaction(s, req);
			keep_or_close(&s, req);
		} else {
			smtp_session_close(&s, false);
		}
	}
	if (smtp_rcpt_pending(req)) {
		struct smtp_route rt;
		enum smtp_route_status st =
		        smtp_route_build(&smtp_state.route, &req->nexthop, &rt);
		if (st == SMTP_ROUTE_OK)
			try_hosts(req, &rt);
		else
			smtp_rcpt_set_all(
			        req,
			        st == SMTP_ROUTE_BOUNCE ? SMTP_RES_BOUNCE
			                                : SMTP_RES_DEFER,
			        true, rt.dsn, "none", "%s", rt.reason);
		smtp_route_deinit(&rt);
	}
	/* The last host's word stands for whatever is still open. */
	for (size_t i = 0; i < req->nrcpt; i++) {
		struct smtp_rcpt *r = &req->rcpt[i];
		if (r->result == SMTP_RES_NONE)
			smtp_rcpt_set(req, r, SMTP_RES_DEFER, true, "4.4.1",
			              "none", "no host to deliver to");
		r->final = true;
	}
}

/* ---- replies and logging ------------------------------------------------ */

static const char *result_word(enum smtp_result r, bool for_log)
{
	switch (r) {
	case SMTP_RES_SENT:
		return DELIVER_RESULT_SENT;
	case SMTP_RES_BOUNCE:
		return for_log ? "bounced" : DELIVER_RESULT_BOUNCE;
	default:
		return for_log ? "deferred" : DELIVER_RESULT_DEFER;
	}
}

static void log_results(const struct smtp_request *req)
{
	struct timespec now;
	(void)clock_gettime(CLOCK_REALTIME, &now);
	double delay = (double)now.tv_sec + (double)now.tv_nsec / 1e9 -
	               (double)req->arrival;
	if (delay < 0)
		delay = 0;
	for (size_t i = 0; i < req->nrcpt; i++) {
		const struct smtp_rcpt *r = &req->rcpt[i];
		log_info("%s: to=<%s>, relay=%s, delay=%.2f, dsn=%s, "
		         "status=%s (%s)",
		         req->queue_id, r->addr, r->relay, delay, r->dsn,
		         result_word(r->result, true), r->reason);
	}
}

/* The reply fits the codec's limits: at most SMTP_RCPT_MAX recipients
 * (smtp_request_decode() checks), six attributes each, values bounded by ADDR_MAX and
 * DELIVER_REASON_MAX. */
_Static_assert(SMTP_RCPT_MAX * 6 + 1 <= IPC_ATTR_MAX,
               "a full reply must fit IPC_ATTR_MAX");

static void build_reply(const struct smtp_request *req, struct ipc_msg *out)
{
	ipc_msg_begin_reply(out, "ok");
	for (size_t i = 0; i < req->nrcpt; i++) {
		const struct smtp_rcpt *r = &req->rcpt[i];
		(void)ipc_put_str(out, DELIVER_ATTR_RCPT_ID, r->id);
		(void)ipc_put_str(out, DELIVER_ATTR_RESULT,
		                  result_word(r->result, false));
		(void)ipc_put_str(out, DELIVER_ATTR_DSN, r->dsn);
		(void)ipc_put_str(out, DELIVER_ATTR_REASON, r->reason);
		(void)ipc_put_str(out, DELIVER_ATTR_RELAY, r->relay);
		(void)ipc_put_str(out, DELIVER_ATTR_FORWARD_TO, "");
	}
}

/* One request: decode, deliver, reply. -1 ends the connection. */
static int handle(struct ipc_client *c, const struct ipc_msg *m)
{
	struct smtp_request req;
	memset(&req, 0, sizeof(req));
	req.arena = arena_new();
	struct ipc_msg reply;
	ipc_msg_init(&reply);
	struct err e;
	int rc = 0;
	void *map = NULL;
	size_t maplen = 0;
	int drc = smtp_request_decode(m, &req, &e);
	if (drc == -1) {
		/* CONVENTIONS 5: log and close, never act on part of it. */
		log_error("malformed request from qmgr: %s", e.msg);
		rc = -1;
		goto out;
	}
	if (drc == -2) {
		/* Well-formed, but the reply could not carry the results. */
		log_warn("request from qmgr refused: %s", e.msg);
		ipc_msg_begin_reply(&reply, "error");
		(void)ipc_put_str(&reply, "reason", e.msg);
	} else if (!(map = map_queue_file(&req, &maplen, &e))) {
		log_warn("%s: %s", req.queue_id, e.msg);
		ipc_msg_begin_reply(&reply, "defer");
		(void)ipc_put_str(&reply, "reason", "queue file unavailable");
	} else {
		deliver(&req);
		log_results(&req);
		build_reply(&req, &reply);
	}
	if (ipc_client_send(c, &reply, &e) < 0) {
		log_warn("reply to qmgr: %s", e.msg);
		rc = -1;
	}
out:
	if (map && maplen)
		munmap(map, maplen);
	ipc_msg_deinit(&reply);
	arena_free(&req.arena);
	return rc;
}

/* Waits for qmgr's next request. While a connection is cached, wakes up
 * after smtp_connection_cache_time_limit to close it. 1 readable, 0 the
 * service is stopping, -1 poll failed. */
static int wait_request(int fd)
{
	for (;;) {
		if (service_stopping())
			return 0;
		int ms = -1;
		if (cached)
			ms = (int)(params->smtp_connection_cache_time_limit *
			           1000);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc == 0) {
			smtp_session_close(&cached, true);
			continue;
		}
		return 1;
	}
}

/* Sends the queued greeting, waiting for the socket as needed. */
static int flush_greeting(struct ipc_client *c)
{
	for (;;) {
		int rc = ipc_conn_flush(&c->conn);
		if (rc != 0)
			return rc > 0 ? 0 : -1;
		struct pollfd pfd = {.fd = c->conn.fd, .events = POLLOUT};
		if (poll(&pfd, 1, c->timeout_ms) <= 0 && errno != EINTR)
			return -1;
	}
}

void smtp_deliver_serve(int fd)
{
	struct ipc_client c;
	struct err e;
	memset(&c, 0, sizeof(c));
	ipc_conn_init(&c.conn, fd, "qmgr");
	c.timeout_ms = (int)(params->ipc_timeout * 1000);
	struct ipc_msg m;
	ipc_msg_init(&m);
	int rc = ipc_conn_greet(&c.conn, DELIVER_PROTO, DELIVER_PROTO_VERSION) <
	                         0
	                 ? -1
	                 : flush_greeting(&c);
	while (rc >= 0) {
		if (c.conn.in.len == 0 && wait_request(fd) <= 0)
			break;
		if (ipc_client_recv(&c, &m, &e) < 0) {
			if (!strstr(e.msg, "closed by peer"))
				log_warn("%s", e.msg);
			break;
		}
		rc = handle(&c, &m);
	}
	ipc_msg_deinit(&m);
	ipc_conn_deinit(&c.conn);
}

void smtp_deliver_shutdown(void)
{
	smtp_session_close(&cached, true);
}
