/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTP_SMTP_H
#define POSTHORN_SMTP_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/dns.h"
#include "common/err.h"
#include "common/ipc.h"
#include "common/nexthop.h"
#include "common/proto_deliver.h"
#include "common/tls.h"

#include "smtp_tls.h"

/*
 * The smtp delivery agent's shared types: one delivery request (one
 * message, the recipients for one next hop) with a result per recipient,
 * the hosts to try, and the process-wide state smtp.c sets up in init.
 */

/* ---- per-recipient results -------------------------------------------- */

/* Recipients in one request: the reply carries six attributes for each
 * after status=, within IPC_ATTR_MAX (proto_deliver.h allows more than
 * a reply can hold; qmgr's default_destination_recipient_limit is 50). */
#define SMTP_RCPT_MAX DELIVER_RCPT_MAX

enum smtp_result {
	SMTP_RES_NONE,   /* not tried yet */
	SMTP_RES_SENT,   /* 2xx */
	SMTP_RES_DEFER,  /* 4xx or a failure to get there */
	SMTP_RES_BOUNCE, /* 5xx or a permanent routing failure */
};

struct smtp_rcpt {
	const char *id; /* qmgr's handle */
	const char *addr;
	const char *orcpt;  /* "type;addr" or "" */
	const char *notify; /* "" or "SUCCESS,FAILURE", "NEVER" ... */
	enum smtp_result result;
	/* A DEFER is final only at the last host: until then it may still
	 * be delivered by the next one (RFC 5321 5.1). */
	bool final;
	bool accepted; /* RCPT 2xx in the current transaction */
	char dsn[12];
	const char *reason; /* request arena */
	const char *relay;  /* request arena */
};

enum smtp_body_type {
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

struct smtp_request {
	struct arena *arena; /* everything below lives in it */
	const char *queue_id;
	const char *queue_file;
	const char *sender;
	uint64_t arrival;
	uint64_t size;
	enum smtp_body_type body;
	bool smtputf8;
	const char *envid;        /* NULL when absent */
	const char *ret;          /* NULL, "FULL" or "HDRS" */
	/* The recipients' delivered-to chain (proto_deliver.h; checked
	 * by queue_dlvto_safe), NULL when none: the copy sent carries a
	 * Delivered-To: line for each address. */
	const char *dlvto;
	const char *nexthop_text; /* as qmgr sent it */
	struct nexthop nexthop;
	char nexthop_key[NEXTHOP_HOST_MAX + 16]; /* nexthop_format() */
	struct smtp_rcpt *rcpt;
	size_t nrcpt;
	/* The message, LF line ends, mapped read-only. */
	const char *data;
	size_t len;
	int has_8bit; /* -1 not yet known, else 0/1 */
	/* smtp_tls_security_level, or the next hop's smtp_tls_policy_maps
	 * entry (strings in arena). */
	struct smtp_tls_policy tls;
};

/*
 * Records a result for r unless it already has a final one. final false
 * keeps a DEFER open for the next host. reason is formatted into the
 * request arena (cut at DELIVER_REASON_MAX).
 */
void smtp_rcpt_set(struct smtp_request *req, struct smtp_rcpt *r,
                   enum smtp_result res, bool final, const char *dsn,
                   const char *relay, const char *fmt, ...)
        __attribute__((format(printf, 7, 8)));
/* The same for every recipient without a final result. */
void smtp_rcpt_set_all(struct smtp_request *req, enum smtp_result res,
                       bool final, const char *dsn, const char *relay,
                       const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));
/* Recipients without a final result. */
size_t smtp_rcpt_pending(const struct smtp_request *req);

/* True when the message holds a byte with the high bit set (cached). */
bool smtp_request_has_8bit(struct smtp_request *req);

/* ---- hosts to try ----------------------------------------------------- */

struct smtp_target {
	char host[DNS_NAME_MAX + 1]; /* MX host name, or the address */
	struct dns_addr addr;
	unsigned port;
	unsigned pref;
};

