/* SPDX-License-Identifier: MIT */
/*
 * dns.c - MX, A/AAAA and PTR lookups on c-ares
 *
 * The only file that includes ares.h. It turns c-ares status codes into
 * the outcomes a mail system acts on (dns.h), keeps a lookup within its
 * time limit, and drives the c-ares channel either from its own poll()
 * loop (synchronous resolvers) or from the event loop (sockets reported
 * through ARES_OPT_SOCK_STATE_CB, timeouts through one timer).
 * It makes no routing decisions: implicit MX, loops and address
 * preferences belong to the smtp client. What one reply means
 * (dns_answer_*) is kept apart from the channel so the fuzz target can
 * feed it raw reply bytes.
 *
 * c-ares 1.18 quirks handled here: ares_getaddrinfo() for both families
 * at once reports only the status of the last answer (a SERVFAIL for A
 * followed by NODATA for AAAA would read as "no address"), so each family
 * is asked separately; and it applies search domains and /etc/hosts
 * unless told not to (ndomains 0, lookups "b").
 * Ownership: a struct dns_query lives from start to its callback; results
 * handed to callbacks are freed right after they return.
 * Over 800 lines on purpose: keeping every c-ares call in one file is the
 * point of the wrapper; name syntax and MX ordering live in dns_name.c.
 */
#include "common/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#define DNS_CLASS_IN 1
#define DNS_TYPE_PTR 12
#define DNS_TYPE_MX 15
#define DNS_SOCK_MAX 32
#define DNS_SERVERS_MAX 16

enum query_kind { Q_MX, Q_ADDR, Q_PTR };

struct dns_sock {
	int fd;
	bool readable, writable;
	struct event *ev;
};

struct dns_query {
	struct dns_resolver *r;
	enum query_kind kind;
	char name[DNS_NAME_MAX + 2];
	unsigned families_left; /* Q_ADDR: families still to ask */
	bool temp_seen;         /* Q_ADDR: a family failed temporarily */
	bool nodata_seen;       /* Q_ADDR: a family answered NODATA */
	char temp_why[128];
	struct dns_addr ptr_addr; /* Q_PTR */
	struct dns_result res;
	dns_done_fn done;
	void *ctx;
	bool finished;
	uint64_t deadline; /* sync: monotonic ms; 0 none */
	bool timed_out;
	struct dns_query *next; /* on the completed list */
};

struct dns_resolver {
	ares_channel ch;
	struct event_loop *loop;
	struct event *timer;  /* c-ares timeouts (loop mode) */
	struct event *finish; /* runs completed callbacks (loop mode) */
	struct dns_query *completed;
	struct dns_sock socks[DNS_SOCK_MAX];
	size_t nsocks;
	long timeout_ms;
};

static bool library_ready;

static uint64_t mono_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- names ------------------------------------------------------------ */

/* The name to ask for: s without a trailing dot, checked. */
static bool set_name(struct dns_query *q, const char *s)
{
	size_t len = strlen(s);
	if (!dns_valid_hostname(s, len))
		return false;
	if (s[len - 1] == '.')
		len--;
	memcpy(q->name, s, len);
	q->name[len] = '\0';
	return true;
}

/* "d.c.b.a.in-addr.arpa" or the ip6.arpa nibble form. */
static void reverse_name(const struct dns_addr *a, char *out, size_t outsz)
{
	struct buf b;
	buf_init(&b, outsz - 1);
	if (a->family == AF_INET) {
		const unsigned char *p = (const unsigned char *)&a->a.v4;
		(void)buf_printf(&b, "%u.%u.%u.%u.in-addr.arpa", p[3], p[2],
		                 p[1], p[0]);
	} else {
		const unsigned char *p = a->a.v6.s6_addr;
		static const char hex[] = "0123456789abcdef";
		for (int i = 15; i >= 0; i--)
			(void)buf_printf(&b, "%c.%c.", hex[p[i] & 0xf],
			                 hex[p[i] >> 4]);
		(void)buf_append_str(&b, "ip6.arpa");
	}
	snprintf(out, outsz, "%s", buf_cstr(&b));
	buf_deinit(&b);
}

/* ---- status mapping --------------------------------------------------- */

