/* SPDX-License-Identifier: MIT */
/*
 * smtp.c - the smtp delivery agent: main, service definition, start-up
 *
 * A one-client service on private/smtp: each process serves one qmgr
 * connection at a time, one delivery request at a time (qmgr opens
 * several connections for concurrency). Start-up reads the TLS CA file,
 * the TLS policy and SASL password tables while still privileged, then, as
 * mail_owner, opens the c-ares resolver (never across a fork) and learns
 * which addresses are ours for loop detection.
 * Requests and results: smtp_deliver.c; routing: smtp_route.c; the SMTP
 * dialogue: smtp_session.c and smtp_proto.c.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/map.h"
#include "common/params.h"
#include "common/service.h"
#include "common/tls.h"
#include "common/xalloc.h"

#include "smtp.h"

static enum dns_status resolve_mx(void *ctx, const char *domain,
                                  struct dns_result *res)
{
	return dns_lookup_mx(ctx, domain, res);
}

static enum dns_status resolve_addr(void *ctx, const char *host,
                                    struct dns_result *res)
{
	return dns_lookup_addr(ctx, host, DNS_FAMILY_ANY, res);
}

static bool addr_equal(const struct dns_addr *a, const struct dns_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->a.v4.s_addr == b->a.v4.s_addr;
	return memcmp(&a->a.v6, &b->a.v6, sizeof(a->a.v6)) == 0;
}

static bool is_mine(void *ctx, const struct dns_addr *a)
{
	(void)ctx;
	for (size_t i = 0; i < smtp_state.nmine; i++)
		if (addr_equal(&smtp_state.mine[i], a))
			return true;
	return false;
}

static void add_mine(const struct dns_addr *a)
{
	if (is_mine(NULL, a))
		return;
	smtp_state.mine =
	        xrealloc(smtp_state.mine,
	                 (smtp_state.nmine + 1) * sizeof(struct dns_addr));
	smtp_state.mine[smtp_state.nmine++] = *a;
}

/* The addresses smtpd receives mail on, as Postfix finds them: the
 * inet_interfaces addresses, or every interface's for "all". */
static void learn_my_addresses(void)
{
	const struct strv *ifs = &params->inet_interfaces;
	for (size_t i = 0; i < ifs->n; i++) {
		const char *v = ifs->v[i];
		struct dns_addr a;
		if (str_eq_nocase(v, "all")) {
			struct ifaddrs *list, *ifa;
			if (getifaddrs(&list) < 0) {
				log_warn("getifaddrs: %m");
				continue;
			}
			for (ifa = list; ifa; ifa = ifa->ifa_next) {
				if (!ifa->ifa_addr)
					continue;
				int fam = ifa->ifa_addr->sa_family;
				if (fam != AF_INET && fam != AF_INET6)
					continue;
				memset(&a, 0, sizeof(a));
				a.family = fam;
				if (fam == AF_INET)
					a.a.v4 = ((struct sockaddr_in *)(void *)
					                  ifa->ifa_addr)
					                 ->sin_addr;
				else
					a.a.v6 =
					        ((struct sockaddr_in6 *)(void *)
					                 ifa->ifa_addr)
					                ->sin6_addr;
				inet_ntop(fam, &a.a, a.text, sizeof(a.text));
				add_mine(&a);
			}
			freeifaddrs(list);
		} else if (str_eq_nocase(v, "loopback-only")) {
			(void)dns_parse_addr("127.0.0.1", &a);
			add_mine(&a);
			(void)dns_parse_addr("::1", &a);
			add_mine(&a);
		} else {
			char host[64];
			size_t n = strlen(v);
			if (n >= 2 && v[0] == '[' && v[n - 1] == ']' &&
			    n - 2 < sizeof(host)) {
				memcpy(host, v + 1, n - 2);
				host[n - 2] = '\0';
				v = host;
			}
			if (dns_parse_addr(v, &a))
				add_mine(&a);
			else
				log_warn("inet_interfaces: %s is not an "
				         "address; "
				         "not used for mail loop detection",
				         v);
		}
	}
}

