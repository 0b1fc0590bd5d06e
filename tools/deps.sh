#!/bin/sh
# deps.sh - install the Debian packages Posthorn needs, when missing.
#
#   tools/deps.sh build   compiler and the four libraries
#   tools/deps.sh test    + what `make check` runs (cmocka, pytest, clients)
#   tools/deps.sh bench   + the reference servers benchmarks compare with
#
# As root it installs what is missing (and, for test/demo, the system users
# an instance runs as); otherwise it prints the exact command and fails.
set -eu

BUILD="gcc make pkg-config libssl-dev libsasl2-dev libsasl2-modules \
libc-ares-dev liblmdb-dev"
TEST="libcmocka-dev python3 python3-pytest swaks msmtp clang \
libclang-rt-14-dev lmdb-utils openssl fetchmail getmail6 isync offlineimap3 \
pflogsumm"
BENCH="postfix dovecot-pop3d dovecot-imapd"

mode=${1:-build}
case $mode in
build) want=$BUILD ;;
test) want="$BUILD $TEST" ;;
demo) want=$BUILD ;;
bench) want="$BUILD $TEST $BENCH" ;;
*) echo "usage: $0 build|test|demo|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in *" installed") ;; *) missing="$missing $p" ;; esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "posthorn: missing Debian packages; run as root:" >&2
		echo "  apt-get install -y$missing" >&2
		exit 1
	fi
	echo "posthorn: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# postfix asks debconf questions and starts itself on port 25; the
	# benchmarks run their own instance, so keep the system one quiet.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections 2>/dev/null || true
	apt-get update -qq >/dev/null || apt-get update
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		apt-get install -y --no-install-recommends $missing
fi

# Privilege separation needs its two users (INSTALL explains them). Tests
# and the demo run as root on CI, so they get the real separation too.
if [ "$mode" != build ] && [ "$(id -u)" -eq 0 ]; then
	getent group posthorn >/dev/null || groupadd --system posthorn
	getent passwd posthorn >/dev/null ||
		useradd --system -g posthorn -d /nonexistent -s /usr/sbin/nologin posthorn
	getent group vmail >/dev/null || groupadd --system vmail
	getent passwd vmail >/dev/null ||
		useradd --system -g vmail -d /nonexistent -s /usr/sbin/nologin vmail
fi
exit 0
