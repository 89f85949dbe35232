/*
 * test_metrics.c — the metrics and their HTTP endpoints, without a processor:
 * counts land under the labels they were given, histogram buckets are
 * cumulative with a value on a bound counted in that bound's bucket, label
 * values are escaped, the lag is high watermark minus position; and the
 * server answers /metrics, /healthz and /readyz (503 with its reasons),
 * 404 and 405, and refuses an address in use with the system's words.
 * End to end against a live processor: tests/cli/test_live_metrics.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "consumer/httpd.h"
#include "consumer/metrics.h"

static const char *const ins[] = { "in\"put" };
static const char *const outs[CD_MT_N] = { "dl", "br", "agg", "dlq", "mem" };

static char *render(cd_metrics *m, cd_buf *b)
{
	cd_buf_reset(b);
	assert_int_equal(cd_metrics_render(m, b), 0);
	return b->data;
}

static void expect_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line: %s\n--- in:\n%s", line, text);
}

/* Every line of the NULL-terminated list, whole, in text. */
static void expect_lines(const char *text, const char *const *want)
{
	for (; *want; want++)
		expect_line(text, *want);
}

static void test_counts_land_under_their_labels_and_unseen_partitions_are_not_shown(void **state)
{
	cd_metrics *m = cd_metrics_new("citizens", "9.9", ins, 1, outs);
	cd_buf b;
	(void)state;
	cd_buf_init(&b, 1 << 20);
	cd_metrics_part_held(m, 3, true);
	cd_metrics_consumed(m, 0, 3);
	cd_metrics_consumed(m, 0, 3);
	cd_metrics_applied(m, 0, 3, false);
	cd_metrics_applied(m, 0, 3, true);
	cd_metrics_dead_letter(m, 0, 3, "decode");
	cd_metrics_dead_letter(m, 0, 3, "no-such-stage");
	cd_metrics_output(m, CD_MT_BREACH, "BREACHED");
	cd_metrics_output(m, CD_MT_BREACH, "BREACHED");
	cd_metrics_consumed(m, 0, 5);                        /* never held: counted, not shown */
	cd_metrics_consumed(m, 1, 3);                        /* no such topic: ignored */
	cd_metrics_consumed(m, 0, CD_METRICS_MAX_PARTS);     /* no such partition: ignored */
	render(m, &b);
	expect_lines(b.data, (const char *const[]){
		"contactd_build_info{version=\"9.9\",stage=\"citizens\"} 1",
		"contactd_records_consumed_total{topic=\"in\\\"put\",partition=\"3\"} 2",
		"contactd_records_applied_total{topic=\"in\\\"put\",partition=\"3\"} 1",
		"contactd_records_duplicate_total{topic=\"in\\\"put\",partition=\"3\"} 1",
		"contactd_dead_letters_total{topic=\"in\\\"put\",partition=\"3\",stage=\"decode\"} 1",
		"contactd_dead_letters_total{topic=\"in\\\"put\",partition=\"3\",stage=\"other\"} 1",
		"contactd_outputs_total{topic=\"br\",status=\"breached\"} 2",
		NULL });
	assert_null(strstr(b.data, "partition=\"5\""));
	{
		cd_metrics_totals t;
		cd_metrics_totals_get(m, &t);
		assert_int_equal(t.consumed, 2);
		assert_int_equal(t.dead_letters, 2);
		assert_int_equal(t.outputs, 2);
	}
	cd_buf_release(&b);
	cd_metrics_free(m);
}

static void test_histogram_buckets_are_cumulative_and_a_bound_is_inside_its_bucket(void **state)
{
	cd_metrics *m = cd_metrics_new("citizens", "1", ins, 1, outs);
	cd_buf b;
	(void)state;
	cd_buf_init(&b, 1 << 20);
	cd_metrics_commit(m, 10, 1000);        /* exactly 1 ms and 10 records: in le="0.001" and le="10" */
	cd_metrics_commit(m, 11, 1001);
	cd_metrics_commit(m, 0, 9000000);      /* beyond the last bound */
	render(m, &b);
	expect_lines(b.data, (const char *const[]){
		"contactd_commit_duration_seconds_bucket{le=\"0.0005\"} 0",
		"contactd_commit_duration_seconds_bucket{le=\"0.001\"} 1",
		"contactd_commit_duration_seconds_bucket{le=\"0.0025\"} 2",
		"contactd_commit_duration_seconds_bucket{le=\"2.5\"} 2",
		"contactd_commit_duration_seconds_bucket{le=\"+Inf\"} 3",
		"contactd_commit_duration_seconds_count 3",
		"contactd_commit_duration_seconds_sum 9.002001",
		"contactd_batch_records_bucket{le=\"1\"} 1",
		"contactd_batch_records_bucket{le=\"10\"} 2",
		"contactd_batch_records_bucket{le=\"100\"} 3",
		"contactd_batch_records_sum 21.000000",
		"contactd_commits_total 3",
		NULL });
	cd_buf_release(&b);
	cd_metrics_free(m);
}

