/*
 * redis_store.c — per-citizen state in Redis, committed atomically per batch
 * and partition (redis_store.h; docs/spec/events.md "Guarantees").
 *
 * Why one script per commit. "Effectively once" needs the records, the timer
 * index, the pending outputs and the consumed offsets of a batch to become
 * durable together or not at all, and only while this processor still owns
 * the partition. Redis runs a Lua script as one indivisible step: no other
 * client's command interleaves with it, and with effects replication (Redis
 * 7) its writes reach the AOF and the replicas wrapped in MULTI/EXEC, so a
 * crash while the AOF is written leaves a truncated transaction that Redis
 * drops on load. The commit script therefore checks the fencing token and
 * then writes everything. Redis does not roll a script back when a command
 * inside it fails, so the script validates everything that could fail (the
 * token, the argument layout, the types of the timer and outbox keys, every
 * score) before its first write; after that, the writes cannot fail, except
 * OOM under maxmemory, which Redis reports only at a script's first write.
 *
 * Fencing. meta.fence is a counter; cd_redis_fence_acquire increments it and
 * the new value is the taker's token. Every write (commit, outbox trim)
 * compares the stored fence with its token inside the script, so a processor
 * that lost its partition to a newer token cannot write a single byte. The
 * script answers an error reply starting with "FENCED", which becomes
 * CD_REDIS_FENCED.
 *
 * Scripts are loaded with SCRIPT LOAD at connect and run with EVALSHA, so a
 * commit sends the 40-byte digest, not the source. When Redis has lost its
 * script cache (restart, SCRIPT FLUSH, failover) EVALSHA answers NOSCRIPT;
 * the store re-loads the script and retries exactly once.
 *
 * Keys. Every key of partition p carries the hash tag {pN}, and every key a
 * script touches is passed in KEYS, so every command and every commit runs
 * on one Redis Cluster slot: that of "{pN}" (consumer/redis_cluster.h).
 *
 * Redis Cluster. hiredis 0.14 has no cluster support and bookworm packages no
 * kept cluster client, so the store routes by itself, kept small. Connecting
 * asks the configured address (or, after a loss, any node it knew) CLUSTER
 * SLOTS: "cluster support disabled" (or NOPERM: an ACL from before) means one
 * standalone Redis, used exactly as before; a slot map means a cluster. Then
 * each master gets its own connection, opened (AUTH, scripts) on first use,
 * and a command goes to the master of its partition's slot. A MOVED reply
 * refreshes the map from CLUSTER SLOTS and the command is sent again where it
 * said; ASK sends ASKING and the command to the node named, once, leaving the
 * map alone (a slot being migrated); TRYAGAIN (a multi-key command while its
 * slot is half moved) and CLUSTERDOWN are retried after 10, 20, 40 … ms
 * (TRYAGAIN_TRIES times), then are the retriable error they always were. A
 * failure of any node's connection drops them all, as with one Redis: the
 * caller backs off and reconnects, which reads the map again. Pipelined calls
 * (commit_send, trim_send) may go to different masters; each waits in one
 * queue, in sending order, with its node and its formatted bytes, and
 * sent_recv reads them in that order. A redirected call is sent again on its
 * new node after the replies that node still owes to earlier calls are read
 * ahead and kept, so every connection's replies are still read in order.
 * The cluster allows only db 0 (redis-db is refused otherwise); SCAN walks
 * every master.
 *
 * Errors. A failure of the connection (refused, reset, timed out, protocol
 * garbage) is retriable, and the context is freed: every later call fails
 * with "not connected" (retriable) until cd_redis_connect succeeds. Error
 * replies that a later retry can outlive (LOADING, BUSY, MASTERDOWN,
 * READONLY, TRYAGAIN, CLUSTERDOWN, NOREPLICAS, MISCONF, OOM) are retriable
 * and leave the connection usable; all other error replies are final.
 *
 * Bounded replies. hiredis would buffer and allocate any reply the server
 * sends. The store runs its own read loop (redisBufferRead +
 * redisGetReplyFromReader, what redisGetReply does) and counts the bytes of
 * the reply as they arrive; past opts.max_reply_bytes it stops reading,
 * drops the connection (the rest of the reply is still in flight) and fails
 * with a final error. A wrapper around hiredis' createArray also refuses an
 * array header that announces more elements than max_reply_bytes could hold,
 * before hiredis allocates the element vector.
 *
 * Memory. Commands are built in per-store scratch (an argument vector and a
 * byte buffer for keys and numbers), reserved up front for the whole command
 * so that argument pointers stay valid; the scratch is reused by the next
 * call. A batch keeps copies of everything added in one byte buffer plus
 * three small index arrays; clear() keeps their capacity.
 *
 * SIGPIPE: hiredis writes with write(2); the program must ignore SIGPIPE (processor.c
 * does), or a write to a dead server kills the process.
 */
#include "consumer/redis_store.h"

#include <assert.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <time.h>

#include <hiredis/hiredis.h>

#include "consumer/redis_cluster.h"
#include "state/event.h"
#include "util/pseudonym.h"

/*
 * The commit script.
 *
 * KEYS: [1] meta, [2] timers, [3] outbox, [3+i] the key of record i (i = 1..R),
 *       [3+R+j] the hash j written by hash operations (j = 1..K).
 * ARGV (packed):
 *   [1] token            the caller's fencing token (decimal)
 *   [2] R                number of records
 *   [3] O                number of outbox entries
 *   [4] F                number of meta fields
 *   [5] floor            new tick floor (decimal ns), or "" for none
 *   [6] H                number of hash operations
 *   [7] K                number of hashes they write
 *   then R triples       record bytes, citizen id (timer member), timer score
 *                        (decimal ms) or "" (no timer: ZREM) or "x" (retention:
 *                        DEL the record and ZREM its timer)
 *   then O entries       outbox entry bytes, in order
 *   then F pairs         meta field ("off:<topic>", or another), its value
 *   then H quadruples    'S' (HSET) or 'D' (HDEL), j, field, value ("" for D)
 * Numbers other than the counts are passed through as strings: Lua's numbers
 * are doubles and would round nanosecond instants and large offsets.
 */
static const char commit_lua[] =
	"local meta, timers, outbox = KEYS[1], KEYS[2], KEYS[3]\n"
	"local fence = redis.call('HGET', meta, 'fence')\n"
	"if fence ~= ARGV[1] then\n"
	"  return redis.error_reply('FENCED token ' .. ARGV[1] .. ' is not the current fence ' .. tostring(fence))\n"
	"end\n"
	"local nrec, nout, noff = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
	"local nh, nhk = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
	"if not nrec or not nout or not noff or not nh or not nhk or #KEYS ~= 3 + nrec + nhk\n"
	"   or #ARGV ~= 7 + 3 * nrec + nout + 2 * noff + 4 * nh then\n"
	"  return redis.error_reply('ERR contactd commit: malformed arguments')\n"
	"end\n"
	"local tt = redis.call('TYPE', timers).ok\n"
	"if tt ~= 'zset' and tt ~= 'none' then\n"
	"  return redis.error_reply('WRONGTYPE contactd commit: timers key holds a ' .. tt)\n"
	"end\n"
	"local ot = redis.call('TYPE', outbox).ok\n"
	"if ot ~= 'list' and ot ~= 'none' then\n"
	"  return redis.error_reply('WRONGTYPE contactd commit: outbox key holds a ' .. ot)\n"
	"end\n"
	"for j = 1, nhk do\n"
	"  local ht = redis.call('TYPE', KEYS[3 + nrec + j]).ok\n"
	"  if ht ~= 'hash' and ht ~= 'none' then\n"
	"    return redis.error_reply('WRONGTYPE contactd commit: ' .. KEYS[3 + nrec + j] .. ' holds a ' .. ht)\n"
	"  end\n"
	"end\n"
	"for a = 10, 7 + 3 * nrec, 3 do\n"
	"  local s = ARGV[a]\n"
	"  if s ~= '' and s ~= 'x' and not string.match(s, '^%-?%d+$') then\n"
	"    return redis.error_reply('ERR contactd commit: bad timer score ' .. s)\n"
	"  end\n"
	"end\n"
	"local h0 = 8 + 3 * nrec + nout + 2 * noff\n"
	"for a = h0, h0 + 4 * nh - 1, 4 do\n"
	"  local k = tonumber(ARGV[a + 1])\n"
	"  if (ARGV[a] ~= 'S' and ARGV[a] ~= 'D') or not k or k < 1 or k > nhk then\n"
	"    return redis.error_reply('ERR contactd commit: bad hash operation')\n"
	"  end\n"
	"end\n"
	"local a = 8\n"
	"for i = 1, nrec do\n"
	"  if ARGV[a + 2] == 'x' then\n"
	"    redis.call('UNLINK', KEYS[3 + i])\n"
	"    redis.call('ZREM', timers, ARGV[a + 1])\n"
	"  elseif ARGV[a + 2] == '' then\n"
	"    redis.call('SET', KEYS[3 + i], ARGV[a])\n"
	"    redis.call('ZREM', timers, ARGV[a + 1])\n"
	"  else\n"
	"    redis.call('SET', KEYS[3 + i], ARGV[a])\n"
	"    redis.call('ZADD', timers, ARGV[a + 2], ARGV[a + 1])\n"
	"  end\n"
	"  a = a + 3\n"
	"end\n"
	"local i = 0\n"
	"while i < nout do\n"
	"  local k = math.min(nout - i, 1000)\n"
	"  redis.call('RPUSH', outbox, unpack(ARGV, a + i, a + i + k - 1))\n"
	"  i = i + k\n"
	"end\n"
	"a = a + nout\n"
	"for j = 1, noff do\n"
	"  redis.call('HSET', meta, ARGV[a], ARGV[a + 1])\n"
	"  a = a + 2\n"
	"end\n"
	"for j = 1, nh do\n"
	"  local key = KEYS[3 + nrec + tonumber(ARGV[a + 1])]\n"
	"  if ARGV[a] == 'S' then\n"
	"    redis.call('HSET', key, ARGV[a + 2], ARGV[a + 3])\n"
	"  else\n"
	"    redis.call('HDEL', key, ARGV[a + 2])\n"
	"  end\n"
	"  a = a + 4\n"
	"end\n"
	"if ARGV[5] ~= '' then\n"
	"  redis.call('HSET', meta, 'floor', ARGV[5])\n"
	"end\n"
	"return nrec\n";

/* KEYS: [1] meta, [2] outbox. ARGV: [1] token, [2] k (entries delivered). */
static const char trim_lua[] =
	"local fence = redis.call('HGET', KEYS[1], 'fence')\n"
	"if fence ~= ARGV[1] then\n"
	"  return redis.error_reply('FENCED token ' .. ARGV[1] .. ' is not the current fence ' .. tostring(fence))\n"
	"end\n"
	"redis.call('LTRIM', KEYS[2], ARGV[2], -1)\n"
	"return 1\n";

#define SHA_LEN 40
/* Room for the formatted parts of a key besides the prefix and the id: ":{p-2147483648}:c:" and a NUL. */
#define KEY_ROOM 32
/* Room for one formatted decimal number and its NUL. */
#define NUM_ROOM 24

/* Redirects one command may follow, and TRYAGAIN/CLUSTERDOWN waits (10 ms doubling: 2.5 s in all). */
#define MAX_REDIRECTS 16
#define TRYAGAIN_TRIES 8

/* A Redis server: the standalone one, or a cluster master. */
typedef struct rnode {
	char *host;                        /* owned */
	int port;
	redisContext *c;                   /* owned; NULL until used (cluster: opened lazily) */
	bool awaiting;                     /* sent since the last reply read: the next read is a round trip */
} rnode;

