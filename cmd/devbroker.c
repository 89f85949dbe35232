/*
 * devbroker.c — `contactd devbroker`: a standalone mock Kafka cluster for
 * development and tests.
 *
 * librdkafka's mock cluster (kafka.h cd_mock) with the default topics of
 * docs/spec/events.md, each with --partitions partitions, plus any --topic. The
 * bootstrap address is printed alone on the first line of stdout (so that a
 * script can `read` it), then one log line on stderr; the cluster then serves
 * until SIGINT or SIGTERM, whose handler only sets a flag (as kcat's does).
 * Everything lives in memory and is gone when the process ends.
 *
 * With several brokers, partition p of every topic is led by broker p % N + 1.
 *
 * Fault injection for tests (tests/cli/test_live_broker_errors.sh), with
 * librdkafka's mock API; the handlers only set flags, the main loop (every
 * 100 ms) does the work and logs what it did:
 *   SIGUSR1  a burst of retriable request errors, served to the next requests
 *            of any client: 10 x NOT_LEADER_FOR_PARTITION on Produce (ApiKey 0)
 *            and 10 x REQUEST_TIMED_OUT on Fetch (ApiKey 1)
 *            (rd_kafka_mock_push_request_errors);
 *   SIGUSR2  broker 1 down for 3 s, then up again (rd_kafka_mock_broker_set_down
 *            / _set_up): its connections are closed and refused meanwhile; the
 *            mock moves no leadership, so the partitions it leads wait. A SIGUSR2 while
 *            it is down restarts the 3 s.
 */
#include "cmd/commands.h"

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/opts.h"
#include "consumer/kafka.h"
#include "util/clock.h"
#include "util/log.h"

#define MAX_TOPICS 64            /* topics created: the defaults and every --topic */

#define INJECT_ERRORS 10         /* errors per API in a SIGUSR1 burst */
#define DOWN_BROKER 1            /* the broker SIGUSR2 takes down */
#define DOWN_MS 3000
#define API_PRODUCE 0            /* Kafka protocol ApiKeys (rdkafka_mock.h takes the numbers) */
#define API_FETCH 1

static volatile sig_atomic_t stop, want_errors, want_down;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr(int sig)
{
	if (sig == SIGUSR1)
		want_errors = 1;
	else
		want_down = 1;
}

/* SIGUSR1: the burst of retriable errors. */
static void inject_errors(rd_kafka_mock_cluster_t *mc)
{
	char n[16];
	rd_kafka_resp_err_t produce[INJECT_ERRORS], fetch[INJECT_ERRORS];

	for (int i = 0; i < INJECT_ERRORS; i++) {
		produce[i] = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
		fetch[i] = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
	}
	rd_kafka_mock_push_request_errors_array(mc, API_PRODUCE, INJECT_ERRORS, produce);
	rd_kafka_mock_push_request_errors_array(mc, API_FETCH, INJECT_ERRORS, fetch);
	snprintf(n, sizeof(n), "%d", INJECT_ERRORS);
	cd_log(CD_LOG_INFO, "devbroker: request errors injected (SIGUSR1)", "produce", n, "produce_error",
	       rd_kafka_err2name(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION), "fetch", n, "fetch_error",
	       rd_kafka_err2name(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT), NULL);
}

/* ---- options --------------------------------------------------------------------- */

#define DEFAULT_TOPICS 6         /* always created: CD_TOPIC_EVENTS … CD_TOPIC_MEMBERS */

enum { OPT_BROKERS = CD_OPT_OWN, OPT_PARTITIONS, OPT_TOPIC };

