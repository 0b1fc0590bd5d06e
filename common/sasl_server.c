/* SPDX-License-Identifier: MIT */
/*
 * sasl_server.c - Cyrus SASL server side, checking the account map
 *
 * What Cyrus SASL 2.1.28 (Debian 12, libsasl2-modules) needed, found by
 * testing (tests/unit/test_sasl_server.c keeps it true):
 *  - Every option is answered by our SASL_CB_GETOPT callback, with
 *    SASL_OK and NULL for the ones we leave unset, so no
 *    /etc/sasl2/posthorn.conf is ever consulted.
 *  - PLAIN and LOGIN call SASL_CB_SERVER_USERDB_CHECKPASS, but when it
 *    refuses, libsasl falls back to pwcheck_method (default "auxprop"),
 *    which with the default auxprop plugins reads /etc/sasldb2: a user in
 *    a stray sasldb would log in although our check said no (seen in
 *    testing). So we register our own in-process auxprop plugin
 *    "posthorn" and set auxprop_plugin=posthorn; the fallback then finds
 *    no userPassword and fails with SASL_NOUSER. The plugin also serves
 *    SCRAM-SHA-256 its stored verifier (property authPassword, RFC 5803
 *    form), which is the only way that mechanism can work without
 *    plaintext passwords.
 *  - A SASL_CB_CANON_USER callback lower-cases the name before anything
 *    looks it up, so the identity libsasl reports (SASL_USERNAME) is the
 *    canonical account address, and PLAIN's authzid must equal it (the
 *    default proxy policy) up to case.
 *  - SASL_SEC_NOPLAINTEXT hides PLAIN and LOGIN from the mechanism list
 *    and makes sasl_server_start refuse them (SASL_ENCRYPT) on an
 *    unencrypted channel.
 * Known limit: Cyrus's SCRAM plugin fails an unknown user (or one with
 * no stored verifier) at its first step, with no fake salt, so SCRAM tells
 * which accounts carry verifiers; PLAIN and LOGIN cost the same for every
 * name (account_check_password checks unknown names against a dummy).
 * Callbacks reach the session being served through `active`: one event
 * loop per process, and libsasl calls back only inside start/step.
 */
#include "common/sasl_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/passwd_hash.h"
#include "common/str.h"
#include "common/xalloc.h"

#define APPNAME "posthorn"
#define AUXPROP_NAME "posthorn"
#define SCRAM_PROP "*authPassword"
#define MECH_MAX 32

struct sasl_server_session {
	char *service, *fqdn, *local, *remote;
	unsigned tls_bits;
	bool plaintext_ok;
	sasl_conn_t *conn;
	bool in_progress;
	bool tempfail; /* set by a callback: the account map failed */
	unsigned steps;
	char mech[MECH_MAX];
	char user[ACCOUNT_ADDR_MAX + 1];
	char reason[256];
	struct buf mechs;
	struct buf in; /* decoded client data; wiped after each use */
};

static struct account_db *accounts;
static bool ready;
static char mech_list[sizeof(SASL_SERVER_MECHS_SUPPORTED)];
static bool scram_enabled;
static struct sasl_server_session *active;

/* ---- callbacks --------------------------------------------------------- */

static int cb_getopt(void *ctx, const char *plugin, const char *option,
		     const char **result, unsigned *len)
{
	(void)ctx;
	const char *v = NULL;
	if (plugin == NULL) {
		if (strcmp(option, "mech_list") == 0)
			v = mech_list;
		else if (strcmp(option, "pwcheck_method") == 0)
			v = "auxprop";
		else if (strcmp(option, "auxprop_plugin") == 0)
			v = AUXPROP_NAME;
		else if (strcmp(option, "log_level") == 0)
			/* SASL_LOG_DEBUG with -vv, else SASL_LOG_FAIL; never
			 * TRACE or PASS, which log protocol data. */
			v = log_get_verbose() >= 2 ? "5" : "2";
	}
	*result = v;
	if (len)
		*len = v ? (unsigned)strlen(v) : 0;
	return SASL_OK;
}

