/* SPDX-License-Identifier: MIT */
/*
 * queue_env.c - the envelope and recipient attributes, both directions
 *
 * One encoding of a queued message's envelope serves the commit request
 * (proto_qmgr.c) and the queue index records (queue_index.c). Decoding is
 * strict because the bytes come from another process or from disk: every
 * string is bounded and checked, every number range-checked, and repeated
 * per-recipient attributes must line up exactly. Not responsible for
 * message framing or versions (the callers own those).
 */
#include "common/queue_env.h"

#include <inttypes.h>
#include <string.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto_qmgr.h"
#include "common/str.h"
#include "common/xalloc.h"

static const char *const body_names[] = {"7bit", "8bitmime", "binarymime"};
static const char *const ret_names[] = {"", "full", "hdrs"};
static const char *const status_names[] = {"pending", "deferred", "sent",
                                           "bounced"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int name_parse(const char *const *names, size_t n, const char *s,
                      int *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0) {
			*out = (int)i;
			return 0;
		}
	return -1;
}

const char *queue_body_name(enum queue_body b)
{
	return (size_t)b < NELEM(body_names) ? body_names[b] : "?";
}

int queue_body_parse(const char *s, enum queue_body *out)
{
	int v;
	if (name_parse(body_names, NELEM(body_names), s, &v) < 0)
		return -1;
	*out = (enum queue_body)v;
	return 0;
}

const char *queue_ret_name(enum queue_ret r)
{
	return (size_t)r < NELEM(ret_names) ? ret_names[r] : "?";
}

int queue_ret_parse(const char *s, enum queue_ret *out)
{
	int v;
	if (!s[0] || name_parse(ret_names, NELEM(ret_names), s, &v) < 0)
		return -1;
	*out = (enum queue_ret)v;
	return 0;
}

const char *queue_rcpt_status_name(enum queue_rcpt_status s)
{
	return (size_t)s < NELEM(status_names) ? status_names[s] : "?";
}

int queue_rcpt_status_parse(const char *s, enum queue_rcpt_status *out)
{
	int v;
	if (name_parse(status_names, NELEM(status_names), s, &v) < 0)
		return -1;
	*out = (enum queue_rcpt_status)v;
	return 0;
}

bool queue_addr_safe(const char *s, size_t len)
{
	bool quoted = false;
	if (len > QUEUE_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* Controls would split log lines and header fields; 0x80+
		 * is allowed for SMTPUTF8 addresses. */
		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			return false;
		if (c == '"')
			quoted = !quoted;
		else if (c == '\\' && quoted && i + 1 < len) {
			/* An escaped byte is a byte of the line all the
			 * same: "a\<LF>"@b is no safer than a<LF>@b. */
			c = (unsigned char)s[++i];
			if (c < 0x20 || c == 0x7f)
				return false;
		} else if (c == ' ' && !quoted)
			return false;
	}
	return true;
}

bool queue_dlvto_safe(const char *s, size_t len)
{
	size_t n = 0, start = 0;
	if (len == 0 || len > QUEUE_DLVTO_MAX * (QUEUE_ADDR_MAX + 1))
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '\n')
			continue;
		/* An empty address: a leading, trailing or doubled LF. */
		if (i == start || !queue_addr_safe(s + start, i - start) ||
		    ++n > QUEUE_DLVTO_MAX)
			return false;
		start = i + 1;
	}
	return true;
}

int queue_dlvto_next(const char *s, size_t len, size_t *pos,
                     const char **addr, size_t *alen)
{
	if (*pos >= len)
		return 0;
	const char *p = s + *pos;
	const char *nl = memchr(p, '\n', len - *pos);
	*addr = p;
	*alen = nl ? (size_t)(nl - p) : len - *pos;
	*pos += *alen + 1;
	return 1;
}

