/* SPDX-License-Identifier: MIT */
/*
 * smtp_session.c - open, reset and close an SMTP client connection
 *
 * Connect within smtp_connect_timeout; read the greeting; EHLO, falling
 * back to HELO; STARTTLS at the destination's level (RFC 3207; the
 * request's TLS policy, smtp_tls.h), offering a cached session and
 * keeping the new one, with a plaintext retry at level may when the
 * handshake fails; AUTH PLAIN or LOGIN (RFC 4954, 4616) when
 * smtp_sasl_auth_enable and smtp_sasl_password_maps has credentials for
 * the next hop. Every failure
 * becomes a reason in Postfix's words on the pending recipients, kept
 * open so the next MX host gets its chance.
 * The mail transaction itself is smtp_proto.c's.
 */
#include "smtp_session.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/map.h"
#include "common/params.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/xalloc.h"

#define LINE_MAX_BYTES 4096 /* a reply line; RFC 5321 says 512 */

uint64_t smtp_now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- I/O helpers -------------------------------------------------------- */

void smtp_session_fail(struct smtp_session *s, const char *what)
{
	enum stream_error err = stream_error(s->st);
	s->broken = true;
	if (err == STREAM_ERR_TIMEOUT)
		snprintf(s->io_why, sizeof(s->io_why),
		         "conversation with %s timed out while %s", s->hostaddr,
		         what);
	else if (err == STREAM_ERR_EOF)
		snprintf(s->io_why, sizeof(s->io_why),
		         "lost connection with %s while %s", s->hostaddr, what);
	else
		snprintf(s->io_why, sizeof(s->io_why),
		         "%s with %s while %s (%s)", stream_error_name(err),
		         s->hostaddr, what, stream_errtext(s->st));
}

#define CMD_MAX 8192 /* callers bound what they put in a command */

static int vcmd(struct smtp_session *s, const char *what, const char *fmt,
                va_list ap) __attribute__((format(printf, 3, 0)));

static int vcmd(struct smtp_session *s, const char *what, const char *fmt,
                va_list ap)
{
	struct buf cmd;
	buf_init(&cmd, CMD_MAX);
	if (buf_vprintf(&cmd, fmt, ap) < 0 || buf_append(&cmd, "\r\n", 2) < 0)
		log_panic("smtp: command longer than %d bytes", CMD_MAX);
	/* Never log credentials, not even with -v. */
	if (strcmp(what, "AUTH") == 0)
		log_debug(1, "> %s: AUTH ...", s->relay);
	else
		log_debug(1, "> %s: %.*s", s->relay, (int)cmd.len - 2,
		          cmd.data);
	int rc = stream_write(s->st, cmd.data, cmd.len);
	buf_deinit(&cmd);
	if (rc < 0) {
		char w[160];
		snprintf(w, sizeof(w), "sending %s", what);
		smtp_session_fail(s, w);
		return -1;
	}
	return 0;
}

int smtp_session_cmd(struct smtp_session *s, const char *what, const char *fmt,
                     ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcmd(s, what, fmt, ap);
	va_end(ap);
	return rc;
}

int smtp_session_read(struct smtp_session *s, long timeout, const char *what)
{
	struct err e;
	enum stream_eol eol;
	stream_set_timeout(s->st, (int)(timeout * 1000));
	smtp_reply_reset(&s->reply);
	for (;;) {
		if (stream_read_line(s->st, &s->line, LINE_MAX_BYTES, &eol) <
		    0) {
			if (stream_error(s->st) != STREAM_ERR_TOO_LONG) {
				smtp_session_fail(s, what);
				return -1;
			}
			/* Keep the first bytes of an over-long line. */
		}
		size_t n = s->line.len;
		while (n > 0 && (s->line.data[n - 1] == '\n' ||
		                 s->line.data[n - 1] == '\r'))
			n--;
		int rc = smtp_reply_feed(&s->reply, s->line.data, n, &e);
		if (rc < 0) {
			char q[120];
			s->broken = true;
			snprintf(s->io_why, sizeof(s->io_why),
			         "protocol error with %s while %.100s: %.100s: "
			         "\"%s\"",
			         s->hostaddr, what, e.msg,
			         log_quote(q, sizeof(q), s->line.data, n));
			return -1;
		}
		if (rc == 1)
			break;
	}
	log_debug(1, "< %s: %s", s->relay, buf_cstr(&s->reply.text));
	if (s->reply.code == 421)
		s->broken = true; /* RFC 5321 3.8: it is closing */
	return 0;
}