static const struct option longopts[] = {
	{ "brokers", required_argument, NULL, OPT_BROKERS },
	{ "partitions", required_argument, NULL, OPT_PARTITIONS },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

typedef struct devbroker_opts {
	long brokers, partitions;
	const char *topics[MAX_TOPICS];
	size_t n_topics;
} devbroker_opts;

static int parse_option(void *ctx, int c, char *arg)
{
	devbroker_opts *o = ctx;
	char max[24];

	switch (c) {
	case OPT_BROKERS:
		return cd_opt_long("--brokers", arg, 1, 9, &o->brokers);
	case OPT_PARTITIONS:
		return cd_opt_long("--partitions", arg, 1, 1024, &o->partitions);
	case OPT_TOPIC:
		if (!*arg)
			return cd_opt_bad("--topic", arg, "a topic name");
		if (o->n_topics == MAX_TOPICS) {
			snprintf(max, sizeof(max), "%d", MAX_TOPICS - DEFAULT_TOPICS);
			cd_log(CD_LOG_ERROR, "too many topics", "option", "--topic", "max", max, NULL);
			return -1;
		}
		o->topics[o->n_topics++] = arg;
		return 0;
	default:
		return -1;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd devbroker [options]\n"
		   "  --brokers N        brokers in the mock cluster, 1 … 9 (default 1)\n"
		   "  --partitions P     partitions per topic, 1 … 1024 (default 8)\n"
		   "  --topic T          another topic to create (repeatable); the defaults are always created:\n"
		   "                     " CD_TOPIC_EVENTS " " CD_TOPIC_DEADLINES " " CD_TOPIC_BREACHES " " CD_TOPIC_DLQ "\n"
		   "                     " CD_TOPIC_AGGREGATES " " CD_TOPIC_MEMBERS "\n"
		   "  --log-level LEVEL  debug, info, warn, error (default info)\n"
		   "Prints the bootstrap address alone on the first line of stdout and serves until\n"
		   "SIGINT or SIGTERM. Messages are kept in memory only.\n"
		   "Fault injection (for tests; each logged):\n"
		   "  SIGUSR1  the next requests fail with retriable errors: 10 Produce requests with\n"
		   "           NOT_LEADER_FOR_PARTITION and 10 Fetch requests with REQUEST_TIMED_OUT\n"
		   "  SIGUSR2  broker 1 goes down for 3 s (connections closed and refused), then up\n");
}

static const cd_opt_cmd devbroker_cmd = { "h", longopts, parse_option, usage, 0 };

/* ---- the cluster --------------------------------------------------------------------- */

/*
 * Creates every topic with o->partitions partitions; with several brokers,
 * partition p is led by broker p % N + 1. Logs "devbroker ready" with the list.
 */
static int create_topics(cd_mock *m, const devbroker_opts *o)
{
	char num[2][24], list[2048];
	cd_err err = { "", 0 };

	list[0] = '\0';
	for (size_t i = 0; i < o->n_topics; i++) {
		size_t used = strlen(list);
		if (cd_mock_topic_create(m, o->topics[i], (int)o->partitions, &err) < 0) {
			cd_log(CD_LOG_ERROR, "cannot create topic", "topic", o->topics[i], "error", err.msg, NULL);
			return -1;
		}
		/* Leaders round-robin (the mock picks them at random), so that every broker,
		 * broker 1 of SIGUSR2 included, leads partitions of every topic. */
		for (long p = 0; o->brokers > 1 && p < o->partitions; p++) {
			rd_kafka_resp_err_t e = rd_kafka_mock_partition_set_leader(
				cd_mock_cluster(m), o->topics[i], (int32_t)p, (int32_t)(p % o->brokers + 1));
			if (e) {
				cd_log(CD_LOG_ERROR, "cannot set a partition leader", "topic", o->topics[i], "error",
				       rd_kafka_err2str(e), NULL);
				return -1;
			}
		}
		snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "", o->topics[i]);
	}
	printf("%s\n", cd_mock_bootstraps(m));
	fflush(stdout);
	snprintf(num[0], sizeof(num[0]), "%ld", o->brokers);
	snprintf(num[1], sizeof(num[1]), "%ld", o->partitions);
	cd_log(CD_LOG_INFO, "devbroker ready", "bootstrap", cd_mock_bootstraps(m), "brokers", num[0], "partitions",
	       num[1], "topics", list, NULL);
	return 0;
}

/* Serves until SIGINT or SIGTERM, doing what SIGUSR1 and SIGUSR2 asked for every 100 ms. */
static void serve(cd_mock *m)
{
	int64_t down_until = 0;     /* broker 1 is down until then (monotonic ms); 0: up */

	while (!stop) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (want_errors) {
			want_errors = 0;
			inject_errors(cd_mock_cluster(m));
		}
		if (want_down) {
			want_down = 0;
			if (!down_until) {
				rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_down(cd_mock_cluster(m), DOWN_BROKER);
				if (e)
					cd_log(CD_LOG_WARN, "devbroker: cannot set broker 1 down", "error",
					       rd_kafka_err2str(e), NULL);
				else
					cd_log(CD_LOG_INFO, "devbroker: broker 1 down (SIGUSR2)", "for_ms", "3000", NULL);
			}
			if (!down_until || cd_clock_mono_ms() + DOWN_MS > down_until)
				down_until = cd_clock_mono_ms() + DOWN_MS;
		}
		if (down_until && cd_clock_mono_ms() >= down_until) {
			rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_up(cd_mock_cluster(m), DOWN_BROKER);
			down_until = 0;
			if (e)
				cd_log(CD_LOG_WARN, "devbroker: cannot set broker 1 up", "error", rd_kafka_err2str(e), NULL);
			else
				cd_log(CD_LOG_INFO, "devbroker: broker 1 up again", NULL);
		}
	}
}

int cmd_devbroker(int argc, char **argv)
{
	devbroker_opts o = {
		.brokers = 1, .partitions = 8,
		.topics = { CD_TOPIC_EVENTS, CD_TOPIC_DEADLINES, CD_TOPIC_BREACHES, CD_TOPIC_DLQ, CD_TOPIC_AGGREGATES,
			    CD_TOPIC_MEMBERS },
		.n_topics = DEFAULT_TOPICS,
	};
	struct sigaction sa;
	cd_mock *m = NULL;
	cd_err err = { "", 0 };
	int rc, status = 1;

	if ((rc = cd_opt_parse(&devbroker_cmd, argc, argv, &o)) != 0)
		return rc > 0 ? 0 : 1;

	/* Handlers first: a signal arriving while the cluster starts still stops it cleanly. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	if (!(m = cd_mock_new((int)o.brokers, &err))) {
		cd_log(CD_LOG_ERROR, "cannot start the mock cluster", "error", err.msg, NULL);
		goto out;
	}
	if (create_topics(m, &o) < 0)
		goto out;
	serve(m);
	cd_log(CD_LOG_INFO, "devbroker stopping", NULL);
	status = 0;
out:
	cd_mock_free(m);
	rd_kafka_wait_destroyed(5000);
	return status;
}