static bool text_safe(const char *s, size_t len, size_t max)
{
	if (len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* ---- envelope ------------------------------------------------------ */

static int put_opt(struct ipc_msg *m, const char *name, const char *v)
{
	if (!v || !v[0])
		return 0;
	return ipc_put_str(m, name, v);
}

int queue_env_encode(struct ipc_msg *m, const struct queue_envelope *env)
{
	int rc = 0;
	rc |= ipc_put_str(m, QMGR_ATTR_SENDER, env->sender ? env->sender : "");
	rc |= ipc_put_u64(m, QMGR_ATTR_SIZE, env->size);
	rc |= ipc_put_i64(m, QMGR_ATTR_ARRIVAL, env->arrival_us);
	rc |= put_opt(m, QMGR_ATTR_CLIENT_NAME, env->client_name);
	rc |= put_opt(m, QMGR_ATTR_CLIENT_ADDR, env->client_addr);
	rc |= put_opt(m, QMGR_ATTR_HELO, env->helo);
	rc |= put_opt(m, QMGR_ATTR_PROTOCOL, env->protocol);
	rc |= put_opt(m, QMGR_ATTR_SASL_USER, env->sasl_user);
	rc |= put_opt(m, QMGR_ATTR_ENVID, env->envid);
	if (env->ret != QUEUE_RET_DEFAULT)
		rc |= ipc_put_str(m, QMGR_ATTR_RET, queue_ret_name(env->ret));
	if (env->body != QUEUE_BODY_7BIT)
		rc |= ipc_put_str(m, QMGR_ATTR_BODY,
		                  queue_body_name(env->body));
	if (env->smtputf8)
		rc |= ipc_put_str(m, QMGR_ATTR_SMTPUTF8, "1");
	if (env->hold)
		rc |= ipc_put_str(m, QMGR_ATTR_HOLD, "1");
	if (env->bounce)
		rc |= ipc_put_str(m, QMGR_ATTR_BOUNCE, "1");
	return rc ? -1 : 0;
}

/* An optional text attribute: 0 absent (*out NULL), 1 ok, -1 bad. */
static int get_text(const struct ipc_msg *m, const char *name, size_t max,
                    bool addr, struct arena *a, const char **out, struct err *e)
{
	const char *v;
	size_t len;
	*out = NULL;
	int rc = ipc_get_bytes(m, name, &v, &len);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		err_set(e, "attribute %s repeated", name);
		return -1;
	}
	if (addr ? !queue_addr_safe(v, len) : !text_safe(v, len, max)) {
		err_set(e, "attribute %s: bad value", name);
		return -1;
	}
	*out = arena_memdup(a, v, len);
	return 1;
}

static int get_flag(const struct ipc_msg *m, const char *name, bool *out,
                    struct err *e)
{
	uint64_t v = 0;
	int rc = ipc_get_u64(m, name, 0, 1, &v);
	if (rc < 0) {
		err_set(e, "attribute %s: not 0 or 1", name);
		return -1;
	}
	*out = v != 0;
	return 0;
}

static int get_enum(const struct ipc_msg *m, const char *name,
                    int (*parse)(const char *, int *), int *out, struct err *e)
{
	const char *s;
	int rc = ipc_get_str(m, name, &s);
	if (rc == 0)
		return 0;
	if (rc < 0 || parse(s, out) < 0) {
		err_set(e, "attribute %s: bad value", name);
		return -1;
	}
	return 0;
}

static int parse_ret(const char *s, int *out)
{
	enum queue_ret r;
	if (queue_ret_parse(s, &r) < 0)
		return -1;
	*out = (int)r;
	return 0;
}

static int parse_body(const char *s, int *out)
{
	enum queue_body b;
	if (queue_body_parse(s, &b) < 0)
		return -1;
	*out = (int)b;
	return 0;
}

static int required(int rc, const char *name, struct err *e)
{
	if (rc == 1)
		return 0;
	err_set(e, rc == 0 ? "attribute %s missing" : "attribute %s invalid",
	        name);
	return -1;
}

int queue_env_decode(const struct ipc_msg *m, struct arena *a,
                     struct queue_envelope *env, struct err *e)
{
	static const struct {
		const char *name;
		size_t off;
		size_t max;
		bool addr;
	} texts[] = {
	        {QMGR_ATTR_CLIENT_NAME,
	         offsetof(struct queue_envelope, client_name), QUEUE_TEXT_MAX,
	         false},
	        {QMGR_ATTR_CLIENT_ADDR,
	         offsetof(struct queue_envelope, client_addr), QUEUE_TEXT_MAX,
	         false},
	        {QMGR_ATTR_HELO, offsetof(struct queue_envelope, helo),
	         QUEUE_TEXT_MAX, false},
	        {QMGR_ATTR_PROTOCOL, offsetof(struct queue_envelope, protocol),
	         64, false},
	        {QMGR_ATTR_SASL_USER,
	         offsetof(struct queue_envelope, sasl_user), QUEUE_TEXT_MAX,
	         false},
	        {QMGR_ATTR_ENVID, offsetof(struct queue_envelope, envid),
	         QUEUE_ENVID_MAX, false},
	};
	int64_t arrival;
	uint64_t size;
	int v;

	if (required(get_text(m, QMGR_ATTR_SENDER, QUEUE_ADDR_MAX, true, a,
	                      &env->sender, e),
	             QMGR_ATTR_SENDER, e) < 0)
		return -1;
	if (required(ipc_get_u64(m, QMGR_ATTR_SIZE, 0, UINT64_MAX >> 1, &size),
	             QMGR_ATTR_SIZE, e) < 0 ||
	    required(ipc_get_i64(m, QMGR_ATTR_ARRIVAL, 0, INT64_MAX, &arrival),
	             QMGR_ATTR_ARRIVAL, e) < 0)
		return -1;
	env->size = size;
	env->arrival_us = arrival;
	for (size_t i = 0; i < NELEM(texts); i++) {
		const char **field =
		        (const char **)((char *)env + texts[i].off);
		if (get_text(m, texts[i].name, texts[i].max, texts[i].addr, a,
		             field, e) < 0)
			return -1;
	}
	env->ret = QUEUE_RET_DEFAULT;
	v = QUEUE_RET_DEFAULT;
	if (get_enum(m, QMGR_ATTR_RET, parse_ret, &v, e) < 0)
		return -1;
	env->ret = (enum queue_ret)v;
	v = QUEUE_BODY_7BIT;
	if (get_enum(m, QMGR_ATTR_BODY, parse_body, &v, e) < 0)
		return -1;
	env->body = (enum queue_body)v;
	if (get_flag(m, QMGR_ATTR_SMTPUTF8, &env->smtputf8, e) < 0 ||
	    get_flag(m, QMGR_ATTR_HOLD, &env->hold, e) < 0 ||
	    get_flag(m, QMGR_ATTR_BOUNCE, &env->bounce, e) < 0)
		return -1;
	return 0;
}

/* ---- recipients ---------------------------------------------------- */

int queue_rcpts_encode(struct ipc_msg *m, const struct queue_rcpt *rcpts,
                       size_t n, bool full)
{
	int rc = 0;
	bool chains = false;
	for (size_t i = 0; full && i < n; i++)
		if (rcpts[i].delivered_to && rcpts[i].delivered_to[0])
			chains = true;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct queue_rcpt *r = &rcpts[i];
		rc |= ipc_put_str(m, QMGR_ATTR_RCPT,
		                  r->address ? r->address : "");
		rc |= ipc_put_str(m, QMGR_ATTR_ORCPT, r->orcpt ? r->orcpt : "");
		rc |= ipc_put_u64(m, QMGR_ATTR_NOTIFY, r->notify);
		if (!full)
			continue;
		rc |= ipc_put_str(m, QMGR_ATTR_RCPT_STATUS,
		                  queue_rcpt_status_name(r->status));
		rc |= ipc_put_u64(m, QMGR_ATTR_ATTEMPTS, r->attempts);
		rc |= ipc_put_i64(m, QMGR_ATTR_LAST_ATTEMPT, r->last_attempt);
		rc |= ipc_put_str(m, QMGR_ATTR_DSN, r->dsn ? r->dsn : "");
		rc |= ipc_put_str(m, QMGR_ATTR_REASON_TEXT,
		                  r->reason ? r->reason : "");
		if (chains)
			rc |= ipc_put_str(m, QMGR_ATTR_DELIVERED_TO,
			                  r->delivered_to ? r->delivered_to
			                                  : "");
	}
	return rc ? -1 : 0;
}

