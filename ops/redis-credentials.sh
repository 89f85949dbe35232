#!/usr/bin/env bash
# redis-credentials.sh — makes the Redis credentials of contactd: a random
# password and the Redis ACL file that lets contactd in with it, and no one else.
#
#   ops/redis-credentials.sh [--force] [--prefix P] DIR [USER]
#
#   DIR/password    the password: 64 hex digits (256 random bits), no newline;
#                   what `contactd run --redis-password-file` reads. Mode 0600.
#   DIR/users.acl   for redis-server's `aclfile`: the default user off, and USER
#                   (default contactd) on with the SHA-256 of the password (the
#                   password itself is not in it), the keys under P (default
#                   contactd, contactd's redis-prefix) and only the commands
#                   contactd sends. Mode 0600.
#
# DIR is created with mode 0700 when missing. Existing files are never
# replaced (a second run would change a password in use) unless --force.
# Then, in Kubernetes (docs/operations.md, "Securing Redis"):
#
#   kubectl create secret generic contactd-redis \
#     --from-file=DIR/password --from-file=DIR/users.acl
#
# The commands are those of consumer/redis_store.c, including the ones its Lua
# scripts call: Redis checks a script's calls against the caller's ACL too.
# tests/cli/test_redis_auth.sh fails when that file sends a command missing
# here, and runs contactd end to end under this ACL.
set -euo pipefail

# SELECT: redis-db; SCRIPT LOAD and EVALSHA: the commit and trim scripts, whose
# calls are SET, UNLINK (retention), HSET, HDEL, HGET, TYPE, ZADD, ZREM, RPUSH and LTRIM; the rest
# are reads (ZCOUNT and LLEN also for the metrics), the fence (HINCRBY), and
# --reset-state (SCAN, UNLINK). PING: to check the credentials by hand
# (redis-cli --user contactd ping). CLUSTER SLOTS and ASKING: following a Redis
# Cluster (the slot map at connect, a slot being migrated).
COMMANDS=(select "script|load" evalsha hincrby hmget mget hget hscan zrangebyscore zcount lrange llen scan unlink
  set hset hdel type zadd zrem rpush ltrim ping "cluster|slots" asking
  exists rename zscore)    # the key migration's script (redis_store.c, cd_redis_migrate_keys)

usage() {
  echo "usage: ops/redis-credentials.sh [--force] [--prefix P] DIR [USER]" >&2
  exit 2
}

force=0 prefix=contactd
while [ $# -gt 0 ]; do
  case $1 in
    --force) force=1; shift ;;
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "redis-credentials: unknown option '$1'" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || usage
dir=$1 user=${2:-contactd}

# Names that need no quoting in an ACL line, and a prefix without glob
# characters or hash-tag braces (contactd refuses those too).
[[ $user =~ ^[A-Za-z0-9._-]+$ ]] || { echo "redis-credentials: user '$user': letters, digits, '.', '_' and '-' only" >&2; exit 2; }
[[ $prefix =~ ^[A-Za-z0-9._:-]+$ ]] || { echo "redis-credentials: prefix '$prefix': letters, digits, '.', '_', ':' and '-' only" >&2; exit 2; }
[ "$user" != default ] || { echo "redis-credentials: user 'default' is the one turned off: name another" >&2; exit 2; }

if [ "$force" -eq 0 ]; then
  for f in "$dir/password" "$dir/users.acl"; do
    if [ -e "$f" ]; then
      echo "redis-credentials: '$f' exists: not replaced (a new password would lock out whoever uses the old one); --force replaces it" >&2
      exit 1
    fi
  done
fi

umask 077
[ -d "$dir" ] || mkdir -p -m 0700 "$dir"

password=$(openssl rand -hex 32)
hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
rules="on #$hash resetchannels ~$prefix:* -@all"
for c in "${COMMANDS[@]}"; do rules="$rules +$c"; done

# Written beside and renamed into place: never half a file.
tmp_pw=$(mktemp "$dir/.password.XXXXXX")
tmp_acl=$(mktemp "$dir/.users.acl.XXXXXX")
trap 'rm -f "$tmp_pw" "$tmp_acl"' EXIT
printf '%s' "$password" >"$tmp_pw"
printf 'user default off\nuser %s %s\n' "$user" "$rules" >"$tmp_acl"
chmod 0600 "$tmp_pw" "$tmp_acl"
mv -f "$tmp_pw" "$dir/password"
mv -f "$tmp_acl" "$dir/users.acl"
trap - EXIT

echo "redis-credentials: wrote $dir/password and $dir/users.acl (user $user, keys $prefix:*)" >&2
echo "next, in Kubernetes: kubectl create secret generic contactd-redis --from-file=$dir/password --from-file=$dir/users.acl" >&2