/* Sends one command and reads its reply. */
static int command(struct smtp_session *s, long timeout, const char *what,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int command(struct smtp_session *s, long timeout, const char *what,
                   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcmd(s, what, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	char w[160];
	snprintf(w, sizeof(w), "sending %s", what);
	return smtp_session_read(s, timeout, w);
}

/* ---- failures ----------------------------------------------------------- */

/* The server's reply as a reason: "host X said: 550 ... (in reply to
 * EHLO command)"; kept open for the next host. */
static void fail_reply(struct smtp_request *req, struct smtp_session *s,
                       const char *cmd)
{
	char dsn[12];
	int cls = s->reply.code / 100;
	smtp_reply_status(&s->reply, cls == 5 ? "5.0.0" : "4.0.0", dsn,
	                  sizeof(dsn));
	smtp_rcpt_set_all(req, cls == 5 ? SMTP_RES_BOUNCE : SMTP_RES_DEFER,
	                  false, dsn, s->relay,
	                  "host %s said: %s (in reply to %s command)",
	                  s->hostaddr, buf_cstr(&s->reply.text), cmd);
}

static void fail_io(struct smtp_request *req, struct smtp_session *s)
{
	smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.4.2", s->relay, "%s",
	                  s->io_why);
}

/* ---- connecting --------------------------------------------------------- */

/* A TCP connection to t within the timeout: fd, or -1 with errno. */
static int tcp_connect(const struct smtp_target *t, long timeout)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (t->addr.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)t->port);
		sin->sin_addr = t->addr.a.v4;
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)t->port);
		sin6->sin6_addr = t->addr.a.v6;
		len = sizeof(*sin6);
	}
	int fd = socket(t->addr.family,
	                SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	uint64_t deadline = smtp_now_ms() + (uint64_t)timeout * 1000u;
	for (;;) {
		uint64_t now = smtp_now_ms();
		int ms = now >= deadline ? 0 : (int)(deadline - now);
		int rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			close(fd);
			errno = ETIMEDOUT;
			return -1;
		}
		break;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		close(fd);
		errno = soerr;
		return -1;
	}
	return fd;
}

/* ---- the dialogue before MAIL FROM -------------------------------------- */

/* RFC 5321 has no loop detection; like Postfix, a server that calls
 * itself by our name is us (or claims to be), so the mail would loop. */
static bool greets_as_me(const char *name, size_t n)
{
	return n > 0 && strn_eq_nocase(name, n, params->myhostname);
}

static int fail_loop(struct smtp_request *req, struct smtp_session *s)
{
	log_warn("host %s greeted me with my own hostname %s", s->hostaddr,
	         params->myhostname);
	smtp_rcpt_set_all(req, SMTP_RES_BOUNCE, true, "5.4.6", s->relay,
	                  "mail for %s loops back to myself",
	                  req->nexthop.host);
	return -1;
}

static int greeting(struct smtp_request *req, struct smtp_session *s)
{
	if (smtp_session_read(s, params->smtp_helo_timeout,
	                      "receiving the initial server greeting") < 0) {
		fail_io(req, s);
		return -1;
	}
	if (s->reply.code / 100 != 2) {
		/* 421/4xx: try the next host; 5xx too (Postfix's
		 * smtp_skip_5xx_greeting), its code stands if none is
		 * better. */
		char dsn[12];
		int cls = s->reply.code / 100;
		smtp_reply_status(&s->reply, cls == 5 ? "5.0.0" : "4.0.0", dsn,
		                  sizeof(dsn));
		smtp_rcpt_set_all(
		        req, cls == 5 ? SMTP_RES_BOUNCE : SMTP_RES_DEFER, false,
		        dsn, s->relay, "host %s refused to talk to me: %s",
		        s->hostaddr, buf_cstr(&s->reply.text));
		return -1;
	}
	const char *first = smtp_reply_line(&s->reply, 0);
	if (first && greets_as_me(first, strcspn(first, " \t")))
		return fail_loop(req, s);
	return 0;
}

