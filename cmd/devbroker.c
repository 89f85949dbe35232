/*
 * devbroker.c — `contactd devbroker`: a standalone mock Kafka cluster for
 * development and tests.
 *
 * librdkafka's mock cluster (kafka.h cd_mock) with the default topics of
 * events.md, each with --partitions partitions, plus any --topic. The
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
#include "util/num.h"

#define MAX_TOPICS 64

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

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd devbroker [options]\n"
		   "  --brokers N        brokers in the mock cluster, 1 … 9 (default 1)\n"
		   "  --partitions P     partitions per topic, 1 … 1024 (default 8)\n"
		   "  --topic T          another topic to create (repeatable); the defaults are always created:\n"
		   "                     " CD_TOPIC_EVENTS " " CD_TOPIC_DEADLINES " " CD_TOPIC_BREACHES " " CD_TOPIC_DLQ "\n"
		   "  --log-level LEVEL  debug, info, warn, error (default info)\n"
		   "Prints the bootstrap address alone on the first line of stdout and serves until\n"
		   "SIGINT or SIGTERM. Messages are kept in memory only.\n"
		   "Fault injection (for tests; each logged):\n"
		   "  SIGUSR1  the next requests fail with retriable errors: 10 Produce requests with\n"
		   "           NOT_LEADER_FOR_PARTITION and 10 Fetch requests with REQUEST_TIMED_OUT\n"
		   "  SIGUSR2  broker 1 goes down for 3 s (connections closed and refused), then up\n");
}

int cmd_devbroker(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "topic", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *topics[MAX_TOPICS] = {
		CD_TOPIC_EVENTS, CD_TOPIC_DEADLINES, CD_TOPIC_BREACHES, CD_TOPIC_DLQ,
	};
	size_t n_topics = 4;
	long brokers = 1, partitions = 8;
	struct sigaction sa;
	cd_mock *m = NULL;
	cd_err err = { "", 0 };
	char num[2][24], list[2048];
	int c, lv, status = 1;
	int64_t down_until = 0;     /* broker 1 is down until then (monotonic ms); 0: up */

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (cd_num_parse_range(optarg, 1, 9, &brokers) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--brokers", "value", optarg, "expected",
				       "1 … 9", NULL);
				return 1;
			}
			break;
		case 'p':
			if (cd_num_parse_range(optarg, 1, 1024, &partitions) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--partitions", "value", optarg,
				       "expected", "1 … 1024", NULL);
				return 1;
			}
			break;
		case 't':
			if (!*optarg) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--topic", "value", optarg, NULL);
				return 1;
			}
			if (n_topics == MAX_TOPICS) {
				cd_log(CD_LOG_ERROR, "too many topics", "option", "--topic", "max", "60", NULL);
				return 1;
			}
			topics[n_topics++] = optarg;
			break;
		case 'L':
			if ((lv = cd_log_level_parse(optarg)) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--log-level", "value", optarg, NULL);
				return 1;
			}
			cd_log_set_level(lv);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		cd_log(CD_LOG_ERROR, "unexpected argument", "argument", argv[optind], NULL);
		return 1;
	}

	/* Handlers first: a signal arriving while the cluster starts still stops it cleanly. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	if (!(m = cd_mock_new((int)brokers, &err))) {
		cd_log(CD_LOG_ERROR, "cannot start the mock cluster", "error", err.msg, NULL);
		goto out;
	}
	list[0] = '\0';
	for (size_t i = 0; i < n_topics; i++) {
		size_t used = strlen(list);
		if (cd_mock_topic_create(m, topics[i], (int)partitions, &err) < 0) {
			cd_log(CD_LOG_ERROR, "cannot create topic", "topic", topics[i], "error", err.msg, NULL);
			goto out;
		}
		/* Leaders round-robin (the mock picks them at random), so that every broker,
		 * broker 1 of SIGUSR2 included, leads partitions of every topic. */
		for (long p = 0; brokers > 1 && p < partitions; p++) {
			rd_kafka_resp_err_t e = rd_kafka_mock_partition_set_leader(cd_mock_cluster(m), topics[i],
										   (int32_t)p, (int32_t)(p % brokers + 1));
			if (e) {
				cd_log(CD_LOG_ERROR, "cannot set a partition leader", "topic", topics[i], "error",
				       rd_kafka_err2str(e), NULL);
				goto out;
			}
		}
		snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "", topics[i]);
	}
	printf("%s\n", cd_mock_bootstraps(m));
	fflush(stdout);
	snprintf(num[0], sizeof(num[0]), "%ld", brokers);
	snprintf(num[1], sizeof(num[1]), "%ld", partitions);
	cd_log(CD_LOG_INFO, "devbroker ready", "bootstrap", cd_mock_bootstraps(m), "brokers", num[0],
	       "partitions", num[1], "topics", list, NULL);

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
	cd_log(CD_LOG_INFO, "devbroker stopping", NULL);
	status = 0;
out:
	cd_mock_free(m);
	rd_kafka_wait_destroyed(5000);
	return status;
}