enum rfield {
	RF_RCPT,
	RF_ORCPT,
	RF_NOTIFY,
	RF_STATUS,
	RF_ATTEMPTS,
	RF_LAST,
	RF_DSN,
	RF_REASON,
	RF_DLVTO,
	RF_COUNT,
};

static const char *const rfield_names[RF_COUNT] = {
        QMGR_ATTR_RCPT,        QMGR_ATTR_ORCPT,       QMGR_ATTR_NOTIFY,
        QMGR_ATTR_RCPT_STATUS, QMGR_ATTR_ATTEMPTS,    QMGR_ATTR_LAST_ATTEMPT,
        QMGR_ATTR_DSN,         QMGR_ATTR_REASON_TEXT, QMGR_ATTR_DELIVERED_TO,
};

static int rfield_of(const char *name, bool full)
{
	int n = full ? RF_COUNT : RF_STATUS;
	for (int i = 0; i < n; i++)
		if (strcmp(rfield_names[i], name) == 0)
			return i;
	return -1;
}

/* Stores value v of field f into r. 0, or -1 with e set. */
static int rfield_set(struct queue_rcpt *r, int f, const char *v, size_t len,
                      struct arena *a, struct err *e)
{
	uint64_t u;
	switch (f) {
	case RF_RCPT:
		if (len == 0 || !queue_addr_safe(v, len))
			goto bad;
		r->address = arena_memdup(a, v, len);
		return 0;
	case RF_ORCPT:
		if (!text_safe(v, len, QUEUE_ADDR_MAX))
			goto bad;
		r->orcpt = len ? arena_memdup(a, v, len) : NULL;
		return 0;
	case RF_NOTIFY:
		if (parse_uintn(v, len, 0, QUEUE_NOTIFY_ALL, &u) < 0 ||
		    ((u & QUEUE_NOTIFY_NEVER) && u != QUEUE_NOTIFY_NEVER))
			goto bad;
		r->notify = (unsigned)u;
		return 0;
	case RF_STATUS: {
		char buf[16];
		enum queue_rcpt_status st;
		if (len >= sizeof(buf))
			goto bad;
		memcpy(buf, v, len);
		buf[len] = 0;
		if (strlen(buf) != len || queue_rcpt_status_parse(buf, &st) < 0)
			goto bad;
		r->status = st;
		return 0;
	}
	case RF_ATTEMPTS:
		if (parse_uintn(v, len, 0, UINT32_MAX, &u) < 0)
			goto bad;
		r->attempts = (uint32_t)u;
		return 0;
	case RF_LAST:
		if (parse_uintn(v, len, 0, INT64_MAX, &u) < 0)
			goto bad;
		r->last_attempt = (int64_t)u;
		return 0;
	case RF_DSN:
		if (!text_safe(v, len, 32))
			goto bad;
		r->dsn = len ? arena_memdup(a, v, len) : NULL;
		return 0;
	case RF_REASON:
		if (!text_safe(v, len, QUEUE_TEXT_MAX))
			goto bad;
		r->reason = len ? arena_memdup(a, v, len) : NULL;
		return 0;
	case RF_DLVTO:
		if (len && !queue_dlvto_safe(v, len))
			goto bad;
		r->delivered_to = len ? arena_memdup(a, v, len) : NULL;
		return 0;
	}
bad:
	err_set(e, "attribute %s: bad value", rfield_names[f]);
	return -1;
}