static int helo(struct smtp_request *req, struct smtp_session *s)
{
	const char *name = params->smtp_helo_name;
	if (command(s, params->smtp_helo_timeout, "EHLO", "EHLO %s", name) <
	    0) {
		fail_io(req, s);
		return -1;
	}
	if (s->reply.code / 100 == 2) {
		smtp_ehlo_parse(&s->reply, &s->ehlo);
		s->esmtp = true;
	} else if (s->reply.code == 421) {
		fail_reply(req, s, "EHLO");
		return -1;
	} else {
		/* RFC 5321 4.1.4: an old server; fall back to HELO. */
		memset(&s->ehlo, 0, sizeof(s->ehlo));
		s->esmtp = false;
		if (command(s, params->smtp_helo_timeout, "HELO", "HELO %s",
		            name) < 0) {
			fail_io(req, s);
			return -1;
		}
		if (s->reply.code / 100 != 2) {
			fail_reply(req, s, "HELO");
			return -1;
		}
		const char *first = smtp_reply_line(&s->reply, 0);
		snprintf(s->ehlo.name, sizeof(s->ehlo.name), "%.*s",
		         first ? (int)strcspn(first, " \t") : 0,
		         first ? first : "");
	}
	if (greets_as_me(s->ehlo.name, strlen(s->ehlo.name)))
		return fail_loop(req, s);
	return 0;
}

/* Bounds the cache key: match names are at most SMTP_TLS_MATCH_MAX of
 * 255 bytes, so a key always fits. */
#define SESSION_KEY_MAX 8192

/* The cache key of a session made for s under level and names: the
 * server (host, address, port), the level, the SNI sent and the names the
 * certificate was checked against. A resumed session is not verified
 * again, so it must only go back where it came from: a key that does not
 * fit whole is no key (-1), never a truncated one that another setting
 * could share. */
static int session_key(const struct smtp_session *s, enum tls_level level,
                       const char *const *names, size_t n, struct buf *out)
{
	if (buf_printf(out, "%s %s sni=%s", s->relay, tls_level_name(level),
	               dns_parse_addr(s->t.host, NULL) ? "" : s->t.host) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (buf_printf(out, "%s%s", i ? ":" : " match=", names[i]) < 0)
			return -1;
	return 0;
}

/* Keeps the session of a finished TLS handshake under key (NULL: not
 * at all) for the next connection to the same server. With TLS 1.3 the
 * ticket comes after the handshake, so this runs after a reply was read
 * over TLS. */
static void save_session(struct smtp_session *s, const char *key)
{
	struct tls_conn *tc = stream_tls(s->st);
	long lifetime = tc && key ? tls_conn_session_lifetime(tc) : 0;
	if (lifetime <= 0 || params->smtp_tls_session_cache_timeout <= 0)
		return;
	struct buf der;
	buf_init(&der, SMTP_TLS_SESSION_MAX);
	if (tls_conn_session_export(tc, &der) == 1) {
		smtp_tls_cache_put(smtp_state.tls_cache, key, der.data, der.len,
		                   lifetime, smtp_now_ms());
		log_debug(1, "%s: TLS session saved for %lds", s->relay,
		          lifetime);
	}
	if (der.data)
		explicit_bzero(der.data, der.len);
	buf_deinit(&der);
}

/* Why a required handshake failed, in Postfix's words. */
static void fail_tls(struct smtp_request *req, struct smtp_session *s,
                     const char *const *names, size_t n)
{
	struct tls_conn *tc = stream_tls(s->st);
	const char *verr = tc ? tls_conn_verify_error(tc) : "";
	if (!verr || !verr[0]) {
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.7.5", s->relay,
		                  "Cannot start TLS: handshake failure with %s",
		                  s->hostaddr);
		return;
	}
	char want[512] = "";
	if (strstr(verr, "mismatch")) {
		struct buf b;
		buf_init(&b, sizeof(want) - 1);
		(void)buf_append_str(&b, ", expected ");
		for (size_t i = 0; i < n; i++)
			(void)buf_printf(&b, "%s%s", i ? " or " : "", names[i]);
		(void)snprintf(want, sizeof(want), "%s", buf_cstr(&b));
		buf_deinit(&b);
	}
	smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.7.5", s->relay,
	                  "Server certificate not verified (%s%s)", verr, want);
}