static void set_status(struct dns_result *res, enum dns_status st,
                       const char *why)
{
	res->status = st;
	snprintf(res->why, sizeof(res->why), "%s", why);
}

/* Maps a failed c-ares status; nodata_why is the text for ENODATA. */
static void map_status(struct dns_result *res, int status,
                       const char *nodata_why, bool timed_out)
{
	switch (status) {
	case ARES_ENODATA:
		set_status(res, DNS_NODATA, nodata_why);
		break;
	case ARES_ENOTFOUND:
		set_status(res, DNS_NXDOMAIN, "Host not found");
		break;
	case ARES_EBADNAME:
		set_status(res, DNS_BADNAME, "Malformed domain name");
		break;
	case ARES_EFORMERR:
	case ARES_EBADRESP:
		set_status(res, DNS_TEMPFAIL,
		           "Malformed or unexpected name server reply");
		break;
	case ARES_ETIMEOUT:
		set_status(res, DNS_TEMPFAIL,
		           "Host not found, try again (timeout)");
		break;
	case ARES_ECANCELLED:
		set_status(res, DNS_TEMPFAIL,
		           timed_out ? "Host not found, try again (timeout)"
		                     : "Host not found, try again "
		                       "(cancelled)");
		break;
	default:
		set_status(res, DNS_TEMPFAIL, "Host not found, try again");
		break;
	}
}

static void map_failure(struct dns_query *q, int status, const char *nodata_why)
{
	map_status(&q->res, status, nodata_why, q->timed_out);
}

/* ---- completion ------------------------------------------------------- */

static void query_free(struct dns_query *q)
{
	dns_result_deinit(&q->res);
	free(q);
}

/* The lookup is over: sync callers see q->finished; loop callers get
 * their callback from the finish timer, never from inside a start. */
static void complete(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	q->finished = true;
	if (!r->loop)
		return;
	q->next = r->completed;
	r->completed = q;
	event_timer_set(r->finish, 0);
}

static void on_finish(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	struct dns_resolver *r = ctx;
	/* Reverse to call back in completion order. */
	struct dns_query *list = NULL, *q;
	while ((q = r->completed)) {
		r->completed = q->next;
		q->next = list;
		list = q;
	}
	while ((q = list)) {
		list = q->next;
		q->done(&q->res, q->ctx);
		query_free(q);
	}
}

/* ---- replies to results (no channel: also driven by the fuzz target) -- */

void dns_answer_mx(const unsigned char *abuf, size_t alen, const char *name,
                   struct dns_result *res)
{
	struct ares_mx_reply *mx = NULL;
	int pst = alen > INT_MAX ? ARES_EBADRESP
	                         : ares_parse_mx_reply(abuf, (int)alen, &mx);
	if (pst != ARES_SUCCESS) {
		/* An answer that holds only a CNAME, say, is NODATA. */
		map_status(res, pst, "No MX record", false);
		return;
	}
	size_t n = 0, total = 0, null_mx = 0, bad = 0;
	for (struct ares_mx_reply *m = mx; m; m = m->next)
		total++;
	res->mx = xcalloc(total ? total : 1, sizeof(*res->mx));
	for (struct ares_mx_reply *m = mx; m && n < DNS_MX_MAX; m = m->next) {
		size_t len = strlen(m->host);
		if (len == 0 || (len == 1 && m->host[0] == '.')) {
			null_mx++; /* RFC 7505 exchange "." */
			continue;
		}
		if (!dns_valid_hostname(m->host, len)) {
			bad++;
			continue;
		}
		if (m->host[len - 1] == '.')
			len--;
		memcpy(res->mx[n].host, m->host, len);
		res->mx[n].host[len] = '\0';
		str_lower(res->mx[n].host);
		res->mx[n].pref = m->priority;
		n++;
	}
	ares_free_data(mx);
	res->nmx = n;
	if (null_mx && total == 1)
		set_status(res, DNS_NULLMX,
		           "Domain does not accept mail (null MX)");
	else if (n == 0)
		set_status(res, DNS_TEMPFAIL,
		           "Malformed or unexpected name server reply");
	else {
		if (bad)
			log_warn("%s: ignoring %zu malformed MX host name(s)",
			         name, bad);
		dns_mx_sort(res->mx, n, NULL, NULL);
		set_status(res, DNS_OK, "");
	}
}

