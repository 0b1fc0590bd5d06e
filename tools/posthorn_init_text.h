/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_POSTHORN_INIT_TEXT_H
#define POSTHORN_TOOLS_POSTHORN_INIT_TEXT_H

/*
 * The files `posthorn init` writes: the embedded default configuration.
 * Kept apart from the code that writes them so they read as what they are.
 * INIT_MAIN_CF is a printf format: date, instance directory, daemon
 * directory, mail_owner, virtual mailbox user, virtual mailbox group.
 */

#define INIT_MAIN_CF                                                          \
	"# main.cf - written by `posthorn init` on %s.\n"                     \
	"#\n"                                                                 \
	"# Only what differs from the built-in defaults is here; see them\n" \
	"# with `posthorn -c DIR config -d`, change a value with\n"           \
	"# `posthorn -c DIR config name=value`, then `posthorn reload`.\n"    \
	"\n"                                                                  \
	"# This instance keeps everything under one directory.\n"             \
	"queue_directory = %s/spool\n"                                        \
	"data_directory = $config_directory/data\n"                           \
	"daemon_directory = %s\n"                                             \
	"maillog_file = $config_directory/log/maillog\n"                      \
	"mail_owner = %s\n"                                                   \
	"\n"                                                                  \
	"# Identity: a test domain on loopback.\n"                            \
	"myhostname = mail.example.test\n"                                    \
	"mydomain = example.test\n"                                           \
	"myorigin = $mydomain\n"                                              \
	"inet_interfaces = 127.0.0.1\n"                                       \
	"mynetworks = 127.0.0.0/8 [::1]/128\n"                                \
	"# No DNS on the way in: the demo must work without a resolver.\n"    \
	"smtpd_peername_lookup = no\n"                                        \
	"\n"                                                                  \
	"# System users get mail for these domains...\n"                      \
	"mydestination = $myhostname, localhost.$mydomain, localhost\n"       \
	"alias_maps = lmdb:$config_directory/aliases\n"                       \
	"alias_database = lmdb:$config_directory/aliases\n"                   \
	"# ...and accounts (posthorn user add) for these.\n"                  \
	"virtual_mailbox_domains = $mydomain\n"                               \
	"virtual_mailbox_base = $config_directory/mail\n"                     \
	"virtual_uid_maps = static:%s\n"                                      \
	"virtual_gid_maps = static:%s\n"                                      \
	"virtual_alias_maps = lmdb:$config_directory/virtual\n"               \
	"\n"                                                                  \
	"# TLS with the self-signed certificate init made.\n"                 \
	"smtpd_tls_cert_file = $config_directory/tls/cert.pem\n"              \
	"smtpd_tls_key_file = $config_directory/tls/key.pem\n"

#define INIT_MASTER_CF                                                        \
	"# master.cf - the services master runs (Postfix's columns).\n"       \
	"#\n"                                                                 \
	"# An inet service named by a port listens on inet_interfaces.\n"     \
	"# \"-\" means the default: private y, unpriv y, chroot n,\n"         \
	"# wakeup 0, maxproc default_process_limit.\n"                        \
	"#\n"                                                                 \
	"# service  type  private unpriv  chroot  wakeup  maxproc command\n"  \
	"# ========================================================\n"  \
	"2525      inet  n       -       n       -       -       smtpd\n"  \
	"# Submission (RFC 6409): TLS first, then AUTH, then mail.\n"     \
	"2587      inet  n       -       n       -       -       smtpd\n"  \
	"  -o smtpd_tls_security_level=encrypt\n"                        \
	"  -o smtpd_sasl_auth_enable=yes\n"                              \
	"  -o smtpd_tls_auth_only=yes\n"                                 \
	"  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n" \
	"# Submission over implicit TLS (RFC 8314).\n"                   \
	"2465      inet  n       -       n       -       -       smtpd\n"  \
	"  -o smtpd_tls_wrappermode=yes\n"                               \
	"  -o smtpd_sasl_auth_enable=yes\n"                              \
	"  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n" \
	"qmgr      unix  -       -       n       300     1       qmgr\n"   \
	"pickup    unix  n       -       n       -       -       smtpd pickup\n" \
	"local     unix  -       n       n       -       -       local\n"   \
	"smtp      unix  -       -       n       -       -       smtp\n"    \
	"2110      inet  n       -       n       -       -       pop3d\n"   \
	"2995      inet  n       -       n       -       -       pop3d\n"   \
	"    -o pop3d_tls_wrappermode=yes\n"  \
	"2143      inet  n       -       n       -       -       imapd\n"   \
	"2993      inet  n       -       n       -       -       imapd\n"   \
	"  -o imapd_tls_wrappermode=yes\n"

#define INIT_ALIASES                                                          \
	"# aliases - /etc/aliases-style table for mydestination recipients.\n" \
	"# After editing: posthorn -c DIR map build -a DIR/aliases\n"         \
	"#\n"                                                                 \
	"# RFC 5321 4.5.1: postmaster must always reach a person.\n"          \
	"postmaster: demo@example.test\n"                                     \
	"abuse: postmaster\n"                                                 \
	"mailer-daemon: postmaster\n"                                         \
	"root: postmaster\n"

#define INIT_VIRTUAL                                                          \
	"# virtual - address rewriting for every domain (virtual_alias_maps).\n" \
	"# After editing: posthorn -c DIR map build DIR/virtual\n"            \
	"postmaster@example.test demo@example.test\n"                         \
	"abuse@example.test demo@example.test\n"

#endif