/* The lookups smtp_route needs, so tests can answer them. */
struct smtp_resolver {
	enum dns_status (*mx)(void *ctx, const char *domain,
	                      struct dns_result *res);
	enum dns_status (*addr)(void *ctx, const char *host,
	                        struct dns_result *res);
	void *ctx;
};

enum smtp_addr_pref {
	SMTP_PREF_ANY,
	SMTP_PREF_IPV4,
	SMTP_PREF_IPV6,
};

struct smtp_route_config {
	const struct smtp_resolver *resolver;
	unsigned default_port;
	size_t addr_limit; /* smtp_mx_address_limit */
	enum smtp_addr_pref pref;
	const char *myhostname;
	/* True when a is an address this machine receives mail on. */
	bool (*is_mine)(void *ctx, const struct dns_addr *a);
	void *mine_ctx;
	/* Random source for tie-breaking (NULL: arc4random). */
	uint32_t (*rnd)(void *ctx);
	void *rnd_ctx;
};

enum smtp_route_status {
	SMTP_ROUTE_OK,
	SMTP_ROUTE_DEFER,
	SMTP_ROUTE_BOUNCE,
};

struct smtp_route {
	enum smtp_route_status status;
	char dsn[12];
	char reason[512];
	struct smtp_target *t; /* in the order to try; free with deinit */
	size_t n;
};

/*
 * Builds the list of addresses to try for nh: its MX hosts in preference
 * order (ties shuffled) with their addresses, or the domain itself when
 * it has no MX (implicit MX), or a [host]'s own addresses, at most
 * addr_limit of them, each address once. MX hosts from our own
 * preference on are dropped (this machine is one of them, by name or
 * address); when that leaves none, the route bounces 5.4.6. Null MX
 * bounces 5.1.10, a domain that does not exist 5.1.2, hosts that do not
 * exist 5.4.4; temporary DNS failures defer 4.4.3. Returns out->status.
 */
enum smtp_route_status smtp_route_build(const struct smtp_route_config *cfg,
                                        const struct nexthop *nh,
                                        struct smtp_route *out);
void smtp_route_deinit(struct smtp_route *r);
/* Parses smtp_address_preference; -1 when invalid. */
int smtp_route_parse_pref(const char *s, enum smtp_addr_pref *out);

/* ---- process state (smtp.c) ------------------------------------------- */

struct maplist;

struct smtp_state {
	struct dns_resolver *dns;
	struct smtp_resolver resolver;
	struct smtp_route_config route;
	/* NULL when neither smtp_tls_security_level nor a policy table can
	 * ask for TLS. Every level uses it (tls_peer.level). */
	struct tls_ctx *tls;
	enum tls_level tls_level;       /* smtp_tls_security_level */
	struct maplist *tls_policy;     /* smtp_tls_policy_maps, or NULL */
	struct smtp_tls_cache *tls_cache; /* sessions to resume */
	struct maplist *sasl_passwords; /* NULL unless auth is enabled */
	struct dns_addr *mine;          /* addresses we receive mail on */
	size_t nmine;
};

extern struct smtp_state smtp_state;

/*
 * Checks and decodes one delivery request from qmgr into req (whose
 * arena the caller made; strings point into m or the arena). 0 ok; -1
 * malformed (e set: log it and close the connection); -2 well-formed
 * but with more recipients than a reply can carry (e set: answer
 * status=error). On 0: queue id, sender, ENVID and every recipient
 * field are free of control characters and bounded, queue_file stays
 * inside the queue directory, nexthop is parsed (nexthop_key its
 * canonical text), 1..SMTP_RCPT_MAX recipients with non-empty addresses.
 */
int smtp_request_decode(const struct ipc_msg *m, struct smtp_request *req,
                        struct err *e);

/* Serves one qmgr connection: requests until EOF (smtp_deliver.c). */
void smtp_deliver_serve(int fd);
/* Closes a cached connection, if any (at exit). */
void smtp_deliver_shutdown(void);

#endif