static void test_lag_is_high_watermark_minus_position_while_held(void **state)
{
	cd_metrics *m = cd_metrics_new("citizens", "1", ins, 1, outs);
	cd_metrics_totals t;
	cd_buf b;
	(void)state;
	cd_buf_init(&b, 1 << 20);
	cd_metrics_part_held(m, 1, true);
	cd_metrics_high_watermark(m, 0, 1, 100);
	cd_metrics_totals_get(m, &t);
	assert_int_equal(t.lag, -1);                      /* no position yet: unknown, not 100 */
	cd_metrics_position_default(m, 0, 1, 0);          /* started at the earliest offset */
	cd_metrics_position(m, 0, 1, 60);
	cd_metrics_position_default(m, 0, 1, 0);          /* a known position stays */
	render(m, &b);
	expect_line(b.data, "contactd_consumer_lag_records{topic=\"in\\\"put\",partition=\"1\"} 40");
	cd_metrics_position(m, 0, 1, 120);                /* ahead of a stale watermark: 0, never negative */
	cd_metrics_totals_get(m, &t);
	assert_int_equal(t.lag, 0);
	cd_metrics_part_held(m, 1, false);                /* given back: no gauges, position forgotten */
	render(m, &b);
	assert_null(strstr(b.data, "contactd_consumer_lag_records{"));
	cd_metrics_part_held(m, 1, true);
	cd_metrics_totals_get(m, &t);
	assert_int_equal(t.lag, -1);
	cd_buf_release(&b);
	cd_metrics_free(m);
}

/* ---- the server ------------------------------------------------------------------------- */

/* One HTTP/1.0 request to 127.0.0.1:port; the whole response into out. */
static void http(int port, const char *method, const char *path, char *out, size_t cap)
{
	struct sockaddr_in a;
	char req[256];
	size_t got = 0;
	ssize_t k;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method, path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got + 1 < cap && (k = read(fd, out + got, cap - 1 - got)) > 0)
		got += (size_t)k;
	out[got] = '\0';
	close(fd);
}

/* A request to h; the response (into r) has the status and contains `part`. */
static void expect_http(const cd_httpd *h, const char *method, const char *path, const char *status,
			const char *part, char *r, size_t cap)
{
	http(cd_httpd_port(h), method, path, r, cap);
	if (!strstr(r, status) || !strstr(r, part))
		fail_msg("%s %s: expected%s and '%s'; got:\n%s", method, path, status, part, r);
}

static void test_the_endpoints_answer_as_probes_and_scrapers_expect(void **state)
{
	cd_metrics *m = cd_metrics_new("aggregates", "1", ins, 1, outs);
	cd_httpd *h;
	cd_err err;
	char r[1 << 16];
	(void)state;
	h = cd_httpd_start("127.0.0.1", 0, m, &err);
	assert_non_null(h);
	assert_true(cd_httpd_port(h) > 0);

	expect_http(h, "GET", "/healthz", " 200 ", "\r\n\r\nok\n", r, sizeof(r));
	/* new metrics are not ready: no assignment yet */
	expect_http(h, "GET", "/readyz", " 503 ", "starting: no partitions assigned", r, sizeof(r));
	cd_metrics_set_ready(m, CD_UNREADY_REDIS | CD_UNREADY_REFUSED);
	expect_http(h, "GET", "/readyz", " 503 ", "redis is not reachable\n", r, sizeof(r));
	assert_non_null(strstr(r, "an operator must act"));
	assert_null(strstr(r, "starting"));
	cd_metrics_set_ready(m, 0);
	expect_http(h, "GET", "/readyz", " 200 ", "\r\n\r\nready\n", r, sizeof(r));

	expect_http(h, "GET", "/metrics", " 200 ", "text/plain; version=0.0.4", r, sizeof(r));
	assert_non_null(strstr(r, "contactd_build_info{version=\"1\",stage=\"aggregates\"} 1\n"));
	assert_non_null(strstr(r, "\ncontactd_ready 1\n"));
	expect_http(h, "HEAD", "/metrics", " 200 ", "text/plain; version=0.0.4", r, sizeof(r));
	assert_null(strstr(r, "contactd_build_info"));     /* HEAD: headers only */
	expect_http(h, "GET", "/metrics/x", " 404 ", "not found", r, sizeof(r));
	expect_http(h, "POST", "/metrics", " 405 ", "Allow: GET, HEAD", r, sizeof(r));

	/* the same address again: refused, with the reason */
	{
		char addr[96];
		snprintf(addr, sizeof(addr), "127.0.0.1:%d: cannot listen: Address already in use", cd_httpd_port(h));
		assert_null(cd_httpd_start("127.0.0.1", cd_httpd_port(h), m, &err));
		assert_non_null(strstr(err.msg, addr));
	}
	assert_null(cd_httpd_start("no-such-host.invalid", 0, m, &err));
	assert_non_null(strstr(err.msg, "metrics-addr no-such-host.invalid:0:"));
	cd_httpd_stop(h);
	cd_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_land_under_their_labels_and_unseen_partitions_are_not_shown),
		cmocka_unit_test(test_histogram_buckets_are_cumulative_and_a_bound_is_inside_its_bucket),
		cmocka_unit_test(test_lag_is_high_watermark_minus_position_while_held),
		cmocka_unit_test(test_the_endpoints_answer_as_probes_and_scrapers_expect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