/* The handshake itself, offering the session cached under key (NULL:
 * none): 0 done (logged), -1 failed (the stream is dead). */
static int handshake(struct smtp_request *req, struct smtp_session *s,
                     const char *key, const char *const *names, size_t n)
{
	struct buf sess;
	buf_init(&sess, SMTP_TLS_SESSION_MAX);
	if (key)
		(void)smtp_tls_cache_take(smtp_state.tls_cache, key,
		                          smtp_now_ms(), &sess);
	struct tls_peer peer = {.host = s->t.host,
	                        .nexthop = req->nexthop.host,
	                        .session = sess.len ? sess.data : NULL,
	                        .session_len = sess.len,
	                        .level = req->tls.level,
	                        .match = names,
	                        .nmatch = n};
	stream_set_timeout(s->st, (int)(params->smtp_helo_timeout * 1000));
	int rc = stream_start_tls_client(s->st, smtp_state.tls, &peer);
	if (sess.data)
		explicit_bzero(sess.data, sess.len);
	buf_deinit(&sess);
	if (rc < 0) {
		s->broken = true;
		log_info("%s: TLS handshake with %s failed: %s", req->queue_id,
		         s->relay, stream_errtext(s->st));
		return -1;
	}
	struct tls_conn *tc = stream_tls(s->st);
	char line[512];
	log_info("%s%s",
	         tls_conn_describe(tc, s->relay, line, sizeof(line)),
	         tls_conn_reused(tc) ? ", session reused" : "");
	return 0;
}

/* STARTTLS at the destination's level: 0 go on, -1 failed (results set),
 * 1 handshake failed at level may (reconnect in plaintext). */
static int starttls(struct smtp_request *req, struct smtp_session *s)
{
	enum tls_level level = req->tls.level;
	bool required = level >= TLS_LEVEL_ENCRYPT;
	if (level == TLS_LEVEL_NONE || (!smtp_state.tls && !required))
		return 0;
	if (!smtp_state.tls) {
		/* smtp.c makes a context whenever a level may need one. */
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, true, "4.7.5", s->relay,
		                  "client TLS configuration problem");
		return -1;
	}
	if (!(s->ehlo.ext & SMTP_EXT_STARTTLS)) {
		if (!required)
			return 0;
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.7.4", s->relay,
		                  "TLS is required, but was not offered by "
		                  "host %s",
		                  s->hostaddr);
		return -1;
	}
	if (command(s, params->smtp_helo_timeout, "STARTTLS", "STARTTLS") < 0) {
		fail_io(req, s);
		return -1;
	}
	if (s->reply.code / 100 != 2) {
		if (!required && !s->broken) {
			log_info("%s: host %s refused STARTTLS: %s; going on "
			         "without TLS",
			         req->queue_id, s->hostaddr,
			         buf_cstr(&s->reply.text));
			return 0;
		}
		fail_reply(req, s, "STARTTLS");
		return -1;
	}
	/* Plaintext the server sent after its 220 would be read as if it
	 * came over TLS (CVE-2011-0411, the client side): drop it. */
	if (stream_pending(s->st)) {
		log_warn("%s: host %s sent data after its STARTTLS reply; "
		         "discarded",
		         req->queue_id, s->hostaddr);
		(void)stream_discard_input(s->st);
	}
	const char *names[SMTP_TLS_MATCH_MAX];
	size_t n = smtp_tls_policy_names(&req->tls, s->t.host,
	                                 req->nexthop.host, req->arena, names,
	                                 SMTP_TLS_MATCH_MAX);
	struct buf kb;
	buf_init(&kb, SESSION_KEY_MAX);
	const char *key = session_key(s, level, names, n, &kb) == 0
	                          ? buf_cstr(&kb)
	                          : NULL;
	int rc = 0;
	if (handshake(req, s, key, names, n) < 0) {
		rc = required ? -1 : 1;
		if (required)
			fail_tls(req, s, names, n);
	} else {
		s->tls = true;
		/* RFC 3207 4.2: forget what was said before; ask again. */
		rc = helo(req, s) < 0 ? -1 : 0;
		if (rc == 0)
			save_session(s, key);
	}
	buf_deinit(&kb);
	return rc;
}