/* Appends one address to res->addr (DNS_ADDR_MAX of them allocated);
 * false when it is full. */
static bool add_addr(struct dns_result *res, int family, const void *addr)
{
	if (res->naddr >= DNS_ADDR_MAX)
		return false;
	struct dns_addr *a = &res->addr[res->naddr++];
	memset(a, 0, sizeof(*a));
	a->family = family;
	if (family == AF_INET)
		memcpy(&a->a.v4, addr, sizeof(a->a.v4));
	else
		memcpy(&a->a.v6, addr, sizeof(a->a.v6));
	(void)inet_ntop(family, &a->a, a->text, sizeof(a->text));
	return true;
}

void dns_answer_addr(const unsigned char *abuf, size_t alen, int family,
                     struct dns_result *res)
{
	struct hostent *he = NULL;
	int pst;
	if (family != AF_INET && family != AF_INET6)
		pst = ARES_EBADFAMILY;
	else if (alen > INT_MAX)
		pst = ARES_EBADRESP;
	else if (family == AF_INET)
		pst = ares_parse_a_reply(abuf, (int)alen, &he, NULL, NULL);
	else
		pst = ares_parse_aaaa_reply(abuf, (int)alen, &he, NULL, NULL);
	if (!res->addr)
		res->addr = xcalloc(DNS_ADDR_MAX, sizeof(*res->addr));
	size_t before = res->naddr;
	if (pst == ARES_SUCCESS && he && he->h_addrtype == family)
		for (size_t i = 0; he->h_addr_list && he->h_addr_list[i]; i++)
			if (!add_addr(res, family, he->h_addr_list[i]))
				break;
	if (he)
		ares_free_hostent(he);
	if (res->naddr > before)
		set_status(res, DNS_OK, "");
	else
		map_status(res, pst == ARES_SUCCESS ? ARES_ENODATA : pst,
		           "No address associated with hostname", false);
}

void dns_answer_ptr(const unsigned char *abuf, size_t alen,
                    const struct dns_addr *a, struct dns_result *res)
{
	struct hostent *he = NULL;
	int pst = alen > INT_MAX
	                  ? ARES_EBADRESP
	                  : ares_parse_ptr_reply(abuf, (int)alen, &a->a,
	                                         a->family == AF_INET ? 4 : 16,
	                                         a->family, &he);
	if (pst != ARES_SUCCESS || !he) {
		map_status(res, pst, "No PTR record", false);
		return;
	}
	res->names = xcalloc(DNS_PTR_MAX, sizeof(char *));
	const char *first[2] = {he->h_name, NULL};
	char *const *lists[2] = {(char *const *)first, he->h_aliases};
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l] && lists[l][i]; i++) {
			const char *nm = lists[l][i];
			size_t len = strlen(nm);
			if (res->nnames >= DNS_PTR_MAX ||
			    !dns_valid_hostname(nm, len))
				continue;
			if (nm[len - 1] == '.')
				len--;
			bool dup = false;
			for (size_t k = 0; k < res->nnames; k++)
				if (strn_eq_nocase(nm, len, res->names[k]))
					dup = true;
			if (dup)
				continue;
			char *copy = xstrndup(nm, len);
			str_lower(copy);
			res->names[res->nnames++] = copy;
		}
	}
	ares_free_hostent(he);
	if (res->nnames)
		set_status(res, DNS_OK, "");
	else
		set_status(res, DNS_TEMPFAIL,
		           "Malformed or unexpected name server reply");
}

/* ---- answers ---------------------------------------------------------- */

/* The common start of an ares_query() callback: true when there is an
 * answer to parse; else the query was destroyed (freed here) or failed
 * (completed here with the mapped status). */
static bool answer_ok(struct dns_query *q, int status, const char *nodata_why)
{
	if (status == ARES_EDESTRUCTION) {
		free(q);
		return false;
	}
	if (status != ARES_SUCCESS) {
		map_failure(q, status, nodata_why);
		complete(q);
		return false;
	}
	return true;
}

