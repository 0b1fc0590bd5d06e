#!/bin/sh
# run.sh - Posthorn's benchmarks: `make bench` runs this with the build
# directory. Each benchmark prints its figure beside the measured floor of
# the disk it ran on (DESIGN.md "The performance budget"). A benchmark
# reports; it never fails the build, so errors are printed, not returned.
#
#   BENCH_SECONDS  seconds per measurement (default 3)
#   BENCH_DIR      where instances are made (default /tmp; use the disk
#                  whose figure you want)
#   BENCH_IMAP_COUNTS  mailbox sizes for the IMAP benchmark (default
#                  "10000 100000")
B=${1:?usage: bench/run.sh BUILD_DIR}
cd "$(dirname "$0")/.." || exit 1
SECS=${BENCH_SECONDS:-3}
BASE=${BENCH_DIR:-/tmp}
PKGS="openssl libsasl2 libcares lmdb"
tmp=$(mktemp -d "$BASE/posthorn-bench.XXXXXX") || exit 1
chmod 755 "$tmp"
trap 'for i in "$tmp"/*/; do "$B/sbin/posthorn" -c "$i" stop >/dev/null 2>&1; done; rm -rf "$tmp"' EXIT

echo "== queue commit (bench/queue_commit.c): 1 KB messages, fsync on"
# shellcheck disable=SC2046
if ! ${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I. -o "$tmp/queue_commit" \
	bench/queue_commit.c "$B/lib/libcommon.a" $(pkg-config --libs $PKGS); then
	echo "bench: cannot build queue_commit"; exit 1
fi
echo "filesystem: $(df -T "$tmp" | awk 'NR==2 {print $1, $2}')"
"$tmp/queue_commit" floor "$tmp" "$SECS"
for method in ${BENCH_SYNC_METHODS:-syncfs fdatasync auto}; do
	inst="$tmp/$method"
	"$B/sbin/posthorn" -c "$inst" init >/dev/null 2>&1 ||
		{ echo "bench: init failed"; continue; }
	"$B/sbin/posthorn" -c "$inst" config qmgr_sync_method=$method \
		inet_interfaces=127.0.0.1 >/dev/null
	# Only qmgr matters here: no listeners on fixed ports.
	grep -E '^(qmgr|#)' "$inst/master.cf" >"$inst/master.cf.new" &&
		mv "$inst/master.cf.new" "$inst/master.cf"
	"$B/sbin/posthorn" -c "$inst" start >/dev/null ||
		{ echo "bench: start failed"; continue; }
	echo "qmgr_sync_method = $method"
	for p in 1 10 50; do
		"$tmp/queue_commit" commit "$inst" "$p" "$SECS"
	done
	"$B/sbin/posthorn" -c "$inst" stop >/dev/null
done
echo "== mailbox delivery (bench/mbox_deliver.c): 1 KB messages, batches of 64"
# shellcheck disable=SC2046
if ${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I. -o "$tmp/mbox_deliver" \
	bench/mbox_deliver.c "$B/lib/libcommon.a" $(pkg-config --libs $PKGS); then
	"$tmp/mbox_deliver" "$tmp" "$SECS"
else
	echo "bench: cannot build mbox_deliver"
fi

echo "== smtpd accept (bench/smtpd_accept.py): 1 KB messages over SMTP, fsync on"
BENCH_DIR=$BASE ${PYTHON:-/usr/bin/python3} bench/smtpd_accept.py "$B" "$SECS" 10 50 ||
	echo "bench: smtpd_accept failed"

echo "== SMTP to maildir (bench/deliver.py): 1 KB, Posthorn beside Postfix"
BENCH_DIR=$BASE ${PYTHON:-/usr/bin/python3} bench/deliver.py "$B" "$SECS" 10 50 ||
	echo "bench: deliver failed"

echo "== smtp relay (bench/relay.py): qmgr requests -> smtp -> sink"
mkdir -p "$tmp/relay-bench" && chmod 755 "$tmp/relay-bench"
${PYTHON:-/usr/bin/python3} bench/relay.py "$B" "$tmp/relay-bench" "$SECS" ||
	echo "bench: relay failed"

echo "== relay (bench/relay_compare.py): SMTP in -> smtp out to smtp-sink, Posthorn beside Postfix"
BENCH_DIR=$BASE ${PYTHON:-/usr/bin/python3} bench/relay_compare.py "$B" "$SECS" 10 50 ||
	echo "bench: relay_compare failed"

echo "== POP3 retrieval (bench/pop3_retrieve.py): 10,000 messages," \
	"Posthorn pop3d beside Dovecot on the same maildir"
${PYTHON:-/usr/bin/python3} bench/pop3_retrieve.py "$B" "$tmp" ||
	echo "bench: pop3_retrieve failed"

echo "== IMAP (bench/imap_fetch.py): SELECT, FETCH (FLAGS ENVELOPE), whole bodies; imapd beside Dovecot"
# shellcheck disable=SC2046
if ${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I. -o "$tmp/imap_fill" \
	bench/imap_fill.c "$B/lib/libcommon.a" $(pkg-config --libs $PKGS); then
	# shellcheck disable=SC2086
	python3 bench/imap_fetch.py "$B" "$tmp" ${BENCH_IMAP_COUNTS:-10000 100000}
else
	echo "bench: cannot build imap_fill"
fi
exit 0
