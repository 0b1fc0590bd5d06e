/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_POSTHORN_INIT_TEXT_H
#define POSTHORN_TOOLS_POSTHORN_INIT_TEXT_H

/*
 * The files `posthorn init` writes, kept apart from the code that writes
 * them so they read as what they are. @NAME@ marks are filled in by init
 * (posthorn_init.c says with what) for the two layouts: the self-contained
 * demo/test instance under one directory, and --system, a real
 * installation with the standard paths and ports.
 */

#define INIT_MAIN_CF                                                          \
	"# main.cf - written by `posthorn init` on @DATE@.\n"                  \
	"#\n"                                                                 \
	"# Only what differs from the built-in defaults is here; see them\n" \
	"# with `posthorn -c DIR config -d`, change a value with\n"           \
	"# `posthorn -c DIR config name=value`, then `posthorn reload`.\n"    \
	"\n"                                                                  \
	"queue_directory = @QUEUE@\n"                                         \
	"data_directory = @DATA@\n"                                           \
	"daemon_directory = @DAEMON_DIR@\n"                                   \
	"@LOG@\n"                                                             \
	"mail_owner = @OWNER@\n"                                              \
	"\n"                                                                  \
	"# Identity.\n"                                                       \
	"myhostname = @HOST@\n"                                               \
	"mydomain = @DOMAIN@\n"                                               \
	"myorigin = $mydomain\n"                                              \
	"inet_interfaces = @INTERFACES@\n"                                    \
	"mynetworks = 127.0.0.0/8 [::1]/128\n"                                \
	"@PEERNAME@\n"                                                        \
	"\n"                                                                  \
	"# System users get mail for these domains...\n"                      \
	"mydestination = $myhostname, localhost.$mydomain, localhost\n"       \
	"alias_maps = lmdb:$config_directory/aliases\n"                       \
	"alias_database = lmdb:$config_directory/aliases\n"                   \
	"# ...and accounts (posthorn user add) for these.\n"                  \
	"virtual_mailbox_domains = $mydomain\n"                               \
	"virtual_mailbox_base = @MAIL@\n"                                     \
	"virtual_uid_maps = static:@VUSER@\n"                                 \
	"virtual_gid_maps = static:@VGROUP@\n"                                \
	"virtual_alias_maps = lmdb:$config_directory/virtual\n"               \
	"\n"                                                                  \
	"# TLS: a self-signed certificate made by init; replace it with a\n" \
	"# real one (chain first, key 0600) on a public host.\n"              \
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
	"@SMTP@ inet  n       -       n       -       -       smtpd\n"  \
	"# Submission (RFC 6409): TLS first, then AUTH, then mail.\n"     \
	"@SUBMISSION@ inet  n       -       n       -       -       smtpd\n"  \
	"  -o smtpd_tls_security_level=encrypt\n"                        \
	"  -o smtpd_sasl_auth_enable=yes\n"                              \
	"  -o smtpd_tls_auth_only=yes\n"                                 \
	"  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n" \
	"# Submission over implicit TLS (RFC 8314).\n"                   \
	"@SMTPS@ inet  n       -       n       -       -       smtpd\n"  \
	"  -o smtpd_tls_wrappermode=yes\n"                               \
	"  -o smtpd_sasl_auth_enable=yes\n"                              \
	"  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n" \
	"qmgr      unix  -       -       n       300     1       qmgr\n"   \
	"pickup    unix  n       -       n       -       -       smtpd pickup\n" \
	"showq     unix  n       -       n       -       -       qmgr showq\n" \
	"local     unix  -       n       n       -       -       local\n"   \
	"smtp      unix  -       -       n       -       -       smtp\n"    \
	"@POP3@ inet  n       -       n       -       -       pop3d\n"   \
	"@POP3S@ inet  n       -       n       -       -       pop3d\n"   \
	"    -o pop3d_tls_wrappermode=yes\n"  \
	"@IMAP@ inet  n       -       n       -       -       imapd\n"   \
	"@IMAPS@ inet  n       -       n       -       -       imapd\n"   \
	"  -o imapd_tls_wrappermode=yes\n"

#define INIT_ALIASES                                                          \
	"# aliases - /etc/aliases-style table for mydestination recipients.\n" \
	"# After editing: posthorn -c DIR map build -a DIR/aliases\n"         \
	"#\n"                                                                 \
	"# RFC 5321 4.5.1: postmaster must always reach a person.\n"          \
	"postmaster: @FIRST@@@DOMAIN@\n"                                     \
	"abuse: postmaster\n"                                                 \
	"mailer-daemon: postmaster\n"                                         \
	"root: postmaster\n"

#define INIT_VIRTUAL                                                          \
	"# virtual - address rewriting for every domain (virtual_alias_maps).\n" \
	"# After editing: posthorn -c DIR map build DIR/virtual\n"            \
	"postmaster@@DOMAIN@ @FIRST@@@DOMAIN@\n"                             \
	"abuse@@DOMAIN@ @FIRST@@@DOMAIN@\n"

#endif
