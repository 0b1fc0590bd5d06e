/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_NET_H
#define POSTHORN_COMMON_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/str.h"

/*
 * Socket helpers shared by master (which opens every listening socket),
 * the service skeleton (which accepts) and clients of private services.
 */

/* Text forms of a socket address: "127.0.0.1" / "::1" and "2525". */
struct net_addr {
	char addr[64];
	char port[8];
	int family; /* AF_INET, AF_INET6, AF_UNIX */
};

/* Fills out from a sockaddr. */
void net_addr_from(struct net_addr *out, const struct sockaddr *sa,
		   socklen_t len);

/*
 * Opens listening TCP sockets for host:port. host "" or "all" means every
 * address (one dual-stack IPv6 socket, or IPv4 when IPv6 is unavailable);
 * "loopback-only" means 127.0.0.1 and ::1 (when available); otherwise a
 * numeric address (IPv6 may be written in brackets). Appends fds to
 * fds_out (created close-on-exec, non-blocking, SO_REUSEADDR) and returns
 * the number opened, or -1 with e set (nothing left open).
 */
int net_listen_inet(const char *host, const char *port, int backlog,
		    int *fds_out, size_t max_fds, struct err *e);
/* Creates (replacing a stale one) a listening UNIX socket at path with the
 * given mode. fd or -1 with e set. */
int net_listen_unix(const char *path, int mode, int backlog, struct err *e);
/* Blocking connect to a UNIX socket; fd or -1 with e set. */
int net_connect_unix(const char *path, struct err *e);
/* Sets O_NONBLOCK on or off. 0 / -1. */
int net_set_nonblock(int fd, bool on);
/* True when addr (text, IPv4 or IPv6) lies in one of the networks of a
 * mynetworks-style list ("127.0.0.0/8", "[::1]/128", "10.1.2.3").
 * Unparseable list elements are ignored (config check reports them). */
bool net_addr_in_list(const char *addr, const struct strv *networks);
/* Checks one mynetworks element; 0 ok, -1 with e set. */
int net_cidr_check(const char *cidr, struct err *e);

#endif