int queue_rcpts_decode(const struct ipc_msg *m, struct arena *a,
                       struct queue_rcpt **list, size_t *n, size_t *cap,
                       size_t max, bool full, struct err *e)
{
	size_t count[RF_COUNT] = {0};
	size_t k = ipc_count(m, QMGR_ATTR_RCPT);
	for (int f = 0; f < RF_COUNT; f++) {
		if (!full && f >= RF_STATUS)
			break;
		count[f] = ipc_count(m, rfield_names[f]);
		if (f > RF_RCPT && count[f] != 0 && count[f] != k) {
			err_set(e, "%zu %s values for %zu recipients", count[f],
			        rfield_names[f], k);
			return -1;
		}
	}
	if (k > max || *n > max - k) {
		err_set(e, "more than %zu recipients", max);
		return -1;
	}
	if (k == 0)
		return 0;
	size_t base = *n, need = *n + k;
	if (need > *cap) {
		size_t ncap = *cap ? *cap : 16, bytes;
		while (ncap < need)
			ncap *= 2;
		if (size_mul(ncap, sizeof(**list), &bytes) < 0)
			log_panic("recipient array overflow");
		struct queue_rcpt *nl = arena_alloc(a, bytes);
		if (*n)
			memcpy(nl, *list, *n * sizeof(**list));
		*list = nl;
		*cap = ncap;
	}
	memset(*list + base, 0, k * sizeof(**list));
	size_t idx[RF_COUNT] = {0};
	for (size_t i = 0; i < m->nattrs; i++) {
		const struct ipc_attr *at = &m->attrs[i];
		int f = rfield_of(at->name, full);
		if (f < 0)
			continue;
		if (rfield_set(*list + base + idx[f], f, at->value,
		               at->value_len, a, e) < 0)
			return -1;
		idx[f]++;
	}
	*n = need;
	return 0;
}