static void smtp_init_privileged(void)
{
	struct err e;
	enum tls_level level;
	if (tls_level_parse(params->smtp_tls_security_level, &level) < 0)
		log_fatal("bad smtp_tls_security_level: %s",
		          params->smtp_tls_security_level);
	smtp_state.tls_level = level;
	/* Tables are opened here, like Postfix's, before a chroot. */
	if (params->smtp_tls_policy_maps.n > 0) {
		smtp_state.tls_policy =
		        maplist_open(&params->smtp_tls_policy_maps, &e);
		if (!smtp_state.tls_policy)
			log_fatal("smtp_tls_policy_maps: %s", e.msg);
	}
	/* A policy table may ask for TLS even when the default is none. */
	if (level != TLS_LEVEL_NONE || smtp_state.tls_policy) {
		struct tls_client_config cfg = {
		        .level = level,
		        .ca_file = params->smtp_tls_CAfile,
		        .protocols = params->smtp_tls_protocols,
		};
		smtp_state.tls = tls_client_ctx_new(&cfg, &e);
		if (!smtp_state.tls)
			log_fatal("smtp TLS: %s", e.msg);
	}
	/* Password tables may be readable by root only. */
	if (params->smtp_sasl_auth_enable &&
	    params->smtp_sasl_password_maps.n > 0) {
		smtp_state.sasl_passwords =
		        maplist_open(&params->smtp_sasl_password_maps, &e);
		if (!smtp_state.sasl_passwords)
			log_fatal("smtp_sasl_password_maps: %s", e.msg);
	}
}

static void smtp_init(struct event_loop *loop)
{
	(void)loop;
	struct err e;
	struct dns_config dc = {.servers = &params->dns_servers,
	                        .timeout_ms = params->smtp_dns_timeout * 1000};
	smtp_state.dns = dns_resolver_new(&dc, NULL, &e);
	if (!smtp_state.dns)
		log_fatal("%s", e.msg);
	smtp_state.resolver = (struct smtp_resolver){
	        .mx = resolve_mx, .addr = resolve_addr, .ctx = smtp_state.dns};
	enum smtp_addr_pref pref;
	if (smtp_route_parse_pref(params->smtp_address_preference, &pref) < 0)
		log_fatal("bad smtp_address_preference: %s",
		          params->smtp_address_preference);
	learn_my_addresses();
	smtp_state.tls_cache = smtp_tls_cache_new(
	        (size_t)params->smtp_tls_session_cache_limit,
	        params->smtp_tls_session_cache_timeout);
	smtp_state.route = (struct smtp_route_config){
	        .resolver = &smtp_state.resolver,
	        .default_port = (unsigned)params->smtp_tcp_port,
	        .addr_limit = (size_t)params->smtp_mx_address_limit,
	        .pref = pref,
	        .myhostname = params->myhostname,
	        .is_mine = is_mine,
	};
}

static void smtp_accept(struct service_client *c)
{
	smtp_deliver_serve(c->fd); /* closes the fd */
	c->fd = -1;
}

static void smtp_exit(void)
{
	smtp_deliver_shutdown();
	dns_resolver_free(&smtp_state.dns);
	maplist_close(&smtp_state.sasl_passwords);
	maplist_close(&smtp_state.tls_policy);
	smtp_tls_cache_free(&smtp_state.tls_cache);
	tls_ctx_free(&smtp_state.tls);
	free(smtp_state.mine);
}

static const struct service_def smtp_def = {
        .name = "smtp",
        .mode = SERVICE_ONE_CLIENT,
        .init_privileged = smtp_init_privileged,
        .init = smtp_init,
        .accept = smtp_accept,
        .exit_hook = smtp_exit,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &smtp_def);
}
