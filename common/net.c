/* SPDX-License-Identifier: MIT */
/*
 * net.c - listening sockets, UNIX-socket clients, address matching
 *
 * master opens every listening socket before forking, so these run as root
 * with the configuration's addresses; children only accept. Addresses are
 * always numeric here: host names in listening addresses would make start-up
 * depend on DNS.
 */
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/xalloc.h"

void net_addr_from(struct net_addr *out, const struct sockaddr *sa,
		   socklen_t len)
{
	out->addr[0] = out->port[0] = 0;
	out->family = sa->sa_family;
	if (sa->sa_family == AF_UNIX) {
		(void)snprintf(out->addr, sizeof(out->addr), "local");
		return;
	}
	if (getnameinfo(sa, len, out->addr, sizeof(out->addr), out->port,
			sizeof(out->port), NI_NUMERICHOST | NI_NUMERICSERV))
		(void)snprintf(out->addr, sizeof(out->addr), "unknown");
	/* Report v4-mapped v6 clients as plain IPv4, as users expect. */
	if (strncmp(out->addr, "::ffff:", 7) == 0 && strchr(out->addr, '.')) {
		memmove(out->addr, out->addr + 7, strlen(out->addr + 7) + 1);
		out->family = AF_INET;
	}
}

int net_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

static int listen_one(const struct addrinfo *ai, int backlog, struct err *e)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
					       SOCK_NONBLOCK,
			ai->ai_protocol);
	if (fd < 0) {
		err_set(e, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6) {
		/* A wildcard v6 socket also takes IPv4 clients; a specific
		 * v6 address must not claim v4. */
		const struct sockaddr_in6 *s6 =
			(const struct sockaddr_in6 *)ai->ai_addr;
		int v6only = !IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
				 sizeof(v6only));
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, backlog) < 0) {
		int saved = errno;
		struct net_addr na;
		net_addr_from(&na, ai->ai_addr, ai->ai_addrlen);
		err_set(e, "bind %s port %s: %s", na.addr, na.port,
			strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int listen_host(const char *host, const char *port, int backlog,
		       int *fds, size_t max, size_t *n, struct err *e)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	char h[64];
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' &&
	    hl - 2 < sizeof(h)) {
		memcpy(h, host + 1, hl - 2);
		h[hl - 2] = 0;
		host = h;
	}
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		err_set(e, "bad listen address %s port %s: %s", host, port,
			gai_strerror(rc));
		return -1;
	}
	if (*n >= max) {
		freeaddrinfo(res);
		err_set(e, "too many listening addresses");
		return -1;
	}
	int fd = listen_one(res, backlog, e);
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	fds[(*n)++] = fd;
	return 0;
}

int net_listen_inet(const char *host, const char *port, int backlog,
		    int *fds_out, size_t max_fds, struct err *e)
{
	size_t n = 0;
	int rc;
	if (host[0] == 0 || strcmp(host, "all") == 0) {
		rc = listen_host("::", port, backlog, fds_out, max_fds, &n, e);
		if (rc < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
			rc = listen_host("0.0.0.0", port, backlog, fds_out,
					 max_fds, &n, e);
	} else if (strcmp(host, "loopback-only") == 0) {
		rc = listen_host("127.0.0.1", port, backlog, fds_out, max_fds,
				 &n, e);
		struct err e6;
		if (rc == 0 && listen_host("::1", port, backlog, fds_out,
					   max_fds, &n, &e6) < 0 &&
		    errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL) {
			err_set(e, "%s", e6.msg);
			rc = -1;
		}
	} else {
		rc = listen_host(host, port, backlog, fds_out, max_fds, &n, e);
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			close(fds_out[i]);
		return -1;
	}
	return (int)n;
}

static int unix_addr(struct sockaddr_un *sun, const char *path, struct err *e)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		err_set(e, "socket path too long (%zu bytes, limit %zu): %s",
			strlen(path), sizeof(sun->sun_path) - 1, path);
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

int net_listen_unix(const char *path, int mode, int backlog, struct err *e)
{
	struct sockaddr_un sun;
	if (unix_addr(&sun, path, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err_set(e, "socket: %s", strerror(errno));
		return -1;
	}
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, (mode_t)mode) < 0 || listen(fd, backlog) < 0) {
		err_set(e, "listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int net_connect_unix(const char *path, struct err *e)
{
	struct sockaddr_un sun;
	if (unix_addr(&sun, path, e) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(e, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err_set(e, "connect to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Parses "a.b.c.d/n", "[v6]/n", "v6/n" or a bare address into family,
 * 16 address bytes and a prefix length. */
static int parse_cidr(const char *s, int *family, unsigned char *bytes,
		      unsigned *prefix)
{
	char tmp[80];
	size_t len = strlen(s);
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len + 1);
	char *slash = strchr(tmp, '/');
	unsigned plen = 0;
	bool has_prefix = false;
	if (slash) {
		uint64_t v;
		*slash = 0;
		if (parse_uint(slash + 1, 0, 128, &v) < 0)
			return -1;
		plen = (unsigned)v;
		has_prefix = true;
	}
	char *a = tmp;
	size_t al = strlen(a);
	if (al >= 2 && a[0] == '[' && a[al - 1] == ']') {
		a[al - 1] = 0;
		a++;
	}
	memset(bytes, 0, 16);
	if (inet_pton(AF_INET, a, bytes) == 1) {
		*family = AF_INET;
		if (plen > 32)
			return -1;
		*prefix = has_prefix ? plen : 32;
		return 0;
	}
	if (inet_pton(AF_INET6, a, bytes) == 1) {
		*family = AF_INET6;
		*prefix = has_prefix ? plen : 128;
		return 0;
	}
	return -1;
}

int net_cidr_check(const char *cidr, struct err *e)
{
	int fam;
	unsigned char b[16];
	unsigned p;
	if (parse_cidr(cidr, &fam, b, &p) < 0) {
		err_set(e, "bad network \"%s\" (want address/prefix)", cidr);
		return -1;
	}
	return 0;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b,
			 unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool net_addr_in_list(const char *addr, const struct strv *networks)
{
	int fam;
	unsigned char ab[16];
	unsigned ap;
	if (parse_cidr(addr, &fam, ab, &ap) < 0)
		return false;
	for (size_t i = 0; i < networks->n; i++) {
		int nf;
		unsigned char nb[16];
		unsigned np;
		if (parse_cidr(networks->v[i], &nf, nb, &np) < 0)
			continue;
		if (nf == fam && prefix_match(ab, nb, np))
			return true;
	}
	return false;
}