/* ---- AUTH --------------------------------------------------------------- */

static bool is_loopback(const struct dns_addr *a)
{
	if (a->family == AF_INET)
		return (ntohl(a->a.v4.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&a->a.v6);
}

/* Finds user:password for this next hop: the next hop as qmgr named it,
 * in canonical form, then the server's host name (Postfix's order). */
static int find_credentials(struct smtp_request *req, struct smtp_session *s,
                            char **value_out, struct err *e)
{
	const char *keys[] = {req->nexthop_text, req->nexthop_key, s->t.host};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int rc = maplist_lookup(smtp_state.sasl_passwords, keys[i],
		                        value_out, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Sends base64(p[0..n)) as one line; wipes the encoding afterwards. */
static int send_b64(struct smtp_session *s, const char *prefix, const void *p,
                    size_t n)
{
	size_t elen = b64_encoded_len(n, true) + 1;
	char *enc = xmalloc(elen);
	(void)b64_encode(p, n, true, enc, elen);
	int rc = smtp_session_cmd(s, "AUTH", "%s%s", prefix, enc);
	explicit_bzero(enc, elen);
	free(enc);
	return rc < 0 ? -1
	              : smtp_session_read(s, params->smtp_helo_timeout,
	                                  "sending AUTH");
}

static int auth_exchange(struct smtp_session *s, const char *user,
                         const char *pass)
{
	size_t ulen = strlen(user), plen = strlen(pass);
	if (s->ehlo.auth & SMTP_AUTH_PLAIN) {
		/* RFC 4616: authzid NUL authcid NUL passwd, sent with the
		 * command (RFC 4954 initial response). */
		size_t n = ulen + plen + 2;
		char *msg = xmalloc(n);
		msg[0] = '\0';
		memcpy(msg + 1, user, ulen);
		msg[1 + ulen] = '\0';
		memcpy(msg + 2 + ulen, pass, plen);
		int rc = send_b64(s, "AUTH PLAIN ", msg, n);
		explicit_bzero(msg, n);
		free(msg);
		return rc;
	}
	/* LOGIN: the server asks for the user name, then the password. */
	if (command(s, params->smtp_helo_timeout, "AUTH", "AUTH LOGIN") < 0)
		return -1;
	if (s->reply.code != 334)
		return 0;
	if (send_b64(s, "", user, ulen) < 0)
		return -1;
	if (s->reply.code != 334)
		return 0;
	return send_b64(s, "", pass, plen);
}

static int auth(struct smtp_request *req, struct smtp_session *s)
{
	if (!params->smtp_sasl_auth_enable || !smtp_state.sasl_passwords ||
	    !(s->ehlo.ext & SMTP_EXT_AUTH))
		return 0;
	char *value = NULL;
	struct err e;
	int rc = find_credentials(req, s, &value, &e);
	if (rc < 0) {
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.3.0", s->relay,
		                  "SASL password lookup failed: %s", e.msg);
		return -1;
	}
	if (rc == 0)
		return 0; /* no credentials for this destination */
	int result = -1;
	size_t vlen = strlen(value);
	char *colon = strchr(value, ':');
	if (!colon) {
		log_warn("smtp_sasl_password_maps: value for %s is not "
		         "user:password",
		         req->nexthop_key);
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.3.5", s->relay,
		                  "SASL credentials misconfigured");
	} else if (!s->tls && !is_loopback(&s->t.addr)) {
		/* PLAIN and LOGIN send the password in the clear. */
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.7.0", s->relay,
		                  "refusing to send SASL credentials to %s "
		                  "without TLS",
		                  s->hostaddr);
	} else if (!(s->ehlo.auth & (SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN))) {
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.7.0", s->relay,
		                  "SASL authentication failed; cannot "
		                  "authenticate to server %s: no mechanism "
		                  "available",
		                  s->hostaddr);
	} else {
		*colon = '\0';
		if (auth_exchange(s, value, colon + 1) < 0) {
			fail_io(req, s);
		} else if (s->reply.code != 235) {
			/* Authentication failures are the admin's to fix:
			 * defer (Postfix's smtp_sasl_auth_soft_bounce). */
			char dsn[12];
			smtp_reply_status(&s->reply, "4.7.0", dsn, sizeof(dsn));
			dsn[0] = '4';
			smtp_rcpt_set_all(
			        req, SMTP_RES_DEFER, false, dsn, s->relay,
			        "SASL authentication failed; server "
			        "%s said: %s",
			        s->hostaddr, buf_cstr(&s->reply.text));
		} else {
			result = 0;
		}
	}
	explicit_bzero(value, vlen);
	free(value);
	return result;
}

