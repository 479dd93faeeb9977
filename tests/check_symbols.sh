#!/bin/sh
# GNU readline exports hundreds of rl_* names (rl_free, rl_backward, ...), and
# the relua executable links both it and librelua: a shared name would make one
# library call the other's function. Fails if librelua defines any of them.
set -eu
lib=$1
rl=$(ldconfig -p 2>/dev/null | awk '/libreadline\.so\.[0-9]/ {print $NF; exit}')
[ -n "$rl" ] || { echo "libreadline not found: nothing to check"; echo "1 passed, 0 failed"; exit 0; }
nm -D --defined-only "$rl" | awk '{print $3}' | sort -u > "${TMPDIR:-/tmp}/relua_rl_syms.$$"
ours=$(nm --defined-only "$lib" 2>/dev/null | awk '$2 ~ /[TDBR]/ {print $3}' | sort -u)
# an unreadable library must not pass as "no clash"
if ! echo "$ours" | grep -q '^rl_tape_backward$'; then
  rm -f "${TMPDIR:-/tmp}/relua_rl_syms.$$"
  echo "cannot read librelua's symbols from $lib"; echo "0 passed, 1 failed"; exit 1
fi
clash=$(echo "$ours" | comm -12 - "${TMPDIR:-/tmp}/relua_rl_syms.$$")
rm -f "${TMPDIR:-/tmp}/relua_rl_syms.$$"
if [ -n "$clash" ]; then
  echo "librelua defines names that GNU readline ($rl) also exports:"; echo "$clash"
  echo "0 passed, 1 failed"; exit 1
fi
echo "no symbol shared with $rl"; echo "1 passed, 0 failed"