/* A pipelined call whose reply is owed. */
typedef struct owed {
	int node;
	char *cmd;                         /* cluster: its bytes, to send again after a redirect (redisFreeCommand) */
	size_t len;
	redisReply *early;                 /* its reply, read ahead of its turn; NULL until then */
} owed;

struct cd_redis {
	cd_redis_opts o;                   /* host, password, user, prefix: owned copies */
	cd_pseudonym_key ckey;             /* names citizens in key names and timer members */
	size_t prefix_len;
	rnode *node;                       /* every server known (kept across reconnects: seeds for the next) */
	size_t n_node, cap_node;
	int cur;                           /* the node the next command goes to */
	int slot;                          /* the slot of the command under way (cluster) */
	bool up;                           /* connected (cd_redis_connect succeeded, nothing failed since) */
	bool cluster;                      /* the server is a cluster: route by slot */
	bool stale;                        /* the slot map is to be read again before the next routing */
	bool probing;                      /* asking CLUSTER SLOTS at connect: an error reply is an answer */
	uint16_t *slots;                   /* cluster: slot -> node index + 1, 0 when unknown */
	owed *q;                           /* pipelined calls, oldest at q_head; unread of them */
	size_t q_head, q_cap;
	char commit_sha[SHA_LEN + 1];
	char trim_sha[SHA_LEN + 1];
	redisReplyObjectFunctions fn;      /* hiredis' defaults with a guarded createArray */
	redisReplyObjectFunctions *base_fn;/* hiredis' defaults (static in libhiredis) */
	int too_big;                       /* set by the createArray guard */
	size_t unread;                     /* commits sent whose replies are not read yet */
	cd_redis_stats st;                 /* what it did (cd_redis_stats) */
	/* scratch for one command, reused: argv[i] points into scratch, a batch or a reply */
	const char **argv;
	size_t *argl;
	size_t argc, argcap, lencap;
	cd_buf scratch;
};

/* ---- small helpers --------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct timeval ms_tv(int ms)
{
	struct timeval tv;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Timer scores are milliseconds: floor(instant / 1e6), also for instants before 1970. */
static int64_t instant_ms(cd_instant t)
{
	int64_t q = t / 1000000;
	if (t % 1000000 < 0)
		q--;
	return q;
}

/* A strict decimal int64 ("-12", not "12x", " 12" or ""). 0 / -1. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
	char tmp[NUM_ROOM], *end;
	long long v;
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno || *end)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* Copies a server or library message into dst: first letter lowercased, no trailing full stop. */
static void tidy(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == '.' || dst[n - 1] == ' ' || dst[n - 1] == '\r' || dst[n - 1] == '\n'))
		n--;
	dst[n] = '\0';
	/* "Connection refused" -> "connection refused"; leave "WRONGPASS ..." alone */
	if (n >= 2 && dst[0] >= 'A' && dst[0] <= 'Z' && dst[1] >= 'a' && dst[1] <= 'z')
		dst[0] = (char)(dst[0] - 'A' + 'a');
}

/* ---- options and lifecycle -------------------------------------------------------- */

void cd_redis_opts_default(cd_redis_opts *o)
{
	o->host = "127.0.0.1";
	o->port = 6379;
	o->password = NULL;
	o->user = NULL;
	o->db = 0;
	o->connect_timeout_ms = 2000;
	o->command_timeout_ms = 5000;
	o->prefix = "contactd";
	o->max_reply_bytes = (size_t)64 << 20;
	o->tag = 'p';
	o->citizen_key = NULL;
}

cd_redis *cd_redis_new(const cd_redis_opts *opts)
{
	cd_redis_opts d;
	cd_redis *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	cd_redis_opts_default(&d);
	if (opts && opts->citizen_key)
		r->ckey = *opts->citizen_key;
	else
		cd_pseudonym_key_dev(&r->ckey);
	if (opts) {
		/* unset fields take the defaults */
		if (opts->host && *opts->host)
			d.host = opts->host;
		if (opts->port > 0)
			d.port = opts->port;
		d.password = opts->password && *opts->password ? opts->password : NULL;
		d.user = opts->user && *opts->user ? opts->user : NULL;
		d.db = opts->db > 0 ? opts->db : 0;
		if (opts->connect_timeout_ms > 0)
			d.connect_timeout_ms = opts->connect_timeout_ms;
		if (opts->command_timeout_ms > 0)
			d.command_timeout_ms = opts->command_timeout_ms;
		if (opts->prefix && *opts->prefix)
			d.prefix = opts->prefix;
		if (opts->max_reply_bytes > 0)
			d.max_reply_bytes = opts->max_reply_bytes;
		if (opts->tag >= 'a' && opts->tag <= 'z')
			d.tag = opts->tag;
	}
	r->o = d;
	r->o.host = strdup(d.host);
	r->o.prefix = strdup(d.prefix);
	r->o.password = dup_or_null(d.password);
	r->o.user = dup_or_null(d.user);
	cd_buf_init(&r->scratch, SIZE_MAX);
	if (!r->o.host || !r->o.prefix || (d.password && !r->o.password) || (d.user && !r->o.user)) {
		cd_redis_free(r);
		return NULL;
	}
	r->prefix_len = strlen(r->o.prefix);
	return r;
}

/* Closes every connection; replies still owed die with them. The nodes and the map stay, as hints. */
static void rs_drop(cd_redis *r)
{
	for (size_t i = 0; i < r->n_node; i++) {
		if (r->node[i].c)
			redisFree(r->node[i].c);
		r->node[i].c = NULL;
		r->node[i].awaiting = false;
	}
	for (size_t i = 0; i < r->unread; i++) {
		owed *w = &r->q[r->q_head + i];
		redisFreeCommand(w->cmd);
		freeReplyObject(w->early);
	}
	r->unread = 0;
	r->q_head = 0;
	r->up = false;
}

int cd_redis_connected(const cd_redis *r)
{
	return r->up;
}

/* The current node's connection (NULL: none). */
static redisContext *cur_c(const cd_redis *r)
{
	return r->n_node ? r->node[r->cur].c : NULL;
}

/* The address messages name: the current node's, or the configured one before any. */
static const char *cur_host(const cd_redis *r)
{
	return r->n_node ? r->node[r->cur].host : r->o.host;
}

static int cur_port(const cd_redis *r)
{
	return r->n_node ? r->node[r->cur].port : r->o.port;
}

void cd_redis_free(cd_redis *r)
{
	if (!r)
		return;
	rs_drop(r);
	free((char *)r->o.host);
	free((char *)r->o.prefix);
	if (r->o.password) {
		memset((char *)r->o.password, 0, strlen(r->o.password));
		free((char *)r->o.password);
	}
	free((char *)r->o.user);
	for (size_t i = 0; i < r->n_node; i++)
		free(r->node[i].host);
	free(r->node);
	free(r->slots);
	free(r->q);
	free(r->argv);
	free(r->argl);
	cd_buf_release(&r->scratch);
	free(r);
}

/* ---- building a command ----------------------------------------------------------- */

/*
 * Starts a command of at most nargs arguments whose formatted parts (keys,
 * numbers) take at most `bytes` bytes. Nothing reallocates until the next
 * args_begin, so the pointers handed to arg()/argf() stay valid.
 */
static int args_begin(cd_redis *r, size_t nargs, size_t bytes, cd_err *err)
{
	r->argc = 0;
	cd_buf_reset(&r->scratch);
	if (cd_array_grow((void **)&r->argv, &r->argcap, nargs, sizeof(*r->argv)) < 0 ||
	    cd_array_grow((void **)&r->argl, &r->lencap, nargs, sizeof(*r->argl)) < 0 ||
	    cd_buf_reserve(&r->scratch, bytes) < 0)
		return cd_err_set(err, 0, "redis: out of memory building a command of %zu arguments", nargs);
	return 0;
}

static void arg(cd_redis *r, const void *p, size_t n)
{
	assert(r->argc < r->argcap && r->argc < r->lencap);
	r->argv[r->argc] = p;
	r->argl[r->argc] = n;
	r->argc++;
}

static void arg_str(cd_redis *r, const char *s)
{
	arg(r, s, strlen(s));
}

/* Formats an argument into the scratch reserved by args_begin. */
static void CD_PRINTF(2, 3) argf(cd_redis *r, const char *fmt, ...)
{
	char *p = r->scratch.data + r->scratch.len;
	size_t room = r->scratch.cap - r->scratch.len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p, room, fmt, ap);
	va_end(ap);
	assert(n >= 0 && (size_t)n < room);   /* args_begin reserved too little */
	r->scratch.len += (size_t)n + 1;      /* keep the NUL: the next argument starts after it */
	arg(r, p, (size_t)n);
}

static void arg_key(cd_redis *r, int32_t p, const char *what)
{
	argf(r, "%s:{%c%" PRId32 "}:%s", r->o.prefix, r->o.tag, p, what);
}

/* A citizen's key names it by its pseudonym: key names are visible to SCAN, MONITOR and SLOWLOG. */
static void arg_citizen_key(cd_redis *r, int32_t p, const char *id)
{
	char ps[CD_PSEUDONYM_LEN + 1];
	cd_pseudonym(&r->ckey, id, strlen(id), ps);
	argf(r, "%s:{%c%" PRId32 "}:c:%s", r->o.prefix, r->o.tag, p, ps);
}

/* A timer member is the sealed id: the processor must learn whom a due timer names. */
static void arg_timer_member(cd_redis *r, const char *id, size_t n)
{
	char *out = r->scratch.data + r->scratch.len;
	size_t len;
	assert(r->scratch.cap - r->scratch.len > CD_PSEUDONYM_SEALED_MAX(n));   /* args_begin reserved too little */
	len = cd_pseudonym_seal(&r->ckey, id, n, out);
	r->scratch.len += len + 1;
	arg(r, out, len);
}

/* ---- talking to Redis ------------------------------------------------------------ */

/* The current node's connection failed: describes why in err (retriable) and drops every connection. */
static int conn_fail(cd_redis *r, const char *what, cd_err *err)
{
	int e = errno;
	redisContext *c = cur_c(r);
	char cause[160];
	r->st.errors++;
	if (!c)
		snprintf(cause, sizeof(cause), "out of memory");
	else if (c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK))
		snprintf(cause, sizeof(cause), "timed out after %d ms", r->o.command_timeout_ms);
	else
		tidy(cause, sizeof(cause), c->errstr, strlen(c->errstr));
	cd_err_set(err, 1, "redis '%s:%d' %s: %s", cur_host(r), cur_port(r), what, cause);
	if (r->cluster)
		r->stale = true;
	rs_drop(r);
	return -1;
}

/* Error replies that a later retry may outlive (the server is loading, failing over, busy, full). */
static int retriable_reply(const char *s, size_t n)
{
	static const char *const codes[] = {
		"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN",
		"NOREPLICAS", "MISCONF", "OOM",
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		size_t k = strlen(codes[i]);
		if (n >= k && !memcmp(s, codes[i], k) && (n == k || s[k] == ' '))
			return 1;
	}
	return 0;
}

