/*
 * httpd.h — the HTTP endpoints of `contactd run` (--metrics-addr HOST:PORT),
 * served by libmicrohttpd on a thread of its own:
 *
 *   GET /metrics   the Prometheus text exposition of cd_metrics
 *   GET /healthz   200 "ok" while the processing loop turns (liveness)
 *   GET /readyz    200 "ready", or 503 with one line per reason (readiness)
 *
 * HEAD is answered like GET; other methods get 405, other paths 404.
 * The server only reads the metrics it is given: stop it before freeing them.
 */
#ifndef CD_CONSUMER_HTTPD_H
#define CD_CONSUMER_HTTPD_H

#include "consumer/metrics.h"
#include "util/err.h"

typedef struct cd_httpd cd_httpd;

/* Listens on host:port (an IPv4 or IPv6 address or a name; port 0 picks a free
 * one) and serves m. NULL with err when the address cannot be bound. */
cd_httpd *cd_httpd_start(const char *host, int port, const cd_metrics *m, cd_err *err);
/* The port listened on (the one picked, when 0 was asked for). */
int cd_httpd_port(const cd_httpd *h);
void cd_httpd_stop(cd_httpd *h);

#endif