static int cb_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	char q[300];
	if (!msg)
		return SASL_OK;
	log_quote(q, sizeof(q), msg, strlen(msg));
	switch (level) {
	case SASL_LOG_ERR:
		log_error("SASL: %s", q);
		break;
	case SASL_LOG_WARN:
		log_warn("SASL: %s", q);
		break;
	case SASL_LOG_FAIL:
		log_debug(1, "SASL: %s", q);
		break;
	case SASL_LOG_NOTE:
	case SASL_LOG_DEBUG:
		log_debug(2, "SASL: %s", q);
		break;
	default: /* TRACE and PASS may hold passwords: never written */
		break;
	}
	return SASL_OK;
}

static int cb_canon(sasl_conn_t *conn, void *ctx, const char *in,
		    unsigned inlen, unsigned flags, const char *realm,
		    char *out, unsigned out_max, unsigned *out_len)
{
	(void)conn, (void)ctx, (void)flags, (void)realm;
	if (inlen >= out_max)
		return SASL_BUFOVER;
	/* in may be out itself. */
	for (unsigned i = 0; i < inlen; i++) {
		char c = in[i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	out[inlen] = '\0';
	*out_len = inlen;
	return SASL_OK;
}

static void quote_user(char *q, size_t qsz, const char *user)
{
	log_quote(q, qsz, user, strnlen(user, ACCOUNT_ADDR_MAX + 1));
}

static int cb_checkpass(sasl_conn_t *conn, void *ctx, const char *user,
			const char *pass, unsigned passlen,
			struct propctx *propctx)
{
	(void)conn, (void)ctx, (void)propctx;
	struct err e;
	int rc = account_check_password(accounts, user, pass, passlen, NULL, 0,
					&e);
	if (rc < 0) {
		char q[ACCOUNT_ADDR_MAX + 8];
		quote_user(q, sizeof(q), user);
		log_error("password check for %s: %s", q, e.msg);
		if (active)
			active->tempfail = true;
		return SASL_FAIL;
	}
	/* On a refusal libsasl tries pwcheck_method next; our auxprop
	 * plugin holds no plaintext passwords, so that fails too. */
	return rc == 1 ? SASL_OK : SASL_BADAUTH;
}

/* libsasl stores every callback as int (*)(void); going through
 * void (*)(void) is the cast GCC accepts between function types. */
#define CB(fn) ((int (*)(void))(void (*)(void))(fn))

static sasl_callback_t global_callbacks[] = {
	{SASL_CB_GETOPT, CB(cb_getopt), NULL},
	{SASL_CB_LOG, CB(cb_log), NULL},
	{SASL_CB_CANON_USER, CB(cb_canon), NULL},
	{SASL_CB_SERVER_USERDB_CHECKPASS, CB(cb_checkpass), NULL},
	{SASL_CB_LIST_END, NULL, NULL},
};

/* ---- the auxprop plugin ----------------------------------------------- */

/* Supplies the SCRAM-SHA-256 verifier when the SCRAM plugin asks for
 * "*authPassword" (an authentication-identity property). Never supplies a
 * plaintext password: there is none. */
static int ap_lookup(void *glob, sasl_server_params_t *sp, unsigned flags,
		     const char *user, unsigned ulen)
{
	(void)glob;
	if (!scram_enabled || (flags & SASL_AUXPROP_AUTHZID) ||
	    ulen > ACCOUNT_ADDR_MAX)
		return SASL_OK;
	const struct propval *pv = sp->utils->prop_get(sp->propctx);
	for (; pv && pv->name; pv++) {
		if (strcmp(pv->name, SCRAM_PROP) != 0 ||
		    (pv->values && !(flags & SASL_AUXPROP_OVERRIDE)))
			continue;
		char name[ACCOUNT_ADDR_MAX + 1], v[PASSWD_SCRAM_MAX];
		memcpy(name, user, ulen);
		name[ulen] = '\0';
		struct err e;
		int rc = account_get_scram(accounts, name, v, sizeof(v), &e);
		if (rc < 0) {
			log_error("SCRAM verifier lookup: %s", e.msg);
			if (active)
				active->tempfail = true;
			return SASL_FAIL;
		}
		if (rc == 1) {
			if (pv->values)
				sp->utils->prop_erase(sp->propctx, pv->name);
			(void)sp->utils->prop_set(sp->propctx, pv->name, v,
						  (int)strlen(v));
		}
		explicit_bzero(v, sizeof(v));
	}
	return SASL_OK;
}

static sasl_auxprop_plug_t auxprop_plugin = {
	.auxprop_lookup = ap_lookup,
	.name = (char *)AUXPROP_NAME,
};

static int ap_init(const sasl_utils_t *utils, int max_version,
		   int *out_version, sasl_auxprop_plug_t **plug,
		   const char *plugname)
{
	(void)utils, (void)plugname;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &auxprop_plugin;
	return SASL_OK;
}

/* ---- process set-up ----------------------------------------------------- */

/* Is m one of the mechanisms configured at set-up? */
static bool mech_configured(const char *m)
{
	struct strv sv;
	strv_init(&sv);
	strv_split(&sv, mech_list, " ");
	bool ok = strv_contains_nocase(&sv, m);
	strv_deinit(&sv);
	return ok;
}

static bool mech_loaded(const char *m)
{
	const char **list = sasl_global_listmech();
	for (; list && *list; list++)
		if (str_eq_nocase(*list, m))
			return true;
	return false;
}

/* Builds mech_list from the configured words: the supported ones named,
 * each once, in SASL_SERVER_MECHS_SUPPORTED order. 0 or -1 with e set. */
static int parse_mechs(const char *mechanisms, struct err *e)
{
	struct strv want, known;
	strv_init(&want);
	strv_init(&known);
	strv_split(&want, mechanisms, ", \t");
	strv_split(&known, SASL_SERVER_MECHS_SUPPORTED, " ");
	int rc = 0;
	for (size_t i = 0; i < want.n && rc == 0; i++) {
		if (!strv_contains_nocase(&known, want.v[i])) {
			err_set(e, "SASL mechanism %s is not supported "
				   "(supported: %s)",
				want.v[i], SASL_SERVER_MECHS_SUPPORTED);
			rc = -1;
		}
	}
	if (rc == 0 && want.n == 0) {
		err_set(e, "no SASL mechanisms configured");
		rc = -1;
	}
	mech_list[0] = '\0';
	size_t off = 0;
	for (size_t i = 0; i < known.n && rc == 0; i++) {
		if (!strv_contains_nocase(&want, known.v[i]))
			continue;
		/* Fits: mech_list holds all of SASL_SERVER_MECHS_SUPPORTED. */
		off += (size_t)snprintf(mech_list + off,
					sizeof(mech_list) - off, "%s%s",
					off ? " " : "", known.v[i]);
	}
	scram_enabled = rc == 0 && strstr(mech_list, "SCRAM-SHA-256") != NULL;
	strv_deinit(&want);
	strv_deinit(&known);
	return rc;
}

int sasl_server_setup(struct account_db *db, const char *mechanisms,
		      struct err *e)
{
	if (ready) {
		err_set(e, "SASL is already set up in this process");
		return -1;
	}
	if (parse_mechs(mechanisms, e) < 0)
		return -1;
	int rc = sasl_auxprop_add_plugin(AUXPROP_NAME, ap_init);
	if (rc == SASL_OK)
		rc = sasl_server_init(global_callbacks, APPNAME);
	if (rc != SASL_OK) {
		err_set(e, "cannot initialise Cyrus SASL: %s",
			sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	struct strv sv;
	strv_init(&sv);
	strv_split(&sv, mech_list, " ");
	for (size_t i = 0; i < sv.n; i++) {
		if (!mech_loaded(sv.v[i])) {
			err_set(e, "SASL mechanism %s is not available "
				   "(is libsasl2-modules installed?)",
				sv.v[i]);
			strv_deinit(&sv);
			sasl_done();
			return -1;
		}
	}
	strv_deinit(&sv);
	accounts = db;
	ready = true;
	return 0;
}

void sasl_server_cleanup(void)
{
	if (!ready)
		return;
	sasl_done();
	ready = false;
	accounts = NULL;
}

int sasl_server_check_plain(const char *user, size_t ulen, const char *pass,
			    size_t plen, char *canon_out, size_t canon_outsz,
			    struct err *e)
{
	if (!ready) {
		err_set(e, "SASL is not set up");
		return -1;
	}
	/* A name with a NUL or over-long is nobody, checked at full cost
	 * all the same (account_check_password uses a dummy hash). */
	char name[ACCOUNT_ADDR_MAX + 1] = "";
	if (ulen <= ACCOUNT_ADDR_MAX && !memchr(user, '\0', ulen)) {
		memcpy(name, user, ulen);
		name[ulen] = '\0';
	}
	return account_check_password(accounts, name, pass, plen, canon_out,
				      canon_outsz, e);
}

/* ---- sessions -------------------------------------------------------- */

struct sasl_server_session *sasl_server_session_new(const char *service,
						    const char *server_fqdn,
						    const char *local_addr,
						    const char *remote_addr)
{
	struct sasl_server_session *s = xcalloc(1, sizeof(*s));
	s->service = xstrdup(service);
	s->fqdn = xstrdup(server_fqdn);
	s->local = local_addr ? xstrdup(local_addr) : NULL;
	s->remote = remote_addr ? xstrdup(remote_addr) : NULL;
	buf_init(&s->mechs, 256);
	/* Reserved once, so it never moves: a realloc would leave a copy of
	 * a password behind in freed memory. */
	buf_init(&s->in, SASL_SERVER_INPUT_MAX);
	if (buf_reserve(&s->in, SASL_SERVER_INPUT_MAX) < 0)
		log_panic("cannot reserve the SASL input buffer");
	return s;
}

static void conn_end(struct sasl_server_session *s)
{
	if (s->conn)
		sasl_dispose(&s->conn);
	s->conn = NULL;
	s->in_progress = false;
}

static void wipe_in(struct sasl_server_session *s)
{
	explicit_bzero(s->in.data, s->in.cap);
	buf_reset(&s->in);
}

void sasl_server_session_free(struct sasl_server_session **sp)
{
	if (!sp || !*sp)
		return;
	struct sasl_server_session *s = *sp;
	conn_end(s);
	wipe_in(s);
	buf_deinit(&s->in);
	buf_deinit(&s->mechs);
	free(s->service);
	free(s->fqdn);
	free(s->local);
	free(s->remote);
	free(s);
	*sp = NULL;
}

void sasl_server_session_security(struct sasl_server_session *s,
				  unsigned tls_bits, bool plaintext_ok)
{
	s->tls_bits = tls_bits;
	s->plaintext_ok = plaintext_ok;
}

/* A fresh libsasl connection with the session's security properties. */
static int conn_begin(struct sasl_server_session *s)
{
	conn_end(s);
	int rc = sasl_server_new(s->service, s->fqdn, NULL, s->local,
				 s->remote, NULL, 0, &s->conn);
	if (rc != SASL_OK) {
		s->conn = NULL;
		return rc;
	}
	sasl_ssf_t ext = s->tls_bits;
	sasl_security_properties_t sp = {
		.min_ssf = 0,
		.max_ssf = 0, /* no SASL security layer: TLS does that */
		.maxbufsize = 0,
		.security_flags = SASL_SEC_NOANONYMOUS,
	};
	if (s->tls_bits == 0 && !s->plaintext_ok)
		sp.security_flags |= SASL_SEC_NOPLAINTEXT;
	rc = sasl_setprop(s->conn, SASL_SSF_EXTERNAL, &ext);
	if (rc == SASL_OK)
		rc = sasl_setprop(s->conn, SASL_SEC_PROPS, &sp);
	if (rc != SASL_OK)
		conn_end(s);
	return rc;
}

const char *sasl_server_session_mechs(struct sasl_server_session *s)
{
	buf_reset(&s->mechs);
	if (!ready || s->in_progress)
		return "";
	const char *list;
	unsigned len;
	int count;
	if (conn_begin(s) == SASL_OK &&
	    sasl_listmech(s->conn, NULL, "", " ", "", &list, &len, &count) ==
		    SASL_OK &&
	    buf_append(&s->mechs, list, len) < 0)
		buf_reset(&s->mechs);
	conn_end(s);
	return buf_cstr(&s->mechs);
}

static void set_reason(struct sasl_server_session *s, const char *why)
{
	(void)snprintf(s->reason, sizeof(s->reason), "%s", why);
}

static enum sasl_server_status fail(struct sasl_server_session *s,
				    enum sasl_server_status st,
				    const char *why)
{
	set_reason(s, why);
	conn_end(s);
	return st;
}

/* Maps a libsasl result to ours; on completion the connection ends. */
static enum sasl_server_status finish(struct sasl_server_session *s, int rc,
				      const char *data, unsigned datalen,
				      const void **out, size_t *outlen)
{
	*out = "";
	*outlen = 0;
	if (rc == SASL_CONTINUE) {
		s->in_progress = true;
		*out = data ? data : "";
		*outlen = data ? datalen : 0;
		return SASL_SERVER_CONTINUE;
	}
	if (rc == SASL_OK) {
		/* No protocol of ours carries data with the final success;
		 * libsasl sends it as one more challenge itself unless told
		 * SASL_SUCCESS_DATA, which we never do. */
		const void *u = NULL;
		char canon[ACCOUNT_ADDR_MAX + 1];
		if (sasl_getprop(s->conn, SASL_USERNAME, &u) != SASL_OK ||
		    !u ||
		    account_canon(u, strlen(u), canon, sizeof(canon), NULL) <
			    0 ||
		    strcmp(canon, u) != 0)
			return fail(s, SASL_SERVER_FAIL,
				    "authenticated name is not an account");
		(void)snprintf(s->user, sizeof(s->user), "%s", canon);
		conn_end(s);
		return SASL_SERVER_OK;
	}
	set_reason(s, s->conn ? sasl_errdetail(s->conn)
			      : sasl_errstring(rc, NULL, NULL));
	conn_end(s);
	if (s->tempfail)
		return SASL_SERVER_TEMPFAIL;
	switch (rc) {
	case SASL_NOMECH:
	case SASL_TOOWEAK:
	case SASL_ENCRYPT:
		return SASL_SERVER_NOMECH;
	case SASL_BADPROT:
	case SASL_BADPARAM:
	case SASL_BUFOVER:
		return SASL_SERVER_BADPROT;
	case SASL_NOMEM:
	case SASL_TRYAGAIN:
	case SASL_UNAVAIL:
		return SASL_SERVER_TEMPFAIL;
	default: /* BADAUTH NOUSER NOAUTHZ DISABLED EXPIRED FAIL ... */
		return SASL_SERVER_FAIL;
	}
}

enum sasl_server_status
sasl_server_session_start(struct sasl_server_session *s, const char *mech,
			  const void *ir, size_t irlen, const void **out,
			  size_t *outlen)
{
	*out = "";
	*outlen = 0;
	s->user[0] = '\0';
	s->reason[0] = '\0';
	s->tempfail = false;
	s->steps = 0;
	(void)snprintf(s->mech, sizeof(s->mech), "%s", mech);
	for (char *p = s->mech; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	if (!ready)
		return fail(s, SASL_SERVER_TEMPFAIL, "SASL is not set up");
	if (strlen(mech) >= sizeof(s->mech) || !mech_configured(s->mech))
		return fail(s, SASL_SERVER_NOMECH, "mechanism not offered");
	if (irlen > SASL_SERVER_INPUT_MAX)
		return fail(s, SASL_SERVER_BADPROT, "initial response too long");
	int rc = conn_begin(s);
	if (rc != SASL_OK)
		return fail(s, SASL_SERVER_TEMPFAIL,
			    sasl_errstring(rc, NULL, NULL));
	const char *data = NULL;
	unsigned datalen = 0;
	active = s;
	rc = sasl_server_start(s->conn, s->mech, ir, (unsigned)irlen, &data,
			       &datalen);
	active = NULL;
	return finish(s, rc, data, datalen, out, outlen);
}

enum sasl_server_status
sasl_server_session_step(struct sasl_server_session *s, const void *in,
			 size_t len, const void **out, size_t *outlen)
{
	*out = "";
	*outlen = 0;
	if (!s->in_progress)
		return fail(s, SASL_SERVER_BADPROT, "no exchange in progress");
	if (++s->steps > SASL_SERVER_STEPS_MAX)
		return fail(s, SASL_SERVER_FAIL, "too many exchange steps");
	if (len > SASL_SERVER_INPUT_MAX)
		return fail(s, SASL_SERVER_BADPROT, "response too long");
	const char *data = NULL;
	unsigned datalen = 0;
	active = s;
	int rc = sasl_server_step(s->conn, len ? in : "", (unsigned)len, &data,
				  &datalen);
	active = NULL;
	return finish(s, rc, data, datalen, out, outlen);
}

/* Base64 of the challenge into the caller's buffer; on overflow the
 * exchange is abandoned. */
static enum sasl_server_status encode_challenge(struct sasl_server_session *s,
						enum sasl_server_status st,
						const void *out, size_t outlen,
						struct buf *challenge)
{
	if (st == SASL_SERVER_CONTINUE &&
	    sasl_server_b64_encode(out, outlen, challenge) < 0)
		return fail(s, SASL_SERVER_TEMPFAIL, "challenge too long");
	return st;
}

enum sasl_server_status
sasl_server_session_start_b64(struct sasl_server_session *s, const char *mech,
			      const char *ir, size_t irlen,
			      struct buf *challenge)
{
	const void *out;
	size_t outlen;
	enum sasl_server_status st;
	if (!ir) {
		st = sasl_server_session_start(s, mech, NULL, 0, &out, &outlen);
	} else if (irlen == 1 && ir[0] == '=') {
		st = sasl_server_session_start(s, mech, "", 0, &out, &outlen);
	} else if (sasl_server_b64_decode(ir, irlen, &s->in) < 0) {
		wipe_in(s);
		conn_end(s);
		set_reason(s, "initial response is not base64");
		return SASL_SERVER_BADPROT;
	} else {
		st = sasl_server_session_start(s, mech, s->in.data, s->in.len,
					       &out, &outlen);
		wipe_in(s);
	}
	return encode_challenge(s, st, out, outlen, challenge);
}

enum sasl_server_status
sasl_server_session_step_b64(struct sasl_server_session *s, const char *line,
			     size_t len, struct buf *challenge)
{
	/* RFC 4954 4: "*" cancels; a malformed line ends the exchange. */
	if (len == 1 && line[0] == '*')
		return fail(s, SASL_SERVER_CANCEL, "cancelled by the client");
	if (sasl_server_b64_decode(line, len, &s->in) < 0) {
		wipe_in(s);
		return fail(s, SASL_SERVER_BADPROT, "response is not base64");
	}
	const void *out;
	size_t outlen;
	enum sasl_server_status st = sasl_server_session_step(
		s, s->in.data, s->in.len, &out, &outlen);
	wipe_in(s);
	return encode_challenge(s, st, out, outlen, challenge);
}

const char *sasl_server_session_user(const struct sasl_server_session *s)
{
	return s->user;
}

const char *sasl_server_session_mech(const struct sasl_server_session *s)
{
	return s->mech;
}

const char *sasl_server_session_reason(const struct sasl_server_session *s)
{
	return s->reason;
}

/* ---- base64 ---------------------------------------------------------- */

int sasl_server_b64_decode(const char *in, size_t len, struct buf *out)
{
	/* Exact size first, so out's maximum is checked before writing. */
	size_t pad = 0;
	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	if (len % 4)
		return -1;
	size_t n = len / 4 * 3 - pad;
	if (buf_reserve(out, n) < 0)
		return -1;
	long got = b64_decode(in, len, true, out->data + out->len, n);
	if (got < 0 || (size_t)got != n)
		return -1;
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

int sasl_server_b64_encode(const void *in, size_t len, struct buf *out)
{
	size_t n = b64_encoded_len(len, true);
	if (buf_reserve(out, n) < 0)
		return -1;
	if (b64_encode(in, len, true, out->data + out->len, n + 1) < 0)
		return -1;
	out->len += n;
	return 0;
}