/* Describes an error reply (or a reply of an unexpected type) in err. Always -1. */
static int reply_fail(cd_redis *r, const redisReply *rep, const char *what, cd_err *err)
{
	char cause[256];
	if (rep->type != REDIS_REPLY_ERROR)
		return cd_err_set(err, 0, "redis '%s:%d' %s: unexpected reply of type %d", cur_host(r), cur_port(r),
				  what, rep->type);
	tidy(cause, sizeof(cause), rep->str, rep->len);
	if ((rep->len > 6 && !memcmp(rep->str, "MOVED ", 6)) || (rep->len > 4 && !memcmp(rep->str, "ASK ", 4))) {
		if (r->cluster) {
			/* redirects not followed here (too many, or a pipelined read): the map is read again */
			r->stale = true;
			return cd_err_set(err, 1, "redis '%s:%d' %s: %s: the cluster's slots are moving", cur_host(r),
					  cur_port(r), what, cause);
		}
		return cd_err_set(err, 0, "redis '%s:%d' %s: %s: the server is a Redis Cluster node that did not say so "
				  "to CLUSTER SLOTS (contactd follows a cluster it can read the slot map of)",
				  cur_host(r), cur_port(r), what, cause);
	}
	return cd_err_set(err, retriable_reply(rep->str, rep->len), "redis '%s:%d' %s: %s", cur_host(r),
			  cur_port(r), what, cause);
}

static int reply_is_error(const redisReply *rep, const char *code)
{
	size_t k = strlen(code);
	return rep->type == REDIS_REPLY_ERROR && rep->len >= k && !memcmp(rep->str, code, k);
}

/* Refuses an array that could not fit in max_reply_bytes (at least 3 bytes per element). */
static void *guarded_create_array(const redisReadTask *task, int elements)
{
	cd_redis *r = task->privdata;
	assert(r);
	if (elements > 0 && (size_t)elements > r->o.max_reply_bytes / 3) {
		r->too_big = 1;
		return NULL;   /* hiredis reports out of memory; we know better */
	}
	return r->base_fn->createArray(task, elements);
}

static int too_big(cd_redis *r, const char *what, cd_err *err)
{
	r->st.errors++;
	cd_err_set(err, 0, "redis '%s:%d' %s: reply exceeds max_reply_bytes (%zu)", cur_host(r), cur_port(r), what,
		   r->o.max_reply_bytes);
	rs_drop(r);    /* the rest of the reply is still in flight */
	return -1;
}

/* Writes out what the current node's connection holds. 0 / -1. */
static int rs_flush(cd_redis *r, const char *what, cd_err *err)
{
	int done = 0;
	do {
		if (redisBufferWrite(r->node[r->cur].c, &done) != REDIS_OK)
			return conn_fail(r, what, err);
	} while (!done);
	r->node[r->cur].awaiting = true;
	return 0;
}

/* Sends one command (binary-safe argv with lengths) to the current node, reply not read (rs_recv reads it). 0 / -1. */
static int rs_send(cd_redis *r, const char *what, size_t argc, const char **argv, const size_t *argl, cd_err *err)
{
	redisContext *c = cur_c(r);

	if (!c)
		return cd_err_set(err, 1, "redis '%s:%d' %s: not connected", cur_host(r), cur_port(r), what);
	if (argc > INT_MAX)
		return cd_err_set(err, 0, "redis '%s:%d' %s: %zu arguments are too many", cur_host(r), cur_port(r),
				  what, argc);
	if (redisAppendCommandArgv(c, (int)argc, argv, argl) != REDIS_OK)
		return conn_fail(r, what, err);
	return rs_flush(r, what, err);
}

/* The same with a command already formatted (redisFormatCommandArgv). */
static int rs_send_fmt(cd_redis *r, const char *what, const char *cmd, size_t len, cd_err *err)
{
	redisContext *c = cur_c(r);

	if (!c)
		return cd_err_set(err, 1, "redis '%s:%d' %s: not connected", cur_host(r), cur_port(r), what);
	if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK)
		return conn_fail(r, what, err);
	return rs_flush(r, what, err);
}

/* Reads the current node's next reply (of its oldest command sent and not yet read): 0 with *out / -1. */
static int rs_recv(cd_redis *r, const char *what, redisReply **out, cd_err *err)
{
	redisContext *c = cur_c(r);
	void *reply = NULL;
	size_t got = 0;

	*out = NULL;
	if (!c)
		return cd_err_set(err, 1, "redis '%s:%d' %s: not connected", cur_host(r), cur_port(r), what);
	r->too_big = 0;
	if (redisGetReplyFromReader(c, &reply) != REDIS_OK)   /* already read with an earlier reply */
		return r->too_big ? too_big(r, what, err) : conn_fail(r, what, err);
	while (!reply) {
		size_t before = c->reader->len;
		if (redisBufferRead(c) != REDIS_OK)
			return conn_fail(r, what, err);
		got += c->reader->len - before;
		if (got > r->o.max_reply_bytes)
			return too_big(r, what, err);
		if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
			return r->too_big ? too_big(r, what, err) : conn_fail(r, what, err);
	}
	*out = reply;
	if (r->node[r->cur].awaiting) {
		r->st.round_trips++;             /* the first reply of what was sent together */
		r->node[r->cur].awaiting = false;
	}
	if (((redisReply *)reply)->type == REDIS_REPLY_ERROR && !r->probing && !reply_is_error(reply, "FENCED") &&
	    !reply_is_error(reply, "NOSCRIPT") && !(r->cluster && (reply_is_error(reply, "MOVED ") ||
	    reply_is_error(reply, "ASK ") || reply_is_error(reply, "TRYAGAIN") || reply_is_error(reply, "CLUSTERDOWN"))))
		r->st.errors++;                  /* fencing is counted where it is handled; NOSCRIPT reloads; redirects are followed */
	return 0;
}

/* ---- the cluster: nodes, the slot map, redirects ---------------------------------- */

/* The index of the node host:port, added when new. -1: out of memory. */
static int node_get(cd_redis *r, const char *host, int port)
{
	rnode *n;
	for (size_t i = 0; i < r->n_node; i++)
		if (r->node[i].port == port && !strcmp(r->node[i].host, host))
			return (int)i;
	if (r->n_node >= INT_MAX || cd_array_grow((void **)&r->node, &r->cap_node, r->n_node + 1, sizeof(*r->node)) < 0)
		return -1;
	n = &r->node[r->n_node];
	memset(n, 0, sizeof(*n));
	n->port = port;
	if (!(n->host = strdup(host)))
		return -1;
	return (int)r->n_node++;
}