static void mx_answer(void *arg, int status, int timeouts, unsigned char *abuf,
                      int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	if (!answer_ok(q, status, "No MX record"))
		return;
	dns_answer_mx(abuf, (size_t)alen, q->name, &q->res);
	complete(q);
}

static void addr_start_next(struct dns_query *q);

static void addr_finish(struct dns_query *q)
{
	struct dns_result *res = &q->res;
	if (res->naddr > 0)
		set_status(res, DNS_OK, "");
	else if (q->temp_seen)
		set_status(res, DNS_TEMPFAIL, q->temp_why);
	else if (q->nodata_seen)
		set_status(res, DNS_NODATA,
		           "No address associated with hostname");
	else
		set_status(res, DNS_NXDOMAIN, "Host not found");
	complete(q);
}

static void addr_answer(void *arg, int status, int timeouts,
                        struct ares_addrinfo *ai)
{
	(void)timeouts;
	struct dns_query *q = arg;
	if (status == ARES_EDESTRUCTION) {
		if (ai)
			ares_freeaddrinfo(ai);
		free(q);
		return;
	}
	if (status == ARES_SUCCESS && ai) {
		for (struct ares_addrinfo_node *n = ai->nodes; n;
		     n = n->ai_next) {
			const void *a;
			if (n->ai_family == AF_INET)
				a = &((struct sockaddr_in *)(void *)n->ai_addr)
				             ->sin_addr;
			else if (n->ai_family == AF_INET6)
				a = &((struct sockaddr_in6 *)(void *)n->ai_addr)
				             ->sin6_addr;
			else
				continue;
			if (!add_addr(&q->res, n->ai_family, a))
				break;
		}
	} else {
		/* Only status and why change; the address array stays. */
		map_failure(q, status, "No address associated with hostname");
		if (q->res.status == DNS_NODATA) {
			q->nodata_seen = true;
		} else if (q->res.status == DNS_NXDOMAIN) {
			/* The name does not exist in any family. */
			q->families_left = 0;
		} else {
			q->temp_seen = true;
			snprintf(q->temp_why, sizeof(q->temp_why), "%s",
			         q->res.why);
		}
	}
	if (ai)
		ares_freeaddrinfo(ai);
	if (q->families_left)
		addr_start_next(q);
	else
		addr_finish(q);
}

static void ptr_answer(void *arg, int status, int timeouts, unsigned char *abuf,
                       int alen)
{
	(void)timeouts;
	struct dns_query *q = arg;
	if (!answer_ok(q, status, "No PTR record"))
		return;
	dns_answer_ptr(abuf, (size_t)alen, &q->ptr_addr, &q->res);
	complete(q);
}

/* ---- starting lookups ------------------------------------------------- */

static void arm_deadline(struct dns_query *q)
{
	if (!q->r->loop)
		q->deadline = mono_ms() + (uint64_t)q->r->timeout_ms;
}

static void addr_start_next(struct dns_query *q)
{
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	if (q->families_left & DNS_FAMILY_V4) {
		q->families_left &= ~DNS_FAMILY_V4;
		hints.ai_family = AF_INET;
	} else {
		q->families_left &= ~DNS_FAMILY_V6;
		hints.ai_family = AF_INET6;
	}
	/* NOSORT: keep the DNS order; the caller applies its own
	 * preference (c-ares would connect() UDP sockets to sort). */
	hints.ai_flags = ARES_AI_NOSORT;
	arm_deadline(q);
	ares_getaddrinfo(q->r->ch, q->name, NULL, &hints, addr_answer, q);
}

static struct dns_query *query_new(struct dns_resolver *r, enum query_kind kind,
                                   dns_done_fn done, void *ctx)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->kind = kind;
	q->done = done;
	q->ctx = ctx;
	dns_result_init(&q->res);
	return q;
}

/* Finishes a lookup that needs no query (bad input, numeric host). */
static void finish_now(struct dns_query *q, enum dns_status st, const char *why)
{
	set_status(&q->res, st, why);
	complete(q);
}

