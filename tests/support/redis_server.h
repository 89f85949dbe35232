/*
 * redis_server.h — a throwaway redis-server for tests (hiredis' test.sh, in C).
 *
 * cd_test_redis_start runs Debian's /usr/bin/redis-server (or $CD_REDIS_SERVER)
 * in the foreground on a free loopback port, in a fresh temporary directory
 * (under $CD_WORK, $TMPDIR or /tmp), with the durability settings of
 * ops/redis.conf given on the command line:
 *
 *   --port N --bind 127.0.0.1 --dir TMP --appendonly yes --appendfsync always
 *   --save "" --daemonize no --logfile TMP/redis.log
 *
 * plus any extra arguments the test sets in `extra` (e.g. "--requirepass",
 * "secret"). It returns once the server answers PING (or fails after a
 * bounded wait with the reason on stderr; NOAUTH counts as an answer). stop (SIGTERM: a clean shutdown)
 * and kill (SIGKILL: a crash) keep the directory, so restart brings the same
 * server back on the same port and directory: what was acknowledged is read
 * back from the AOF. cleanup stops the server if it runs and removes the
 * directory. The child dies with the test process (PR_SET_PDEATHSIG on Linux).
 *
 * Functions return 0 / -1; -1 prints why on stderr. Not thread-safe.
 */
#ifndef CD_TESTS_SUPPORT_REDIS_SERVER_H
#define CD_TESTS_SUPPORT_REDIS_SERVER_H

#include <sys/types.h>

typedef struct cd_test_redis {
	const char *const *extra;  /* set by the caller before start: more arguments, NULL-terminated, or NULL */
	int port;                  /* chosen by start, kept by restart */
	pid_t pid;                 /* 0 while not running */
	char dir[256];             /* the temporary directory (kept until cleanup) */
} cd_test_redis;

/* Picks a free port, creates the directory, starts the server, waits for PING. */
int cd_test_redis_start(cd_test_redis *r);
/* SIGTERM and waitpid: a clean shutdown. The directory stays. */
int cd_test_redis_stop(cd_test_redis *r);
/* Starts the server again on the same port and directory (after stop or kill). */
int cd_test_redis_restart(cd_test_redis *r);
/* SIGKILL and waitpid: a crash. The directory stays. */
int cd_test_redis_kill(cd_test_redis *r);
/* Stops the server if it runs and removes the directory. */
void cd_test_redis_cleanup(cd_test_redis *r);
/* A loopback port nobody listens on right now (e.g. for --cluster-port). -1 on failure. */
int cd_test_redis_free_port(void);

#endif
