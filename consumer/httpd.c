/*
 * httpd.c — /metrics, /healthz and /readyz over libmicrohttpd (httpd.h).
 *
 * The listening socket is made here (getaddrinfo, bind, listen) and handed to
 * libmicrohttpd, so that a bad address fails start-up with the system's own
 * words ("Address already in use") instead of a NULL daemon. libmicrohttpd
 * runs its own polling thread; a request renders into a buffer the response
 * copies, so nothing is shared with the loop but the metrics' atomics.
 */
#include "consumer/httpd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "util/buf.h"

#define CONNECTIONS_MAX 32       /* scrapers and probes: a handful at a time */
#define CONNECTION_TIMEOUT_S 10
#define BODY_MAX ((size_t)64 << 20)

struct cd_httpd {
	struct MHD_Daemon *d;
	const cd_metrics *m;
	int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body, size_t len,
			     const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

#define TEXT "text/plain; charset=utf-8"

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **state)
{
	cd_httpd *h = cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT, "method not allowed\n", 19, "GET, HEAD");
	if (!strcmp(url, "/metrics")) {
		cd_buf b;
		enum MHD_Result rc;
		cd_buf_init(&b, BODY_MAX);
		if (cd_metrics_render(h->m, &b) < 0)
			rc = reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT, "out of memory\n", 14, NULL);
		else
			rc = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
				   b.len, NULL);
		cd_buf_release(&b);
		return rc;
	}
	if (!strcmp(url, "/healthz"))
		return cd_metrics_live(h->m) ? reply(c, MHD_HTTP_OK, TEXT, "ok\n", 3, NULL)
					     : reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT, "the processing loop has stalled\n",
						     32, NULL);
	if (!strcmp(url, "/readyz")) {
		char why[512];
		if (!cd_metrics_unready(h->m, why, sizeof(why)))
			return reply(c, MHD_HTTP_OK, TEXT, "ready\n", 6, NULL);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT, why, strlen(why), NULL);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, TEXT, "not found: /metrics, /healthz, /readyz\n", 39, NULL);
}

/* A listening socket on host:port, or -1 with err naming the address and the reason. */
static int listen_on(const char *host, int port, int *bound, bool *v6, cd_err *err)
{
	struct addrinfo hints, *res = NULL;
	char ps[8];
	int fd = -1, gai, one = 1, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%d", port);
	if ((gai = getaddrinfo(*host ? host : NULL, ps, &hints, &res)) != 0)
		return cd_err_set(err, 0, "metrics-addr %s:%d: %s", host, port, gai_strerror(gai));
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 64) < 0) {
			saved = errno;
			close(fd);
			fd = -1;
			continue;
		}
		*v6 = a->ai_family == AF_INET6;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return cd_err_set(err, 0, "metrics-addr %s:%d: cannot listen: %s", host, port, strerror(saved));
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		*bound = port;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
								 : ((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

cd_httpd *cd_httpd_start(const char *host, int port, const cd_metrics *m, cd_err *err)
{
	cd_httpd *h = calloc(1, sizeof(*h));
	bool v6 = false;
	int fd;

	if (!h) {
		cd_err_set(err, 0, "out of memory");
		return NULL;
	}
	h->m = m;
	if ((fd = listen_on(host, port, &h->port, &v6, err)) < 0) {
		free(h);
		return NULL;
	}
	h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, handle, h,
				MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
	if (!h->d) {
		close(fd);
		free(h);
		cd_err_set(err, 0, "metrics-addr %s:%d: libmicrohttpd could not start", host, port);
		return NULL;
	}
	return h;
}

int cd_httpd_port(const cd_httpd *h)
{
	return h->port;
}

void cd_httpd_stop(cd_httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);           /* closes the listening socket it was given */
	free(h);
}