/* A command answered by the current node, which owes nothing else (connecting, the map). 0 with *out / -1. */
static int rs_call_here(cd_redis *r, const char *what, size_t argc, const char **argv, const size_t *argl,
			redisReply **out, cd_err *err)
{
	*out = NULL;
	if (rs_send(r, what, argc, argv, argl, err) < 0 || rs_recv(r, what, out, err) < 0)
		return -1;
	if ((*out)->type == REDIS_REPLY_ERROR) {
		reply_fail(r, *out, what, err);
		freeReplyObject(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int script_load(cd_redis *r, const char *src, char *sha, cd_err *err)
{
	const char *argv[3] = { "SCRIPT", "LOAD", src };
	size_t argl[3] = { 6, 4, strlen(src) };
	redisReply *rep = NULL;
	int rc = -1;

	if (rs_call_here(r, "SCRIPT LOAD", 3, argv, argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_STRING || rep->len != SHA_LEN) {
		reply_fail(r, rep, "SCRIPT LOAD", err);
		goto out;
	}
	memcpy(sha, rep->str, SHA_LEN);
	sha[SHA_LEN] = '\0';
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/*
 * Makes node i current, connecting it first when it is not: timeouts, the
 * reply guard, AUTH, the scripts. Any failure drops every connection (as one
 * lost Redis would): 0 / -1 (retriable when a retry can help).
 */
static int node_use(cd_redis *r, int i, cd_err *err)
{
	rnode *n = &r->node[i];
	redisContext *c;
	redisReply *rep = NULL;
	char cause[160];

	r->cur = i;
	if (n->c)
		return 0;
	c = redisConnectWithTimeout(n->host, n->port, ms_tv(r->o.connect_timeout_ms));
	if (!c)
		return cd_err_set(err, 1, "redis '%s:%d' connect: out of memory", n->host, n->port);
	if (c->err) {
		tidy(cause, sizeof(cause), c->errstr, strlen(c->errstr));
		redisFree(c);
		cd_err_set(err, 1, "redis '%s:%d' connect: %s", n->host, n->port, cause);
		if (r->cluster)
			r->stale = true;
		rs_drop(r);
		return -1;
	}
	n->c = c;
	if (redisSetTimeout(c, ms_tv(r->o.command_timeout_ms)) != REDIS_OK ||
	    redisEnableKeepAlive(c) != REDIS_OK)
		return conn_fail(r, "connect", err);
	/* bound what the reader allocates (see the essay) */
	r->base_fn = c->reader->fn;
	r->fn = *r->base_fn;
	r->fn.createArray = guarded_create_array;
	c->reader->fn = &r->fn;
	c->reader->privdata = r;

	if (r->o.password) {
		/* AUTH [user] password: the password never appears in a message */
		const char *argv[3] = { "AUTH", r->o.user, r->o.password };
		size_t argl[3] = { 4, r->o.user ? strlen(r->o.user) : 0, strlen(r->o.password) };
		size_t argc = 3;
		char what[160];
		if (!r->o.user) {
			argv[1] = argv[2];
			argl[1] = argl[2];
			argc = 2;
		}
		snprintf(what, sizeof(what), "AUTH as user '%s'", r->o.user ? r->o.user : "default");
		if (rs_call_here(r, what, argc, argv, argl, &rep, err) < 0)
			goto fail;
		freeReplyObject(rep);
	}
	if (script_load(r, commit_lua, r->commit_sha, err) < 0 || script_load(r, trim_lua, r->trim_sha, err) < 0)
		goto fail;
	return 0;
fail:
	rs_drop(r);
	return -1;
}

/*
 * Reads ahead the replies node t owes to pipelined calls, keeping each with
 * its call: a command sent to t now is then answered first. 0 / -1.
 */
static int read_ahead(cd_redis *r, int t, cd_err *err)
{
	for (size_t i = 0; i < r->unread; i++) {
		owed *w = &r->q[r->q_head + i];
		if (w->node != t || w->early)
			continue;
		r->cur = t;
		if (rs_recv(r, "pipelined call", &w->early, err) < 0)
			return -1;
	}
	r->cur = t;
	return 0;
}

/* Fills the slot map from a CLUSTER SLOTS reply. 0 / -1. */
static int map_parse(cd_redis *r, const redisReply *rep, cd_err *err)
{
	const char *asked = r->node[r->cur].host;
	if (rep->type != REDIS_REPLY_ARRAY)
		return reply_fail(r, rep, "CLUSTER SLOTS", err);
	memset(r->slots, 0, CD_CLUSTER_SLOTS * sizeof(*r->slots));
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i], *m;
		const char *host;
		int k;
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY)
			return cd_err_set(err, 0, "redis '%s:%d' CLUSTER SLOTS: malformed reply", cur_host(r), cur_port(r));
		m = e->element[2];
		if (m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
		    m->element[1]->type != REDIS_REPLY_INTEGER || m->element[1]->integer <= 0 ||
		    m->element[1]->integer > 65535 || e->element[0]->integer < 0 ||
		    e->element[1]->integer >= CD_CLUSTER_SLOTS || e->element[0]->integer > e->element[1]->integer)
			return cd_err_set(err, 0, "redis '%s:%d' CLUSTER SLOTS: malformed reply", cur_host(r), cur_port(r));
		/* an empty or "?" endpoint: the master is reached where we asked */
		host = m->element[0]->len && strcmp(m->element[0]->str, "?") ? m->element[0]->str : asked;
		if ((k = node_get(r, host, (int)m->element[1]->integer)) < 0)
			return cd_err_set(err, 0, "redis CLUSTER SLOTS: out of memory");
		asked = r->node[r->cur].host;   /* node_get may have moved the array */
		for (long long s = e->element[0]->integer; s <= e->element[1]->integer; s++)
			r->slots[s] = (uint16_t)(k + 1);
	}
	return 0;
}

/*
 * Reads the slot map again, from the current node when it is connected, else
 * from any connected node, else from the first node that answers. 0 / -1.
 */
static int map_refresh(cd_redis *r, cd_err *err)
{
	static const char *argv[2] = { "CLUSTER", "SLOTS" };
	static const size_t argl[2] = { 7, 5 };
	redisReply *rep = NULL;
	int at = -1, rc;

	if (r->n_node && r->node[r->cur].c)
		at = r->cur;
	for (size_t i = 0; at < 0 && i < r->n_node; i++)
		if (r->node[i].c)
			at = (int)i;
	for (size_t i = 0; at < 0 && i < r->n_node; i++)
		if (node_use(r, (int)i, err) == 0)
			at = (int)i;
	if (at < 0)
		return -1;
	if (read_ahead(r, at, err) < 0 || rs_call_here(r, "CLUSTER SLOTS", 2, argv, argl, &rep, err) < 0)
		return -1;
	rc = map_parse(r, rep, err);
	freeReplyObject(rep);
	if (rc == 0) {
		r->st.refreshes++;
		r->stale = false;
	}
	return rc;
}

/* Makes the master of `slot` current (connected). 0 / -1 (retriable). */
static int route_slot(cd_redis *r, int slot, cd_err *err)
{
	int k;
	r->slot = slot;
	if (r->stale && map_refresh(r, err) < 0)
		return -1;
	k = r->slots[slot];
	if (!k && (map_refresh(r, err) < 0 || !(k = r->slots[slot])))
		return cd_err_set(err, 1, "redis cluster: no master serves slot %d", slot);
	return node_use(r, k - 1, err);
}

/* Makes the node that holds partition p's keys current. Standalone: the one node. 0 / -1. */
static int route(cd_redis *r, int32_t p, cd_err *err)
{
	if (!r->up || !r->cluster)
		return 0;        /* the one node; not connected: the call says so */
	return route_slot(r, cd_cluster_tag_slot(r->o.tag, p), err);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A command to send again: an argument vector, or formatted bytes. */
typedef struct cmdref {
	size_t argc;
	const char **argv;
	const size_t *argl;
	const char *fmt;
	size_t len;
} cmdref;

static int send_ref(cd_redis *r, const char *what, const cmdref *cmd, cd_err *err)
{
	return cmd->fmt ? rs_send_fmt(r, what, cmd->fmt, cmd->len, err)
			: rs_send(r, what, cmd->argc, cmd->argv, cmd->argl, err);
}

/*
 * *rep is the current node's reply to cmd, a command on slot r->slot. In a
 * cluster, follows MOVED (map read again) and ASK (ASKING, once), and waits
 * out TRYAGAIN and CLUSTERDOWN, sending cmd again each time, until the reply
 * is another one or the bounds are reached (then the last reply stands).
 * 0 with *rep / -1 (a connection failed).
 */
static int follow(cd_redis *r, const char *what, const cmdref *cmd, redisReply **rep, cd_err *err)
{
	int redirects = 0, waits = 0, wait_ms = 10;

	while (r->cluster && (*rep)->type == REDIS_REPLY_ERROR) {
		cd_cluster_redirect rd;
		redisReply *x = *rep, *ok = NULL;
		int t, ask = 0;

		if (cd_cluster_parse_redirect(x->str, x->len, &rd) == 0) {
			if (++redirects > MAX_REDIRECTS)
				break;
			if ((t = node_get(r, rd.host[0] ? rd.host : cur_host(r), rd.port)) < 0)
				break;
			if (rd.ask) {
				r->st.asks++;
				ask = 1;
			} else {
				r->st.moved++;
				if (map_refresh(r, err) < 0)
					return -1;
				r->slots[rd.slot] = (uint16_t)(t + 1);   /* the map may lag the reply */
			}
		} else if (reply_is_error(x, "TRYAGAIN") || reply_is_error(x, "CLUSTERDOWN")) {
			if (++waits > TRYAGAIN_TRIES)
				break;
			r->st.waits++;
			sleep_ms(wait_ms);
			wait_ms *= 2;
			if (reply_is_error(x, "CLUSTERDOWN"))
				r->stale = true;
			if (r->stale && map_refresh(r, err) < 0)
				return -1;
			if (!r->slots[r->slot])
				break;
			t = r->slots[r->slot] - 1;     /* from the owner again: it may ASK */
		} else
			break;
		freeReplyObject(x);
		*rep = NULL;
		if (node_use(r, t, err) < 0 || read_ahead(r, t, err) < 0)
			return -1;
		if (ask) {
			static const char *argv[1] = { "ASKING" };
			static const size_t argl[1] = { 6 };
			if (rs_send(r, "ASKING", 1, argv, argl, err) < 0)
				return -1;
		}
		if (send_ref(r, what, cmd, err) < 0)
			return -1;
		if (ask) {
			if (rs_recv(r, "ASKING", &ok, err) < 0)
				return -1;
			freeReplyObject(ok);
		}
		if (rs_recv(r, what, rep, err) < 0)
			return -1;
	}
	return 0;
}

static int rs_call(cd_redis *r, const char *what, size_t argc, const char **argv, const size_t *argl,
		   redisReply **out, cd_err *err)
{
	cmdref cmd = { argc, argv, argl, NULL, 0 };
	*out = NULL;
	if (r->unread)   /* its reply would be a commit's */
		return cd_err_set(err, 0, "redis '%s:%d' %s: %zu commit replies are still to be read", cur_host(r),
				  cur_port(r), what, r->unread);
	if (rs_send(r, what, argc, argv, argl, err) < 0 || rs_recv(r, what, out, err) < 0)
		return -1;
	if (follow(r, what, &cmd, out, err) < 0) {
		freeReplyObject(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* rs_call with the arguments built by args_begin/arg. */
static int rs_call_args(cd_redis *r, const char *what, redisReply **out, cd_err *err)
{
	return rs_call(r, what, r->argc, r->argv, r->argl, out, err);
}

/* A command whose reply must not be an error: 0 with *out, or -1 (and no reply). */
static int rs_call_ok(cd_redis *r, const char *what, size_t argc, const char **argv, const size_t *argl,
		      redisReply **out, cd_err *err)
{
	if (rs_call(r, what, argc, argv, argl, out, err) < 0)
		return -1;
	if ((*out)->type == REDIS_REPLY_ERROR) {
		reply_fail(r, *out, what, err);
		freeReplyObject(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/*
 * Runs the prepared EVALSHA (argv[1] is the digest in sha); on NOSCRIPT,
 * loads src again on the node that said so and retries once. 0 with *out
 * (error replies included) / -1.
 */
static int eval_script(cd_redis *r, const char *what, const char *src, char *sha, redisReply **out, cd_err *err)
{
	if (rs_call_args(r, what, out, err) < 0)
		return -1;
	if (!reply_is_error(*out, "NOSCRIPT"))
		return 0;
	freeReplyObject(*out);
	*out = NULL;
	if (script_load(r, src, sha, err) < 0)
		return -1;
	return rs_call_args(r, what, out, err);
}

/* ---- connecting -------------------------------------------------------------------- */

/*
 * Opens the configured address (or, when it fails and a cluster was known,
 * any node of it), then asks CLUSTER SLOTS whether this is a cluster.
 */
int cd_redis_connect(cd_redis *r, cd_err *err)
{
	static const char *slots_argv[2] = { "CLUSTER", "SLOTS" };   /* as map_refresh sends it */
	static const size_t slots_argl[2] = { 7, 5 };
	redisReply *rep = NULL;
	char num[NUM_ROOM];
	cd_err first;
	int seed, rc = -1;

	rs_drop(r);
	if (strchr(r->o.prefix, '{') || strchr(r->o.prefix, '}'))
		return cd_err_set(err, 0, "redis prefix '%s': must not contain '{' or '}' (they make hash tags)",
				  r->o.prefix);
	if ((seed = node_get(r, r->o.host, r->o.port)) < 0)
		return cd_err_set(err, 1, "redis '%s:%d' connect: out of memory", r->o.host, r->o.port);
	if (node_use(r, seed, &first) < 0) {
		int ok = 0;
		for (size_t i = 0; r->cluster && !ok && first.retriable && i < r->n_node; i++)
			ok = (int)i != seed && node_use(r, (int)i, err) == 0;
		if (!ok) {
			*err = first;
			return -1;
		}
	}
	r->probing = true;
	rc = rs_send(r, "CLUSTER SLOTS", 2, slots_argv, slots_argl, err) < 0 ? -1 : rs_recv(r, "CLUSTER SLOTS", &rep, err);
	r->probing = false;
	if (rc < 0)
		goto out;
	rc = -1;
	if (reply_is_error(rep, "ERR This instance has cluster support disabled") || reply_is_error(rep, "NOPERM")) {
		r->cluster = false;
		if (r->o.db != 0) {
			const char *argv[2] = { "SELECT", num };
			size_t argl[2] = { 6, 0 };
			freeReplyObject(rep);
			rep = NULL;
			argl[1] = (size_t)snprintf(num, sizeof(num), "%d", r->o.db);
			if (rs_call_here(r, "SELECT", 2, argv, argl, &rep, err) < 0)
				goto out;
		}
	} else {
		if (r->o.db != 0) {
			cd_err_set(err, 0, "redis '%s:%d': a Redis Cluster has only database 0, and redis-db is %d",
				   cur_host(r), cur_port(r), r->o.db);
			goto out;
		}
		if (!r->slots && !(r->slots = calloc(CD_CLUSTER_SLOTS, sizeof(*r->slots)))) {
			cd_err_set(err, 0, "redis: out of memory for the slot map");
			goto out;
		}
		r->cluster = true;
		if (map_parse(r, rep, err) < 0)
			goto out;
		r->st.refreshes++;
		r->stale = false;
	}
	rc = 0;
	r->up = true;
	if (r->st.connects++)
		r->st.reconnects++;
out:
	freeReplyObject(rep);
	if (rc < 0)
		rs_drop(r);
	return rc;
}

/* ---- fencing and position ---------------------------------------------------------- */

int cd_redis_fence_acquire(cd_redis *r, int32_t p, int64_t *token, cd_err *err)
{
	redisReply *rep = NULL;
	int rc = -1;

	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 4, r->prefix_len + KEY_ROOM, err) < 0)
		return -1;
	arg_str(r, "HINCRBY");
	arg_key(r, p, "meta");
	arg_str(r, "fence");
	arg_str(r, "1");
	if (rs_call_ok(r, "HINCRBY fence", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		reply_fail(r, rep, "HINCRBY fence", err);
		goto out;
	}
	*token = (int64_t)rep->integer;
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

int cd_redis_position(cd_redis *r, int32_t p, const char *topic, int64_t *next_offset, cd_instant *floor,
		      cd_err *err)
{
	redisReply *rep = NULL;
	int64_t v;
	int rc = -1;

	*next_offset = -1;
	*floor = CD_INSTANT_NONE;
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 4, r->prefix_len + KEY_ROOM + strlen(topic) + 8, err) < 0)
		return -1;
	arg_str(r, "HMGET");
	arg_key(r, p, "meta");
	argf(r, "off:%s", topic);
	arg_str(r, "floor");
	if (rs_call_ok(r, "HMGET meta", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		reply_fail(r, rep, "HMGET meta", err);
		goto out;
	}
	if (rep->element[0]->type == REDIS_REPLY_STRING) {
		if (parse_i64(rep->element[0]->str, rep->element[0]->len, &v) < 0 || v < 0) {
			cd_err_set(err, 0, "partition %" PRId32 ": stored offset of topic '%s' is not an offset", p,
				   topic);
			goto out;
		}
		*next_offset = v;
	}
	if (rep->element[1]->type == REDIS_REPLY_STRING) {
		if (parse_i64(rep->element[1]->str, rep->element[1]->len, &v) < 0 || v == CD_INSTANT_NONE) {
			cd_err_set(err, 0, "partition %" PRId32 ": stored 'floor' is not an instant", p);
			goto out;
		}
		*floor = v;
	}
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

int cd_redis_load(cd_redis *r, int32_t p, const char *const *ids, size_t n, cd_buf *recs, int *found,
		  cd_err *err)
{
	redisReply *rep = NULL;
	size_t bytes = 0;
	int rc = -1;

	if (n == 0)
		return 0;
	bytes = n * (r->prefix_len + KEY_ROOM + CD_PSEUDONYM_LEN);
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, n + 1, bytes, err) < 0)
		return -1;
	arg_str(r, "MGET");
	for (size_t i = 0; i < n; i++)
		arg_citizen_key(r, p, ids[i]);
	if (rs_call_ok(r, "MGET citizens", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
		reply_fail(r, rep, "MGET citizens", err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = rep->element[i];
		cd_buf_reset(&recs[i]);
		found[i] = 0;
		if (e->type == REDIS_REPLY_NIL)
			continue;
		if (e->type != REDIS_REPLY_STRING) {
			reply_fail(r, e, "MGET citizens", err);
			goto out;
		}
		if (cd_buf_append(&recs[i], e->str, e->len) < 0) {
			cd_err_set(err, 0, "a citizen's record of %zu bytes (MGET item %zu) exceeds the buffer maximum (%zu)",
				   e->len, i, recs[i].max);
			goto out;
		}
		found[i] = 1;
	}
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/* ---- a batch ------------------------------------------------------------------------ */

typedef struct brec {
	size_t id, id_len;     /* offsets into bytes; the id is NUL-terminated there */
	size_t rec, rec_len;
	cd_instant next_fire;
	bool del;              /* retention: the record and its timer go */
} brec;

typedef struct bspan {
	size_t off, len;
} bspan;

typedef struct boff {
	size_t topic, topic_len;   /* NUL-terminated in bytes */
	int64_t next;
} boff;

typedef struct bmeta {
	size_t field, field_len, val, val_len;    /* in bytes */
} bmeta;

typedef struct bhop {
	char op;                   /* 'S' or 'D' */
	int hash;                  /* index into hashes */
	size_t field, field_len, val, val_len;
} bhop;

#define MAX_HASHES 8

struct cd_redis_batch {
	cd_buf bytes;              /* copies of every id, record, entry and topic, back to back */
	bmeta *meta;
	size_t n_meta, cap_meta;
	bhop *hop;
	size_t n_hop, cap_hop;
	char hashes[MAX_HASHES][16];
	size_t n_hashes;
	brec *rec;
	size_t n_rec, cap_rec;
	bspan *out;
	size_t n_out, cap_out;
	boff *off;
	size_t n_off, cap_off;
	int has_floor;
	cd_instant floor;
};

cd_redis_batch *cd_redis_batch_new(void)
{
	cd_redis_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	cd_buf_init(&b->bytes, SIZE_MAX);
	b->floor = CD_INSTANT_NONE;
	return b;
}

void cd_redis_batch_free(cd_redis_batch *b)
{
	if (!b)
		return;
	cd_buf_release(&b->bytes);
	free(b->rec);
	free(b->out);
	free(b->off);
	free(b->meta);
	free(b->hop);
	free(b);
}

void cd_redis_batch_clear(cd_redis_batch *b)
{
	cd_buf_reset(&b->bytes);
	b->n_rec = b->n_out = b->n_off = b->n_meta = b->n_hop = b->n_hashes = 0;
	b->has_floor = 0;
	b->floor = CD_INSTANT_NONE;
}

/* Appends p[0..n) and, when nul, a NUL; *at receives the offset. On failure nothing is kept. */
static int batch_copy(cd_redis_batch *b, const void *p, size_t n, int nul, size_t *at)
{
	size_t old = b->bytes.len;
	if (cd_buf_append(&b->bytes, p, n) < 0 || (nul && cd_buf_putc(&b->bytes, '\0') < 0)) {
		b->bytes.len = old;
		if (b->bytes.data)
			b->bytes.data[old] = '\0';
		return -1;
	}
	*at = old;
	return 0;
}

static const char *batch_ptr(const cd_redis_batch *b, size_t off)
{
	return b->bytes.data ? b->bytes.data + off : "";
}

int cd_redis_batch_record(cd_redis_batch *b, const char *id, const void *rec, size_t n, cd_instant next_fire)
{
	size_t old = b->bytes.len, id_len = strlen(id);
	brec *x;
	if (cd_array_grow((void **)&b->rec, &b->cap_rec, b->n_rec + 1, sizeof(*b->rec)) < 0)
		return -1;
	x = &b->rec[b->n_rec];
	if (batch_copy(b, id, id_len, 1, &x->id) < 0)
		return -1;
	if (batch_copy(b, rec, n, 0, &x->rec) < 0) {
		b->bytes.len = old;
		b->bytes.data[old] = '\0';
		return -1;
	}
	x->id_len = id_len;
	x->rec_len = n;
	x->next_fire = next_fire;
	x->del = false;
	b->n_rec++;
	return 0;
}

int cd_redis_batch_delete(cd_redis_batch *b, const char *id)
{
	if (cd_redis_batch_record(b, id, "", 0, CD_INSTANT_NONE) < 0)
		return -1;
	b->rec[b->n_rec - 1].del = true;
	return 0;
}

int cd_redis_batch_outbox(cd_redis_batch *b, const void *entry, size_t n)
{
	bspan *x;
	if (cd_array_grow((void **)&b->out, &b->cap_out, b->n_out + 1, sizeof(*b->out)) < 0)
		return -1;
	x = &b->out[b->n_out];
	if (batch_copy(b, entry, n, 0, &x->off) < 0)
		return -1;
	x->len = n;
	b->n_out++;
	return 0;
}

int cd_redis_batch_offset(cd_redis_batch *b, const char *topic, int64_t next_offset)
{
	size_t len = strlen(topic);
	boff *x;
	for (size_t i = 0; i < b->n_off; i++) {
		x = &b->off[i];
		if (x->topic_len == len && !memcmp(batch_ptr(b, x->topic), topic, len)) {
			x->next = next_offset;
			return 0;
		}
	}
	if (cd_array_grow((void **)&b->off, &b->cap_off, b->n_off + 1, sizeof(*b->off)) < 0)
		return -1;
	x = &b->off[b->n_off];
	if (batch_copy(b, topic, len, 1, &x->topic) < 0)
		return -1;
	x->topic_len = len;
	x->next = next_offset;
	b->n_off++;
	return 0;
}

int cd_redis_batch_meta(cd_redis_batch *b, const char *field, const char *value)
{
	size_t old = b->bytes.len;
	bmeta *x;
	if (cd_array_grow((void **)&b->meta, &b->cap_meta, b->n_meta + 1, sizeof(*b->meta)) < 0)
		return -1;
	x = &b->meta[b->n_meta];
	x->field_len = strlen(field);
	x->val_len = strlen(value);
	if (batch_copy(b, field, x->field_len, 1, &x->field) < 0)
		return -1;
	if (batch_copy(b, value, x->val_len, 1, &x->val) < 0) {
		b->bytes.len = old;
		b->bytes.data[old] = '\0';
		return -1;
	}
	b->n_meta++;
	return 0;
}

static int batch_hop(cd_redis_batch *b, char op, const char *hash, const void *field, size_t flen, const void *val,
		     size_t vlen)
{
	size_t old = b->bytes.len, h;
	bhop *x;
	if (strlen(hash) >= sizeof(b->hashes[0]))
		return -1;
	for (h = 0; h < b->n_hashes && strcmp(b->hashes[h], hash); h++)
		;
	if (h == b->n_hashes) {
		if (h == MAX_HASHES)
			return -1;
		snprintf(b->hashes[h], sizeof(b->hashes[h]), "%s", hash);
		b->n_hashes++;
	}
	if (cd_array_grow((void **)&b->hop, &b->cap_hop, b->n_hop + 1, sizeof(*b->hop)) < 0)
		return -1;
	x = &b->hop[b->n_hop];
	x->op = op;
	x->hash = (int)h;
	x->field_len = flen;
	x->val_len = vlen;
	if (batch_copy(b, field, flen, 0, &x->field) < 0)
		return -1;
	if (batch_copy(b, val, vlen, 0, &x->val) < 0) {
		b->bytes.len = old;
		if (b->bytes.data)
			b->bytes.data[old] = '\0';
		return -1;
	}
	b->n_hop++;
	return 0;
}

int cd_redis_batch_hset(cd_redis_batch *b, const char *hash, const void *field, size_t flen, const void *val,
			size_t vlen)
{
	return batch_hop(b, 'S', hash, field, flen, val, vlen);
}

int cd_redis_batch_hdel(cd_redis_batch *b, const char *hash, const void *field, size_t flen)
{
	return batch_hop(b, 'D', hash, field, flen, "", 0);
}

void cd_redis_batch_floor(cd_redis_batch *b, cd_instant floor)
{
	b->has_floor = floor != CD_INSTANT_NONE;
	b->floor = floor;
}

int cd_redis_batch_empty(const cd_redis_batch *b)
{
	return b->n_rec == 0 && b->n_out == 0 && b->n_off == 0 && b->n_meta == 0 && b->n_hop == 0 && !b->has_floor;
}

/* ---- commit ------------------------------------------------------------------------- */

/* The reply of a fenced script: CD_REDIS_FENCED with a final error. */
static int fenced(int32_t p, int64_t token, const char *what, cd_err *err)
{
	cd_err_set(err, 0, "partition %" PRId32 " %s: fenced (token %" PRId64 " is not the current one)", p, what, token);
	return CD_REDIS_FENCED;
}

/* Builds the EVALSHA of commit_lua for b in r's argument scratch. 0 / -1. */
static int commit_args(cd_redis *r, int32_t p, int64_t token, const cd_redis_batch *b, cd_err *err)
{
	size_t nargs, bytes;

	nargs = 3 + 3 + b->n_rec + b->n_hashes + 7 + 3 * b->n_rec + b->n_out + 2 * (b->n_off + b->n_meta) +
		4 * b->n_hop;
	bytes = NUM_ROOM * 8 + 3 * (r->prefix_len + KEY_ROOM) + b->n_rec * NUM_ROOM + b->n_hop * 2 * NUM_ROOM;
	for (size_t i = 0; i < b->n_rec; i++)
		bytes += r->prefix_len + KEY_ROOM + CD_PSEUDONYM_LEN + CD_PSEUDONYM_SEALED_MAX(b->rec[i].id_len) + 1;
	bytes += b->n_hashes * (r->prefix_len + KEY_ROOM + sizeof(b->hashes[0]));
	for (size_t i = 0; i < b->n_off; i++)
		bytes += b->off[i].topic_len + 8 + NUM_ROOM;
	if (args_begin(r, nargs, bytes, err) < 0)
		return -1;

	arg_str(r, "EVALSHA");
	arg(r, r->commit_sha, SHA_LEN);
	argf(r, "%zu", 3 + b->n_rec + b->n_hashes);
	/* KEYS */
	arg_key(r, p, "meta");
	arg_key(r, p, "timers");
	arg_key(r, p, "outbox");
	for (size_t i = 0; i < b->n_rec; i++)
		arg_citizen_key(r, p, batch_ptr(b, b->rec[i].id));
	for (size_t j = 0; j < b->n_hashes; j++)
		arg_key(r, p, b->hashes[j]);
	/* ARGV: see commit_lua */
	argf(r, "%" PRId64, token);
	argf(r, "%zu", b->n_rec);
	argf(r, "%zu", b->n_out);
	argf(r, "%zu", b->n_off + b->n_meta);
	if (b->has_floor)
		argf(r, "%" PRId64, b->floor);
	else
		arg(r, "", 0);
	argf(r, "%zu", b->n_hop);
	argf(r, "%zu", b->n_hashes);
	for (size_t i = 0; i < b->n_rec; i++) {
		const brec *x = &b->rec[i];
		arg(r, batch_ptr(b, x->rec), x->rec_len);
		arg_timer_member(r, batch_ptr(b, x->id), x->id_len);
		if (x->del)
			arg(r, "x", 1);
		else if (x->next_fire == CD_INSTANT_NONE)
			arg(r, "", 0);
		else
			argf(r, "%" PRId64, instant_ms(x->next_fire));
	}
	for (size_t i = 0; i < b->n_out; i++)
		arg(r, batch_ptr(b, b->out[i].off), b->out[i].len);
	for (size_t i = 0; i < b->n_off; i++) {
		argf(r, "off:%s", batch_ptr(b, b->off[i].topic));
		argf(r, "%" PRId64, b->off[i].next);
	}
	for (size_t i = 0; i < b->n_meta; i++) {
		arg(r, batch_ptr(b, b->meta[i].field), b->meta[i].field_len);
		arg(r, batch_ptr(b, b->meta[i].val), b->meta[i].val_len);
	}
	for (size_t i = 0; i < b->n_hop; i++) {
		const bhop *x = &b->hop[i];
		arg(r, x->op == 'S' ? "S" : "D", 1);
		argf(r, "%d", x->hash + 1);
		arg(r, batch_ptr(b, x->field), x->field_len);
		arg(r, batch_ptr(b, x->val), x->val_len);
	}
	assert(r->argc == nargs);
	return 0;
}

/* The reply of a fenced script ("commit", "outbox trim"): 0, -1, or CD_REDIS_FENCED. Frees rep. */
static int script_reply(cd_redis *r, int32_t p, int64_t token, const char *what, redisReply *rep, cd_err *err)
{
	int rc = 0;
	if (reply_is_error(rep, "FENCED"))
		rc = fenced(p, token, what, err);
	else if (rep->type != REDIS_REPLY_INTEGER) {
		char w[32];
		snprintf(w, sizeof(w), "EVALSHA %s", what);
		rc = reply_fail(r, rep, w, err);
	}
	freeReplyObject(rep);
	return rc;
}

int cd_redis_commit(cd_redis *r, int32_t p, int64_t token, const cd_redis_batch *b, cd_err *err)
{
	redisReply *rep = NULL;

	if (route(r, p, err) < 0 || commit_args(r, p, token, b, err) < 0 ||
	    eval_script(r, "EVALSHA commit", commit_lua, r->commit_sha, &rep, err) < 0)
		return -1;
	return script_reply(r, p, token, "commit", rep, err);
}

/*
 * Sends the prepared command to partition p's node and queues its reply as
 * owed. In a cluster the formatted bytes stay with it, to be sent again if
 * the reply is a redirect.
 */
static int send_owed(cd_redis *r, int32_t p, const char *what, cd_err *err)
{
	owed *w;
	char *cmd = NULL;
	int len;

	if (route(r, p, err) < 0)
		return -1;
	if (cd_array_grow((void **)&r->q, &r->q_cap, r->q_head + r->unread + 1, sizeof(*r->q)) < 0)
		return cd_err_set(err, 0, "redis %s: out of memory", what);
	if (r->argc > INT_MAX || (len = redisFormatCommandArgv(&cmd, (int)r->argc, r->argv, r->argl)) < 0)
		return cd_err_set(err, 0, "redis %s: out of memory formatting %zu arguments", what, r->argc);
	if (rs_send_fmt(r, what, cmd, (size_t)len, err) < 0) {
		redisFreeCommand(cmd);
		return -1;
	}
	w = &r->q[r->q_head + r->unread++];
	w->node = r->cur;
	w->early = NULL;
	w->len = (size_t)len;
	w->cmd = r->cluster ? cmd : NULL;
	if (!r->cluster)
		redisFreeCommand(cmd);
	return 0;
}

int cd_redis_commit_send(cd_redis *r, int32_t p, int64_t token, const cd_redis_batch *b, cd_err *err)
{
	if (commit_args(r, p, token, b, err) < 0)
		return -1;
	return send_owed(r, p, "EVALSHA commit", err);
}

int cd_redis_sent_recv(cd_redis *r, int32_t p, int64_t token, const char *what, cd_err *err)
{
	redisReply *rep = NULL;
	owed w;
	int rc;

	if (r->unread == 0)
		return cd_err_set(err, 0, "redis %s: no reply is owed", what);
	w = r->q[r->q_head];
	r->unread--;
	r->q_head = r->unread ? r->q_head + 1 : 0;
	r->cur = w.node;
	rep = w.early;
	if (!rep && rs_recv(r, what, &rep, err) < 0) {
		redisFreeCommand(w.cmd);
		return -1;
	}
	if (r->cluster) {
		cmdref cmd = { 0, NULL, NULL, w.cmd, w.len };
		r->slot = cd_cluster_tag_slot(r->o.tag, p);
		rc = follow(r, what, &cmd, &rep, err);
		redisFreeCommand(w.cmd);
		if (rc < 0) {
			freeReplyObject(rep);
			return -1;
		}
	}
	if (reply_is_error(rep, "NOSCRIPT")) {
		/* The scripts are loaded on connecting; gone now (SCRIPT FLUSH, or a failover
		 * to a server that never had them). The call did not happen: connecting again
		 * loads them, and recovery reads the position back from Redis. */
		freeReplyObject(rep);
		rs_drop(r);
		return cd_err_set(err, 1, "redis '%s:%d' EVALSHA %s: the script is not loaded (NOSCRIPT)", cur_host(r),
				  cur_port(r), what);
	}
	return script_reply(r, p, token, what, rep, err);
}

size_t cd_redis_unread(const cd_redis *r)
{
	return r->unread;
}

void cd_redis_disconnect(cd_redis *r)
{
	rs_drop(r);
}

/* ---- timers and outbox ---------------------------------------------------------------- */

/* Frees what cd_redis_timers_due handed over (NULL is fine). */
void cd_redis_free_ids(char **ids, size_t n)
{
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/*
 * Scores are floor(instant / 1 ms), so "score <= floor(t / 1 ms)" is exactly
 * "next firing instant <= t" for instants on whole milliseconds (the engine's
 * are local midnights); an instant with a sub-millisecond part is reported up
 * to one millisecond early, which re-evaluation treats as nothing due.
 * *ids and its strings belong to the caller (cd_redis_free_ids).
 */
int cd_redis_timers_due(cd_redis *r, int32_t p, cd_instant t, size_t max, char ***ids, size_t *n,
			cd_err *err)
{
	return cd_redis_timers_page(r, p, t, 0, max, ids, n, err);
}

int cd_redis_timers_page(cd_redis *r, int32_t p, cd_instant t, size_t skip, size_t max, char ***ids, size_t *n,
			 cd_err *err)
{
	redisReply *rep = NULL;
	char **v = NULL;
	size_t k = 0;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	if (max > INT64_MAX)
		max = INT64_MAX;
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 7, r->prefix_len + KEY_ROOM + 2 * NUM_ROOM, err) < 0)
		return -1;
	arg_str(r, "ZRANGEBYSCORE");
	arg_key(r, p, "timers");
	arg_str(r, "-inf");
	argf(r, "%" PRId64, instant_ms(t));
	arg_str(r, "LIMIT");
	argf(r, "%zu", skip);
	argf(r, "%zu", max);
	if (rs_call_ok(r, "ZRANGEBYSCORE timers", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements > max) {
		reply_fail(r, rep, "ZRANGEBYSCORE timers", err);
		goto out;
	}
	if (rep->elements == 0) {
		rc = 0;
		goto out;
	}
	v = calloc(rep->elements, sizeof(*v));
	if (!v) {
		cd_err_set(err, 0, "partition %" PRId32 ": out of memory for %zu due timers", p, rep->elements);
		goto out;
	}
	for (k = 0; k < rep->elements; k++) {
		const redisReply *e = rep->element[k];
		if (e->type != REDIS_REPLY_STRING) {
			reply_fail(r, e, "ZRANGEBYSCORE timers", err);
			goto out;
		}
		v[k] = malloc(e->len + 1);     /* an id is shorter than its sealed text */
		if (!v[k]) {
			cd_err_set(err, 0, "partition %" PRId32 ": out of memory for %zu due timers", p, rep->elements);
			goto out;
		}
		if (cd_pseudonym_open(&r->ckey, e->str, e->len, v[k], e->len + 1) < 0) {
			/* not sealed with this key (a hand edit, a bad restore): never guessed at, and no
			 * reason to stop the others' timers; it counts in *n, so paging is unchanged */
			free(v[k]);
			v[k] = NULL;
		}
	}
	*ids = v;
	*n = k;
	v = NULL;     /* owned by the caller now */
	rc = 0;
out:
	cd_redis_free_ids(v, k);
	freeReplyObject(rep);
	return rc;
}

int cd_redis_outbox_read(cd_redis *r, int32_t p, size_t max, cd_buf *entries, size_t *n, cd_err *err)
{
	redisReply *rep = NULL;
	int rc = -1;

	*n = 0;
	if (max == 0)
		return 0;
	if (max > INT64_MAX)
		max = INT64_MAX;
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 4, r->prefix_len + KEY_ROOM + NUM_ROOM, err) < 0)
		return -1;
	arg_str(r, "LRANGE");
	arg_key(r, p, "outbox");
	arg_str(r, "0");
	argf(r, "%zu", max - 1);
	if (rs_call_ok(r, "LRANGE outbox", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements > max) {
		reply_fail(r, rep, "LRANGE outbox", err);
		goto out;
	}
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		if (e->type != REDIS_REPLY_STRING) {
			reply_fail(r, e, "LRANGE outbox", err);
			goto out;
		}
		cd_buf_reset(&entries[i]);
		if (cd_buf_append(&entries[i], e->str, e->len) < 0) {
			cd_err_set(err, 0, "partition %" PRId32 ": outbox entry of %zu bytes exceeds the buffer maximum (%zu)",
				   p, e->len, entries[i].max);
			goto out;
		}
	}
	*n = rep->elements;
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

static int trim_args(cd_redis *r, int32_t p, int64_t token, size_t k, cd_err *err)
{
	if (k > INT64_MAX)
		k = INT64_MAX;
	if (args_begin(r, 7, 2 * (r->prefix_len + KEY_ROOM) + 3 * NUM_ROOM, err) < 0)
		return -1;
	arg_str(r, "EVALSHA");
	arg(r, r->trim_sha, SHA_LEN);
	arg_str(r, "2");
	arg_key(r, p, "meta");
	arg_key(r, p, "outbox");
	argf(r, "%" PRId64, token);
	argf(r, "%zu", k);
	return 0;
}

int cd_redis_outbox_trim(cd_redis *r, int32_t p, int64_t token, size_t k, cd_err *err)
{
	redisReply *rep = NULL;

	if (route(r, p, err) < 0 || trim_args(r, p, token, k, err) < 0 ||
	    eval_script(r, "EVALSHA outbox trim", trim_lua, r->trim_sha, &rep, err) < 0)
		return -1;
	return script_reply(r, p, token, "outbox trim", rep, err);
}

int cd_redis_trim_send(cd_redis *r, int32_t p, int64_t token, size_t k, cd_err *err)
{
	if (trim_args(r, p, token, k, err) < 0)
		return -1;
	return send_owed(r, p, "EVALSHA outbox trim", err);
}

/* LLEN of the outbox and ZCOUNT of the due timers, sent together: one round trip. */
int cd_redis_gauges(cd_redis *r, int32_t p, cd_instant t, int64_t *outbox, int64_t *due, cd_err *err)
{
	redisReply *rep[2] = { NULL, NULL };
	int rc = -1, got = 0;

	if (r->unread)
		return cd_err_set(err, 0, "redis '%s:%d' gauges: %zu commit replies are still to be read", cur_host(r),
				  cur_port(r), r->unread);
	if (route(r, p, err) < 0 || args_begin(r, 2, r->prefix_len + KEY_ROOM, err) < 0)
		return -1;
	arg_str(r, "LLEN");
	arg_key(r, p, "outbox");
	if (rs_send(r, "LLEN outbox", r->argc, r->argv, r->argl, err) < 0)
		return -1;
	if (args_begin(r, 4, r->prefix_len + KEY_ROOM + NUM_ROOM, err) < 0)
		goto drain;
	arg_str(r, "ZCOUNT");
	arg_key(r, p, "timers");
	arg_str(r, "-inf");
	argf(r, "%" PRId64, instant_ms(t));
	if (rs_send(r, "ZCOUNT timers", r->argc, r->argv, r->argl, err) < 0)
		return -1;
	got = 1;
drain:
	/* read what was sent, even after a failure, so the connection stays in step */
	for (int i = 0; i <= got; i++)
		if (rs_recv(r, i ? "ZCOUNT timers" : "LLEN outbox", &rep[i], err) < 0)
			goto out;
	if (!got)
		goto out;
	for (int i = 0; r->cluster && i < 2; i++)
		if (reply_is_error(rep[i], "MOVED ") || reply_is_error(rep[i], "ASK ") ||
		    reply_is_error(rep[i], "TRYAGAIN") || reply_is_error(rep[i], "CLUSTERDOWN")) {
			/* only for monitoring: skipped this time, not Redis trouble; the next call reads the map */
			r->stale = true;
			cd_err_set(err, 0, "redis '%s:%d' gauges: partition %" PRId32 "'s slot is moving", cur_host(r),
				   cur_port(r), p);
			goto out;
		}
	for (int i = 0; i < 2; i++)
		if (rep[i]->type != REDIS_REPLY_INTEGER || rep[i]->integer < 0) {
			reply_fail(r, rep[i], i ? "ZCOUNT timers" : "LLEN outbox", err);
			goto out;
		}
	*outbox = rep[0]->integer;
	*due = rep[1]->integer;
	rc = 0;
out:
	freeReplyObject(rep[0]);
	freeReplyObject(rep[1]);
	return rc;
}

/*
 * A TLS port closes a plain connection at its first bytes, and so does a TLS
 * proxy that refused its server's certificate: hiredis then says the
 * connection was reset or closed, as it would for a Redis that went away.
 */
const char *cd_redis_connect_hint(const cd_err *err)
{
	if (!err->retriable || (!strstr(err->msg, "connection reset") && !strstr(err->msg, "closed the connection")))
		return NULL;
	return "the server closed the connection at once: a TLS port? contactd speaks plain TCP to Redis, put a "
	       "TLS proxy such as stunnel in front (docs/operations.md, Securing Redis); a TLS proxy already? "
	       "see its log: it may refuse the server's certificate";
}

void cd_redis_stats_get(const cd_redis *r, cd_redis_stats *st)
{
	*st = r->st;
}

int cd_redis_outbox_len(cd_redis *r, int32_t p, size_t *n, cd_err *err)
{
	redisReply *rep = NULL;
	int rc = -1;

	*n = 0;
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 2, r->prefix_len + KEY_ROOM, err) < 0)
		return -1;
	arg_str(r, "LLEN");
	arg_key(r, p, "outbox");
	if (rs_call_ok(r, "LLEN outbox", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0) {
		reply_fail(r, rep, "LLEN outbox", err);
		goto out;
	}
	*n = (size_t)rep->integer;
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/* ---- hashes ------------------------------------------------------------------------------ */

int cd_redis_hash_scan(cd_redis *r, int32_t p, const char *hash, cd_redis_field_fn fn, void *ctx, cd_err *err)
{
	redisReply *page = NULL;
	char cursor[NUM_ROOM] = "0", what[64];
	int rc = -1;

	snprintf(what, sizeof(what), "HSCAN %s", hash);
	if (route(r, p, err) < 0)
		return -1;
	do {
		const redisReply *kv;
		if (args_begin(r, 5, r->prefix_len + KEY_ROOM + strlen(hash) + NUM_ROOM, err) < 0)
			goto out;
		arg_str(r, "HSCAN");
		arg_key(r, p, hash);
		argf(r, "%s", cursor);
		arg_str(r, "COUNT");
		arg_str(r, "1000");
		if (rs_call_ok(r, what, r->argc, r->argv, r->argl, &page, err) < 0)
			goto out;
		if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
		    page->element[0]->type != REDIS_REPLY_STRING || page->element[0]->len >= sizeof(cursor) ||
		    page->element[1]->type != REDIS_REPLY_ARRAY || page->element[1]->elements % 2) {
			reply_fail(r, page, what, err);
			goto out;
		}
		memcpy(cursor, page->element[0]->str, page->element[0]->len);
		cursor[page->element[0]->len] = '\0';
		kv = page->element[1];
		for (size_t i = 0; i + 1 < kv->elements; i += 2) {
			const redisReply *f = kv->element[i], *v = kv->element[i + 1];
			if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
				reply_fail(r, f->type != REDIS_REPLY_STRING ? f : v, what, err);
				goto out;
			}
			if (fn(ctx, f->str, f->len, v->str, v->len, err) < 0)
				goto out;
		}
		freeReplyObject(page);
		page = NULL;
	} while (strcmp(cursor, "0") != 0);
	rc = 0;
out:
	freeReplyObject(page);
	return rc;
}

int cd_redis_meta_get(cd_redis *r, int32_t p, const char *field, int64_t *v, int *found, cd_err *err)
{
	redisReply *rep = NULL;
	int rc = -1;

	*found = 0;
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 3, r->prefix_len + KEY_ROOM + strlen(field) + 1, err) < 0)
		return -1;
	arg_str(r, "HGET");
	arg_key(r, p, "meta");
	arg_str(r, field);
	if (rs_call_ok(r, "HGET meta", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type == REDIS_REPLY_STRING) {
		if (parse_i64(rep->str, rep->len, v) < 0) {
			cd_err_set(err, 0, "partition %" PRId32 ": stored '%s' is not a number", p, field);
			goto out;
		}
		*found = 1;
	} else if (rep->type != REDIS_REPLY_NIL) {
		reply_fail(r, rep, "HGET meta", err);
		goto out;
	}
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

/* ---- reset ------------------------------------------------------------------------------ */

/* Appends s to b with the glob metacharacters of SCAN MATCH escaped. */
static int glob_escape(cd_buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s) && cd_buf_putc(b, '\\') < 0)
			return -1;
		if (cd_buf_putc(b, *s) < 0)
			return -1;
	}
	return 0;
}

static int cmp_i32(const void *x, const void *y)
{
	int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
	return (a > b) - (a < b);
}

/* The nodes a SCAN of every key must walk: the one Redis, or every master of the cluster; SIZE_MAX past cap. */
static size_t scan_nodes(const cd_redis *r, int *out, size_t cap)
{
	size_t n = 0;
	if (!r->cluster) {
		out[0] = r->cur;
		return 1;
	}
	for (size_t s = 0; s < CD_CLUSTER_SLOTS; s++) {
		size_t k = 0;
		if (!r->slots[s])
			continue;
		while (k < n && out[k] != r->slots[s] - 1)
			k++;
		if (k == n && n == cap)
			return SIZE_MAX;
		if (k == n)
			out[n++] = r->slots[s] - 1;
	}
	return n;
}

/*
 * One page of SCAN MATCH pattern COUNT 1000 on the current node: the reply in
 * *page (the caller frees it), its keys in *keys, and cursor (NUM_ROOM bytes)
 * moved on; "0" once the scan is complete. 0 / -1.
 */
static int scan_page(cd_redis *r, char *cursor, const cd_buf *pattern, redisReply **page, const redisReply **keys,
		     cd_err *err)
{
	const char *argv[6] = { "SCAN", cursor, "MATCH", pattern->data, "COUNT", "1000" };
	size_t argl[6] = { 4, strlen(cursor), 5, pattern->len, 5, 4 };

	if (rs_call_ok(r, "SCAN", 6, argv, argl, page, err) < 0)
		return -1;
	if ((*page)->type != REDIS_REPLY_ARRAY || (*page)->elements != 2 ||
	    (*page)->element[0]->type != REDIS_REPLY_STRING || (*page)->element[0]->len >= NUM_ROOM ||
	    (*page)->element[1]->type != REDIS_REPLY_ARRAY) {
		reply_fail(r, *page, "SCAN", err);
		return -1;
	}
	memcpy(cursor, (*page)->element[0]->str, (*page)->element[0]->len);
	cursor[(*page)->element[0]->len] = '\0';
	*keys = (*page)->element[1];
	return 0;
}

int cd_redis_partitions(cd_redis *r, int32_t **ps, size_t *n, cd_err *err)
{
	redisReply *page = NULL;
	cd_buf pattern;
	char cursor[NUM_ROOM] = "0";
	size_t cap = 0, n_nodes;
	int rc = -1, nodes[256];       /* masters (Redis advises at most 1000; contactd needs a few) */

	*ps = NULL;
	*n = 0;
	cd_buf_init(&pattern, SIZE_MAX);
	if (glob_escape(&pattern, r->o.prefix) < 0 || cd_buf_printf(&pattern, ":{%c*}:meta", r->o.tag) < 0) {
		cd_err_set(err, 0, "out of memory");
		goto out;
	}
	if (r->cluster && r->stale && map_refresh(r, err) < 0)
		goto out;
	n_nodes = scan_nodes(r, nodes, sizeof(nodes) / sizeof(nodes[0]));
	if (n_nodes == SIZE_MAX) {
		cd_err_set(err, 0, "redis cluster: more than %zu masters to SCAN", sizeof(nodes) / sizeof(nodes[0]));
		goto out;
	}
	for (size_t ni = 0; ni < n_nodes; ni++) {
		if (r->cluster && node_use(r, nodes[ni], err) < 0)
			goto out;
		strcpy(cursor, "0");
		do {
			const redisReply *keys;
			if (scan_page(r, cursor, &pattern, &page, &keys, err) < 0)
				goto out;
			for (size_t i = 0; i < keys->elements; i++) {
				const redisReply *k = keys->element[i];
				const char *at;
				long v;
				char *end;
				if (k->type != REDIS_REPLY_STRING || k->len < r->prefix_len + 4)
					continue;
				at = k->str + r->prefix_len + 3;          /* past "<prefix>:{<tag>" */
				v = strtol(at, &end, 10);
				if (end == at || *end != '}' || v < 0 || v > INT32_MAX)
					continue;
				if (cd_array_grow((void **)ps, &cap, *n + 1, sizeof(**ps)) < 0) {
					cd_err_set(err, 0, "out of memory");
					goto out;
				}
				(*ps)[(*n)++] = (int32_t)v;
			}
			freeReplyObject(page);
			page = NULL;
		} while (strcmp(cursor, "0") != 0);
	}
	if (*n > 1) {
		size_t k = 1;
		qsort(*ps, *n, sizeof(**ps), cmp_i32);
		for (size_t i = 1; i < *n; i++)      /* SCAN may return a key more than once */
			if ((*ps)[i] != (*ps)[k - 1])
				(*ps)[k++] = (*ps)[i];
		*n = k;
	}
	rc = 0;
out:
	if (rc < 0) {
		free(*ps);
		*ps = NULL;
		*n = 0;
	}
	freeReplyObject(page);
	cd_buf_release(&pattern);
	return rc;
}

/*
 * SCAN MATCH "<prefix>:{pN}:*" COUNT 1000 page by page; each page's keys go
 * in one UNLINK (freed in the background). Keys written while the reset runs
 * may survive it: the partition must not be in use (take its fence first).
 */
int cd_redis_reset_partition(cd_redis *r, int32_t p, cd_err *err)
{
	redisReply *page = NULL, *del = NULL;
	cd_buf pattern;
	char cursor[NUM_ROOM] = "0";
	int rc = -1;

	cd_buf_init(&pattern, SIZE_MAX);
	if (glob_escape(&pattern, r->o.prefix) < 0 || cd_buf_printf(&pattern, ":{%c%" PRId32 "}:*", r->o.tag, p) < 0) {
		cd_err_set(err, 0, "partition %" PRId32 " reset: out of memory", p);
		goto out;
	}
	if (route(r, p, err) < 0)      /* a partition's keys share one slot: its master holds them all */
		goto out;
	do {
		const redisReply *keys;

		if (scan_page(r, cursor, &pattern, &page, &keys, err) < 0)
			goto out;
		if (keys->elements > 0) {
			if (args_begin(r, keys->elements + 1, 0, err) < 0)
				goto out;
			arg_str(r, "UNLINK");
			for (size_t i = 0; i < keys->elements; i++) {
				if (keys->element[i]->type != REDIS_REPLY_STRING) {
					reply_fail(r, keys->element[i], "SCAN", err);
					goto out;
				}
				arg(r, keys->element[i]->str, keys->element[i]->len);
			}
			if (rs_call_ok(r, "UNLINK", r->argc, r->argv, r->argl, &del, err) < 0)
				goto out;
			freeReplyObject(del);
			del = NULL;
		}
		freeReplyObject(page);
		page = NULL;
	} while (strcmp(cursor, "0") != 0);
	rc = 0;
out:
	if (rc < 0)
		cd_err_prefix(err, "partition %" PRId32 " reset", p);
	freeReplyObject(page);
	freeReplyObject(del);
	cd_buf_release(&pattern);
	return rc;
}

/* ---- the key form: citizen pseudonyms ----------------------------------------------------- */

/*
 * Renames old-form state (the raw id in a record's key and as its timer
 * member) to the pseudonymous form, for pairs of citizens. Idempotent: a pair
 * whose old key is gone is skipped, and a record whose new key exists already
 * is left where it is (counted: the newer one wins). ARGV[2], when not empty,
 * is the citizen key's fingerprint, stored once the whole partition is done.
 * KEYS: [1] meta, [2] timers, then (old key, new key) pairs.
 * ARGV: [1] token, [2] fingerprint or "", then (old member, new member) pairs
 * at the same indices as their keys.
 */
static const char migrate_lua[] =
	"local fence = redis.call('HGET', KEYS[1], 'fence')\n"
	"if fence ~= ARGV[1] then\n"
	"  return redis.error_reply('FENCED token ' .. ARGV[1] .. ' is not the current fence ' .. tostring(fence))\n"
	"end\n"
	"if #KEYS ~= #ARGV or #KEYS % 2 ~= 0 then\n"
	"  return redis.error_reply('ERR contactd migrate: malformed arguments')\n"
	"end\n"
	"local moved, kept = 0, 0\n"
	"for i = 3, #KEYS, 2 do\n"
	"  if redis.call('EXISTS', KEYS[i]) == 1 then\n"
	"    if redis.call('EXISTS', KEYS[i + 1]) == 0 then\n"
	"      redis.call('RENAME', KEYS[i], KEYS[i + 1])\n"
	"      moved = moved + 1\n"
	"    else\n"
	"      kept = kept + 1\n"
	"    end\n"
	"  end\n"
	"  local sc = redis.call('ZSCORE', KEYS[2], ARGV[i])\n"
	"  if sc then\n"
	"    redis.call('ZREM', KEYS[2], ARGV[i])\n"
	"    if not redis.call('ZSCORE', KEYS[2], ARGV[i + 1]) then\n"
	"      redis.call('ZADD', KEYS[2], sc, ARGV[i + 1])\n"
	"    end\n"
	"  end\n"
	"end\n"
	"if ARGV[2] ~= '' then\n"
	"  redis.call('HSET', KEYS[1], 'ckey', ARGV[2])\n"
	"end\n"
	"return {moved, kept}\n";

/* Old-form citizens renamed per script call: bounded work inside one call. */
#define MIGRATE_CHUNK 256

/* What meta.ckey holds: the citizen key's pseudonym of a constant, which says nothing of the key. */
static void key_fingerprint(const cd_redis *r, char out[CD_PSEUDONYM_LEN + 1])
{
	static const char what[] = "contactd citizen key fingerprint";
	cd_pseudonym(&r->ckey, what, sizeof(what) - 1, out);
}

/* One call of migrate_lua for ids[0..n) (their raw ids), fingerprint fp or NULL. */
static int migrate_call(cd_redis *r, int32_t p, int64_t token, char *sha, char **ids, size_t n, const char *fp,
			size_t *moved, size_t *kept, cd_err *err)
{
	redisReply *rep = NULL;
	size_t bytes = 2 * r->prefix_len + 2 * KEY_ROOM + 3 * NUM_ROOM + CD_PSEUDONYM_LEN + 1;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		bytes += 2 * (r->prefix_len + KEY_ROOM) + strlen(ids[i]) + CD_PSEUDONYM_LEN +
			 CD_PSEUDONYM_SEALED_MAX(strlen(ids[i])) + 1;
	if (route(r, p, err) < 0)
		return -1;
	if (args_begin(r, 3 + 4 + 4 * n, bytes, err) < 0)
		return -1;
	arg_str(r, "EVALSHA");
	arg(r, sha, SHA_LEN);
	argf(r, "%zu", 2 + 2 * n);
	arg_key(r, p, "meta");
	arg_key(r, p, "timers");
	for (size_t i = 0; i < n; i++) {
		argf(r, "%s:{%c%" PRId32 "}:c:%s", r->o.prefix, r->o.tag, p, ids[i]);
		arg_citizen_key(r, p, ids[i]);
	}
	argf(r, "%" PRId64, token);
	if (fp)
		arg_str(r, fp);
	else
		arg(r, "", 0);
	for (size_t i = 0; i < n; i++) {
		arg_str(r, ids[i]);
		arg_timer_member(r, ids[i], strlen(ids[i]));
	}
	if (eval_script(r, "EVALSHA migrate", migrate_lua, sha, &rep, err) < 0)
		return -1;
	if (reply_is_error(rep, "FENCED")) {
		rc = fenced(p, token, "key migration", err);
		goto out;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER) {
		reply_fail(r, rep, "EVALSHA migrate", err);
		goto out;
	}
	*moved += (size_t)rep->element[0]->integer;
	*kept += (size_t)rep->element[1]->integer;
	rc = 0;
out:
	freeReplyObject(rep);
	return rc;
}

int cd_redis_migrate_keys(cd_redis *r, int32_t p, int64_t token, size_t *moved, size_t *kept, cd_err *err)
{
	redisReply *page = NULL, *rep = NULL;
	cd_buf pattern, head;
	char cursor[NUM_ROOM] = "0", fp[CD_PSEUDONYM_LEN + 1], sha[SHA_LEN + 1];
	char *ids[MIGRATE_CHUNK];
	size_t n_ids = 0;
	int rc = -1;

	*moved = *kept = 0;
	if (r->o.tag != 'p')
		return 0;          /* the aggregate stage keeps no citizens */
	cd_buf_init(&pattern, SIZE_MAX);
	cd_buf_init(&head, SIZE_MAX);
	key_fingerprint(r, fp);
	/* the partition's master (cluster): its SCAN sees only the keys that master holds */
	if (route(r, p, err) < 0)
		goto out;
	if (args_begin(r, 3, r->prefix_len + KEY_ROOM + 8, err) < 0)
		goto out;
	arg_str(r, "HGET");
	arg_key(r, p, "meta");
	arg_str(r, "ckey");
	if (rs_call_ok(r, "HGET meta", r->argc, r->argv, r->argl, &rep, err) < 0)
		goto out;
	if (rep->type == REDIS_REPLY_STRING) {
		if (rep->len == strlen(fp) && !memcmp(rep->str, fp, rep->len)) {
			rc = 0;          /* migrated, and with this key */
			goto out;
		}
		cd_err_set(err, 0, "partition %" PRId32 ": its state was written with another citizen key (fingerprint "
			   "%.*s, this key's %s): every citizen would look new; start with the key it was written with",
			   p, (int)(rep->len < 64 ? rep->len : 64), rep->str, fp);
		goto out;
	}
	if (rep->type != REDIS_REPLY_NIL) {
		reply_fail(r, rep, "HGET meta", err);
		goto out;
	}
	/* loaded here, not at connect: it runs once in a partition's life */
	if (script_load(r, migrate_lua, sha, err) < 0)
		goto out;
	if (cd_buf_printf(&head, "%s:{%c%" PRId32 "}:c:", r->o.prefix, r->o.tag, p) < 0 ||
	    glob_escape(&pattern, head.data) < 0 || cd_buf_putc(&pattern, '*') < 0 || cd_buf_putc(&pattern, '\0') < 0) {
		cd_err_set(err, 0, "out of memory");
		goto out;
	}
	pattern.len--;
	do {
		const redisReply *keys;

		if (scan_page(r, cursor, &pattern, &page, &keys, err) < 0)
			goto out;
		for (size_t i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			const char *id;
			size_t idl;
			if (k->type != REDIS_REPLY_STRING || k->len <= head.len || memcmp(k->str, head.data, head.len))
				continue;
			id = k->str + head.len;
			idl = k->len - head.len;
			/* the new form already, or no id an input could have had */
			if (cd_pseudonym_is(id, idl) || idl > CD_MAX_ID_LEN || memchr(id, '\0', idl))
				continue;
			if (!(ids[n_ids] = strndup(id, idl))) {
				cd_err_set(err, 0, "out of memory");
				goto out;
			}
			if (++n_ids == MIGRATE_CHUNK) {
				if ((rc = migrate_call(r, p, token, sha, ids, n_ids, NULL, moved, kept, err)) < 0)
					goto out;
				rc = -1;
				while (n_ids)
					free(ids[--n_ids]);
			}
		}
		freeReplyObject(page);
		page = NULL;
	} while (strcmp(cursor, "0") != 0);
	/* the last chunk sets the fingerprint: a partition is marked done only when it is */
	rc = migrate_call(r, p, token, sha, ids, n_ids, fp, moved, kept, err);
out:
	if (rc == -1)
		cd_err_prefix(err, "partition %" PRId32 " key migration", p);
	while (n_ids)
		free(ids[--n_ids]);
	freeReplyObject(page);
	freeReplyObject(rep);
	cd_buf_release(&pattern);
	cd_buf_release(&head);
	return rc;
}
