#!/bin/sh
# lint.sh - the rules a compiler does not check (CONVENTIONS.md 1 and 6):
# banned unsafe functions, and daemons including each other's headers.
cd "$(dirname "$0")/.." || exit 1
fail=0
banned='\<(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|alloca)[[:space:]]*\('
hits=$(grep -nE "$banned" --include='*.c' --include='*.h' -r \
	common master smtpd smtp qmgr local pop3d imapd tools 2>/dev/null)
if [ -n "$hits" ]; then
	echo "lint: banned functions:"
	echo "$hits"
	fail=1
fi
for d in master smtpd smtp qmgr local pop3d imapd tools common; do
	[ -d "$d" ] || continue
	for o in master smtpd smtp qmgr local pop3d imapd tools; do
		[ "$o" = "$d" ] && continue
		hits=$(grep -nE "#include[[:space:]]+\"$o/" -r "$d" 2>/dev/null)
		if [ -n "$hits" ]; then
			echo "lint: $d includes $o:"
			echo "$hits"
			fail=1
		fi
	done
done
# common/ knows no daemon: no daemon header, no daemon-specific names.
hits=$(grep -nE '#include[[:space:]]+"[a-z0-9]+/' -r common | grep -v '"common/')
if [ -n "$hits" ]; then
	echo "lint: common includes outside common:"
	echo "$hits"
	fail=1
fi
[ $fail -eq 0 ] && echo "lint: ok"
exit $fail