static struct dns_query *start(struct dns_resolver *r, enum query_kind kind,
                               const char *name, unsigned families,
                               dns_done_fn done, void *ctx)
{
	struct dns_query *q = query_new(r, kind, done, ctx);
	switch (kind) {
	case Q_MX:
		if (!set_name(q, name)) {
			finish_now(q, DNS_BADNAME, "Malformed domain name");
			break;
		}
		arm_deadline(q);
		ares_query(r->ch, q->name, DNS_CLASS_IN, DNS_TYPE_MX, mx_answer,
		           q);
		break;
	case Q_ADDR: {
		struct dns_addr a;
		q->res.addr = xcalloc(DNS_ADDR_MAX, sizeof(*q->res.addr));
		if (dns_parse_addr(name, &a)) {
			bool want = (a.family == AF_INET &&
			             (families & DNS_FAMILY_V4)) ||
			            (a.family == AF_INET6 &&
			             (families & DNS_FAMILY_V6));
			if (want)
				q->res.addr[q->res.naddr++] = a;
			finish_now(q, want ? DNS_OK : DNS_NODATA,
			           want ? "" : "address of another family");
			break;
		}
		if (!set_name(q, name) || !(families & DNS_FAMILY_ANY)) {
			finish_now(q, DNS_BADNAME, "Malformed domain name");
			break;
		}
		q->families_left = families & DNS_FAMILY_ANY;
		addr_start_next(q);
		break;
	}
	case Q_PTR: {
		char rev[DNS_NAME_MAX + 1];
		if (!dns_parse_addr(name, &q->ptr_addr)) {
			finish_now(q, DNS_BADNAME, "Malformed address");
			break;
		}
		reverse_name(&q->ptr_addr, rev, sizeof(rev));
		snprintf(q->name, sizeof(q->name), "%s", rev);
		arm_deadline(q);
		ares_query(r->ch, q->name, DNS_CLASS_IN, DNS_TYPE_PTR,
		           ptr_answer, q);
		break;
	}
	}
	return q;
}

/* ---- socket bookkeeping ----------------------------------------------- */

static void rearm_timer(struct dns_resolver *r);

static void on_sock(struct event *ev, unsigned what, void *ctx)
{
	struct dns_resolver *r = ctx;
	int fd = event_fd(ev);
	ares_socket_t rfd =
	        (what & (EVENT_READ | EVENT_ERROR)) ? fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = (what & EVENT_WRITE) ? fd : ARES_SOCKET_BAD;
	ares_process_fd(r->ch, rfd, wfd);
	rearm_timer(r);
}

static void on_timer(struct event *ev, unsigned what, void *ctx)
{
	(void)ev;
	(void)what;
	struct dns_resolver *r = ctx;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_timer(r);
}

static void rearm_timer(struct dns_resolver *r)
{
	if (!r->loop || !r->timer)
		return;
	struct timeval tvbuf, *tv = ares_timeout(r->ch, NULL, &tvbuf);
	if (!tv) {
		event_timer_set(r->timer, -1);
		return;
	}
	long ms = (long)tv->tv_sec * 1000 + (long)(tv->tv_usec + 999) / 1000;
	event_timer_set(r->timer, ms);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	size_t i;
	for (i = 0; i < r->nsocks; i++)
		if (r->socks[i].fd == fd)
			break;
	if (!readable && !writable) {
		if (i == r->nsocks)
			return;
		event_del(&r->socks[i].ev);
		r->socks[i] = r->socks[--r->nsocks];
		return;
	}
	if (i == r->nsocks) {
		if (r->nsocks == DNS_SOCK_MAX) {
			/* Cannot happen with DNS_SERVERS_MAX servers (one
			 * UDP and one TCP socket each). */
			log_error("dns: too many resolver sockets");
			return;
		}
		r->socks[i] = (struct dns_sock){.fd = fd};
		r->nsocks++;
	}
	struct dns_sock *s = &r->socks[i];
	s->readable = readable;
	s->writable = writable;
	unsigned what =
	        (readable ? EVENT_READ : 0u) | (writable ? EVENT_WRITE : 0u);
	if (!r->loop)
		return;
	if (s->ev)
		event_fd_set(s->ev, what);
	else
		s->ev = event_add_fd(r->loop, fd, what, on_sock, r);
}

/* ---- the synchronous driver ------------------------------------------- */