/* ---- open, reset, close ------------------------------------------------- */

static struct smtp_session *session_new(const struct smtp_target *t, int fd)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	s->t = *t;
	snprintf(s->hostaddr, sizeof(s->hostaddr), "%s[%s]", t->host,
	         t->addr.text);
	snprintf(s->relay, sizeof(s->relay), "%s:%u", s->hostaddr, t->port);
	s->st = stream_new(fd);
	smtp_reply_init(&s->reply);
	buf_init(&s->line, LINE_MAX_BYTES);
	s->born_ms = smtp_now_ms();
	return s;
}

static void session_free(struct smtp_session **sp)
{
	struct smtp_session *s = *sp;
	if (!s)
		return;
	stream_free(&s->st);
	smtp_reply_deinit(&s->reply);
	buf_deinit(&s->line);
	free(s);
	*sp = NULL;
}

enum smtp_open smtp_session_open(struct smtp_request *req,
                                 const struct smtp_target *t, bool no_tls,
                                 struct smtp_session **out)
{
	*out = NULL;
	int fd = tcp_connect(t, params->smtp_connect_timeout);
	if (fd < 0) {
		int err = errno;
		char relay[DNS_NAME_MAX + 72];
		snprintf(relay, sizeof(relay), "%s[%s]:%u", t->host,
		         t->addr.text, t->port);
		smtp_rcpt_set_all(req, SMTP_RES_DEFER, false, "4.4.1", relay,
		                  "connect to %s: %s", relay, strerror(err));
		return SMTP_OPEN_FAILED;
	}
	struct smtp_session *s = session_new(t, fd);
	int rc = greeting(req, s);
	if (rc == 0)
		rc = helo(req, s);
	if (rc == 0 && !no_tls)
		rc = starttls(req, s);
	if (rc == 0)
		rc = auth(req, s);
	if (rc != 0) {
		smtp_session_close(&s, true);
		return rc > 0 ? SMTP_OPEN_RETRY_PLAIN : SMTP_OPEN_FAILED;
	}
	*out = s;
	return SMTP_OPEN_OK;
}

int smtp_session_reset(struct smtp_session *s)
{
	if (s->broken)
		return -1;
	if (command(s, params->smtp_helo_timeout, "RSET", "RSET") < 0 ||
	    s->reply.code / 100 != 2) {
		s->broken = true;
		return -1;
	}
	return 0;
}

bool smtp_session_reusable(const struct smtp_session *s)
{
	return s && !s->broken;
}

void smtp_session_close(struct smtp_session **sp, bool quit)
{
	struct smtp_session *s = *sp;
	if (!s)
		return;
	if (quit && !s->broken) {
		/* RFC 5321 4.1.1.10; the reply is read so the server need
		 * not log a lost connection, but not waited for long. */
		if (command(s, params->smtp_quit_timeout, "QUIT", "QUIT") < 0)
			log_debug(1, "%s", s->io_why);
	}
	session_free(sp);
}
