#!/bin/sh
# demo.sh - `make demo`: a working instance in the foreground.
#
# Creates the instance once (posthorn init), then runs it with logs on the
# terminal until Ctrl-C. The instance lives in ./demo, or, when running as
# root and ./demo is not reachable by the unprivileged service users, in
# /var/tmp/posthorn-demo. POSTHORN_DEMO_DIR overrides both.
set -eu
build=${1:?usage: demo.sh BUILD_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/deps.sh" demo

dir=${POSTHORN_DEMO_DIR:-$here/demo}
if [ -z "${POSTHORN_DEMO_DIR:-}" ] && [ "$(id -u)" -eq 0 ] &&
	! runuser -u posthorn -- test -x "$here" 2>/dev/null; then
	dir=/var/tmp/posthorn-demo
fi
if [ ! -f "$dir/main.cf" ]; then
	"$build/sbin/posthorn" -c "$dir" init
fi
echo "posthorn: instance in $dir; stop with Ctrl-C"
exec "$build/sbin/posthorn" -c "$dir" start-fg