static void run_sync(struct dns_resolver *r, struct dns_query *q)
{
	while (!q->finished) {
		uint64_t now = mono_ms();
		if (now >= q->deadline) {
			q->timed_out = true;
			ares_cancel(r->ch); /* calls back with ECANCELLED */
			continue;
		}
		struct timeval maxtv, tvbuf, *tv;
		uint64_t left = q->deadline - now;
		maxtv.tv_sec = (time_t)(left / 1000);
		maxtv.tv_usec = (suseconds_t)((left % 1000) * 1000);
		tv = ares_timeout(r->ch, &maxtv, &tvbuf);
		int ms = (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
		struct pollfd pfd[DNS_SOCK_MAX];
		nfds_t n = 0;
		for (size_t i = 0; i < r->nsocks; i++) {
			pfd[n].fd = r->socks[i].fd;
			pfd[n].events =
			        (short)((r->socks[i].readable ? POLLIN : 0) |
			                (r->socks[i].writable ? POLLOUT : 0));
			pfd[n].revents = 0;
			n++;
		}
		int rc = poll(pfd, n, ms);
		if (rc < 0 && errno != EINTR) {
			log_error("dns: poll: %s", strerror(errno));
			q->timed_out = true;
			ares_cancel(r->ch);
			continue;
		}
		if (rc <= 0) {
			ares_process_fd(r->ch, ARES_SOCKET_BAD,
			                ARES_SOCKET_BAD);
			continue;
		}
		/* ares_process_fd may close sockets and so change socks[];
		 * work from the copy in pfd. */
		for (nfds_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			ares_socket_t rfd =
			        (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			                ? pfd[i].fd
			                : ARES_SOCKET_BAD;
			ares_socket_t wfd = (pfd[i].revents & POLLOUT)
			                            ? pfd[i].fd
			                            : ARES_SOCKET_BAD;
			ares_process_fd(r->ch, rfd, wfd);
		}
	}
}

static enum dns_status lookup_sync(struct dns_resolver *r, enum query_kind kind,
                                   const char *name, unsigned families,
                                   struct dns_result *res)
{
	ASSERT(!r->loop);
	struct dns_query *q = start(r, kind, name, families, NULL, NULL);
	run_sync(r, q);
	dns_result_deinit(res);
	*res = q->res;
	free(q);
	return res->status;
}

enum dns_status dns_lookup_mx(struct dns_resolver *r, const char *domain,
                              struct dns_result *res)
{
	return lookup_sync(r, Q_MX, domain, 0, res);
}

enum dns_status dns_lookup_addr(struct dns_resolver *r, const char *host,
                                unsigned families, struct dns_result *res)
{
	return lookup_sync(r, Q_ADDR, host, families, res);
}

enum dns_status dns_lookup_ptr(struct dns_resolver *r, const char *addr,
                               struct dns_result *res)
{
	return lookup_sync(r, Q_PTR, addr, 0, res);
}

static int start_async(struct dns_resolver *r, enum query_kind kind,
                       const char *name, unsigned families, dns_done_fn done,
                       void *ctx)
{
	if (!r->loop || !done)
		return -1;
	(void)start(r, kind, name, families, done, ctx);
	rearm_timer(r);
	return 0;
}

int dns_start_mx(struct dns_resolver *r, const char *domain, dns_done_fn done,
                 void *ctx)
{
	return start_async(r, Q_MX, domain, 0, done, ctx);
}

int dns_start_addr(struct dns_resolver *r, const char *host, unsigned families,
                   dns_done_fn done, void *ctx)
{
	return start_async(r, Q_ADDR, host, families, done, ctx);
}

int dns_start_ptr(struct dns_resolver *r, const char *addr, dns_done_fn done,
                  void *ctx)
{
	return start_async(r, Q_PTR, addr, 0, done, ctx);
}

/* ---- resolver lifecycle ----------------------------------------------- */

/* dns_servers -> the CSV c-ares parses, checking each element first so
 * the error names the bad one. */
static int servers_csv(const struct strv *servers, struct buf *csv,
                       struct err *e)
{
	if (servers->n > DNS_SERVERS_MAX) {
		err_set(e, "dns_servers: more than %d servers",
		        DNS_SERVERS_MAX);
		return -1;
	}
	for (size_t i = 0; i < servers->n; i++) {
		const char *s = servers->v[i];
		char host[64];
		const char *port = NULL;
		size_t hlen;
		if (s[0] == '[') {
			const char *close = strchr(s, ']');
			if (!close) {
				err_set(e, "dns_servers: bad server %s", s);
				return -1;
			}
			hlen = (size_t)(close - s - 1);
			if (close[1] == ':')
				port = close + 2;
			else if (close[1]) {
				err_set(e, "dns_servers: bad server %s", s);
				return -1;
			}
			s++;
		} else {
			const char *colon = strchr(s, ':');
			if (colon && strchr(colon + 1, ':'))
				colon = NULL; /* bare IPv6, no port */
			hlen = colon ? (size_t)(colon - s) : strlen(s);
			port = colon ? colon + 1 : NULL;
		}
		uint64_t pn;
		if (hlen == 0 || hlen >= sizeof(host) ||
		    (port && parse_uint(port, 1, 65535, &pn) < 0)) {
			err_set(e, "dns_servers: bad server %s", servers->v[i]);
			return -1;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		struct dns_addr a;
		if (!dns_parse_addr(host, &a)) {
			err_set(e, "dns_servers: %s is not a numeric address",
			        host);
			return -1;
		}
		if (i)
			(void)buf_append_char(csv, ',');
		if (a.family == AF_INET6)
			(void)buf_printf(csv, "[%s]", a.text);
		else
			(void)buf_append_str(csv, a.text);
		(void)buf_printf(csv, ":%s", port ? port : "53");
	}
	return 0;
}

struct dns_resolver *dns_resolver_new(const struct dns_config *cfg,
                                      struct event_loop *loop, struct err *e)
{
	if (!library_ready) {
		int st = ares_library_init(ARES_LIB_INIT_ALL);
		if (st != ARES_SUCCESS) {
			err_set(e, "c-ares: %s", ares_strerror(st));
			return NULL;
		}
		library_ready = true;
	}
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;

	struct ares_options o;
	memset(&o, 0, sizeof(o));
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	           ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
	/* No search list: mail routing names are absolute (RFC 5321 5.1
	 * forbids partial names); DNS only, never /etc/hosts. */
	o.flags = ARES_FLAG_NOSEARCH;
	o.ndomains = 0;
	o.domains = NULL;
	o.lookups = (char *)"b";
	/* Two tries per server within the lookup's time limit; the
	 * synchronous driver also enforces the limit itself. */
	o.tries = 2;
	o.timeout = (int)(r->timeout_ms / 3 > 100 ? r->timeout_ms / 3 : 100);
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	int st = ares_init_options(&r->ch, &o, mask);
	if (st != ARES_SUCCESS) {
		err_set(e, "c-ares init: %s", ares_strerror(st));
		free(r);
		return NULL;
	}
	if (cfg->servers && cfg->servers->n > 0) {
		struct buf csv;
		buf_init(&csv, 4096);
		if (servers_csv(cfg->servers, &csv, e) < 0 ||
		    (st = ares_set_servers_ports_csv(r->ch, buf_cstr(&csv))) !=
		            ARES_SUCCESS) {
			if (st != ARES_SUCCESS)
				err_set(e, "dns_servers: %s",
				        ares_strerror(st));
			buf_deinit(&csv);
			ares_destroy(r->ch);
			free(r);
			return NULL;
		}
		buf_deinit(&csv);
	}
	if (loop) {
		r->timer = event_add_timer(loop, -1, on_timer, r);
		r->finish = event_add_timer(loop, -1, on_finish, r);
	}
	return r;
}

void dns_resolver_free(struct dns_resolver **rp)
{
	struct dns_resolver *r = *rp;
	if (!r)
		return;
	/* Pending queries are freed by their callbacks (EDESTRUCTION);
	 * completed ones not yet delivered are dropped here. */
	ares_destroy(r->ch);
	struct dns_query *q;
	while ((q = r->completed)) {
		r->completed = q->next;
		query_free(q);
	}
	for (size_t i = 0; i < r->nsocks; i++)
		event_del(&r->socks[i].ev);
	event_del(&r->timer);
	event_del(&r->finish);
	free(r);
	*rp = NULL;
}
