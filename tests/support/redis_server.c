/*
 * redis_server.c — a throwaway redis-server for tests (see redis_server.h).
 *
 * The port: bind a socket to 127.0.0.1:0, read the port the kernel chose,
 * close it, and hand it to redis-server. Another process could take the port
 * in between; the server then exits at once ("address already in use") and
 * start tries again with a new port, a few times.
 *
 * Waiting: poll every 20 ms, for at most 10 s, until PING answers PONG,
 * checking each time that the child is still alive (a server that exits
 * reports its status and the tail of its log instead of a timeout).
 */
#include "tests/support/redis_server.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <hiredis/hiredis.h>

#define WAIT_MS 10000
#define POLL_MS 20
#define MAX_ARGS 64

static const char *server_path(void)
{
	const char *p = getenv("CD_REDIS_SERVER");
	return p && *p ? p : "/usr/bin/redis-server";
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cd_test_redis_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Prints the last lines of the server's log to stderr. */
static void show_log(const cd_test_redis *r)
{
	char path[300], buf[2048];
	ssize_t n;
	off_t end;
	int fd;
	snprintf(path, sizeof(path), "%s/redis.log", r->dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	lseek(fd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "redis_server: tail of '%s':\n%s\n", path, buf);
	}
}

static pid_t spawn(const cd_test_redis *r)
{
	char port[16], log[300];
	const char *argv[MAX_ARGS];
	int n = 0;
	pid_t pid;

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(log, sizeof(log), "%s/redis.log", r->dir);
	argv[n++] = server_path();
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--appendonly";
	argv[n++] = "yes";
	argv[n++] = "--appendfsync";
	argv[n++] = "always";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--logfile";
	argv[n++] = log;
	for (int i = 0; r->extra && r->extra[i] && n < MAX_ARGS - 1; i++)
		argv[n++] = r->extra[i];
	argv[n] = NULL;

	pid = fork();
	if (pid != 0)
		return pid;       /* the parent, or -1 */
	/* the child */
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	{
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (fd > 2)
				close(fd);
		}
	}
	execv(argv[0], (char *const *)argv);
	fprintf(stderr, "redis_server: cannot run '%s': %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* 1 when the server answers PING: PONG, or NOAUTH when it wants a password. */
static int pong(int port)
{
	struct timeval tv = { 0, 200000 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *rep;
	int ok = 0;
	if (!c)
		return 0;
	if (!c->err && redisSetTimeout(c, tv) == REDIS_OK) {
		rep = redisCommand(c, "PING");
		ok = rep && ((rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "PONG")) ||
			     (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOAUTH", 6)));
		freeReplyObject(rep);
	}
	redisFree(c);
	return ok;
}

/* Starts the server on r->port and r->dir; 0, -1 (exited: *exited = 1), -1 (timeout). */
static int run(cd_test_redis *r, int *exited)
{
	int status;
	*exited = 0;
	r->pid = spawn(r);
	if (r->pid < 0) {
		r->pid = 0;
		fprintf(stderr, "redis_server: fork: %s\n", strerror(errno));
		return -1;
	}
	for (int waited = 0; waited < WAIT_MS; waited += POLL_MS) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = 0;
			*exited = 1;
			fprintf(stderr, "redis_server: '%s' on port %d exited (%s %d)\n", server_path(), r->port,
				WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return -1;
		}
		if (pong(r->port))
			return 0;
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "redis_server: no PONG on port %d within %d ms\n", r->port, WAIT_MS);
	show_log(r);
	cd_test_redis_kill(r);
	return -1;
}

int cd_test_redis_start(cd_test_redis *r)
{
	const char *base = getenv("CD_WORK");
	int exited = 0;

	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	r->pid = 0;
	r->port = 0;
	if (access(server_path(), X_OK) != 0) {
		fprintf(stderr, "redis_server: '%s' is not installed (ops/install-deps.sh)\n", server_path());
		r->dir[0] = '\0';
		return -1;
	}
	if ((size_t)snprintf(r->dir, sizeof(r->dir), "%s/cd-redis-XXXXXX", base) >= sizeof(r->dir) ||
	    !mkdtemp(r->dir)) {
		fprintf(stderr, "redis_server: cannot create a directory under '%s': %s\n", base, strerror(errno));
		r->dir[0] = '\0';
		return -1;
	}
	for (int attempt = 0; attempt < 5; attempt++) {
		r->port = cd_test_redis_free_port();
		if (r->port <= 0) {
			fprintf(stderr, "redis_server: no free loopback port: %s\n", strerror(errno));
			return -1;
		}
		if (run(r, &exited) == 0)
			return 0;
		if (!exited)
			return -1;
	}
	show_log(r);
	return -1;
}

int cd_test_redis_restart(cd_test_redis *r)
{
	int exited;
	if (r->pid) {
		fprintf(stderr, "redis_server: restart of a running server (port %d)\n", r->port);
		return -1;
	}
	if (run(r, &exited) < 0) {
		show_log(r);
		return -1;
	}
	return 0;
}

static int signal_and_wait(cd_test_redis *r, int sig)
{
	int status;
	if (!r->pid)
		return 0;
	if (kill(r->pid, sig) < 0 && errno != ESRCH) {
		fprintf(stderr, "redis_server: kill %d: %s\n", (int)r->pid, strerror(errno));
		return -1;
	}
	while (waitpid(r->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "redis_server: waitpid %d: %s\n", (int)r->pid, strerror(errno));
			r->pid = 0;
			return -1;
		}
	}
	r->pid = 0;
	return 0;
}

int cd_test_redis_stop(cd_test_redis *r)
{
	return signal_and_wait(r, SIGTERM);
}

int cd_test_redis_kill(cd_test_redis *r)
{
	return signal_and_wait(r, SIGKILL);
}

/* Removes path and, for a directory, everything under it (the server's dir is two levels deep). */
static void rm_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[512];

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < sizeof(sub))
				rm_tree(sub);
		}
		closedir(d);
	}
	remove(path);
}

void cd_test_redis_cleanup(cd_test_redis *r)
{
	cd_test_redis_stop(r);
	if (r->dir[0])
		rm_tree(r->dir);
	r->dir[0] = '\0';
}
