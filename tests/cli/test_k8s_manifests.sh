# The Kubernetes manifests (k8s/) and the Containerfile agree with contactd and with
# each other (tests/cli/k8s_check.py says what it checks, field by field): every file
# parses; the pods are hardened; no secret is committed, on a command line or in the
# environment; probes, ports, Services, the ServiceMonitor, the NetworkPolicies, KEDA
# and the Kafka topics name what contactd really uses; every metric an alert or the
# dashboard queries is served by a real `contactd run`; the ConfigMap's contactd.conf
# is accepted by contactd's configuration parser. Then each kind of mistake, made on
# a copy, must be caught and named.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/live_lib.sh"
cd "$HERE/../.."

"$CONTACTD" run --help >"$W/help.txt"

# ---- the metric names: what a running processor and aggregate stage serve -----------
# Each on its embedded mock cluster (no --brokers), with a private redis-server. Scraped
# once ready, when every partition's series exist.
redis_start "$W/redis"
serve() {   # serve NAME [run options…]: contactd run serving its endpoints on $W/NAME.port
  local name=$1 port; shift
  port=$(free_port)
  echo "$port" >"$W/$name.port"
  "$CONTACTD" run --redis "127.0.0.1:$REDIS_PORT" --metrics-addr "127.0.0.1:$port" "$@" \
    >"$W/$name.out" 2>"$W/$name.log" &
  LIVE_PIDS+=($!)
}
scrape() {   # scrape NAME: $W/NAME.metrics, once /readyz says ready
  local name=$1
  /usr/bin/python3 - "http://127.0.0.1:$(cat "$W/$name.port")" "$W/$name.metrics" <<'PY' || { cat "$W/$name.log" >&2; fail "$name: no /metrics from contactd run"; }
import sys, time, urllib.request, urllib.error
base, out = sys.argv[1], sys.argv[2]
deadline = time.time() + 60
while True:
    try:
        urllib.request.urlopen(base + "/readyz", timeout=2)
        break
    except (urllib.error.URLError, OSError) as e:
        if time.time() > deadline:
            sys.exit("not ready after 60 s: %s" % e)
        time.sleep(0.2)
open(out, "wb").write(urllib.request.urlopen(base + "/metrics", timeout=5).read())
PY
  grep -q '^# TYPE contactd_' "$W/$name.metrics" || fail "$name: /metrics has no contactd_ family"
}
serve citizens
serve aggregates --stage aggregates
scrape citizens
scrape aggregates
cat "$W/citizens.metrics" "$W/aggregates.metrics" >"$W/served.metrics"

check() { /usr/bin/python3 tests/cli/k8s_check.py --help-text "$W/help.txt" --metrics "$W/served.metrics" "$@"; }

# ---- the manifests as committed ---------------------------------------------------------
check --conf-out "$W/contactd.conf" >"$W/check.out" 2>&1 || { cat "$W/check.out" >&2; fail "the k8s manifests do not agree with contactd"; }
cat "$W/check.out"

# --check-config loads every source and exits: a bad key or value fails it. It also
# reads the password file, which the Secret mounts in the pod: here the environment
# points redis-password-file at a stand-in, with the mode the kubelet gives it (0400
# plus group read for fsGroup). The processor's pod adds --citizen-key-file (its own
# Secret), here a stand-in key too. No warning either.
printf 'stand-in\n' >"$W/password" && chmod 0440 "$W/password"
printf 'stand-in-citizen-key-of-at-least-32-bytes\n' >"$W/citizen-key" && chmod 0440 "$W/citizen-key"
CONTACTD_REDIS_PASSWORD_FILE="$W/password" "$CONTACTD" run --config "$W/contactd.conf" \
  --citizen-key-file "$W/citizen-key" --check-config >/dev/null 2>"$W/err" ||
  { cat "$W/err"; fail "the ConfigMap's contactd.conf is rejected"; }
if grep -E 'level=(warn|error)' "$W/err"; then fail "the ConfigMap's contactd.conf draws a warning"; fi
printf 'batch-size 0\n' >"$W/bad.conf"
if "$CONTACTD" run --config "$W/bad.conf" --check-config >/dev/null 2>"$W/err2"; then fail "a bad config file must be rejected"; fi
expect_grep "bad.conf' line 1: key 'batch-size'" "$W/err2"

# ---- negative controls: each mistake, made on a copy, is caught and named -----------------
# neg NAME FILE SED-SCRIPT MESSAGE: FILE of a copy of k8s/ (or the Containerfile) edited
neg() {
  local name=$1 file=$2 script=$3 want=$4 d="$W/neg-$1"
  mkdir -p "$d" && cp -r k8s "$d/k8s" && cp Containerfile "$d/Containerfile"
  sed -i -e "$script" "$d/$file"
  if cmp -s "$file" "$d/$file"; then fail "negative control $name: the edit changed nothing in $file"; fi
  if check --k8s "$d/k8s" --containerfile "$d/Containerfile" >"$d.out" 2>&1; then
    cat "$d.out" >&2; fail "negative control $name: the check passed"
  fi
  expect_grep "$want" "$d.out"
}
neg writable-root k8s/aggregates.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
  'Deployment/contactd-aggregates container contactd: securityContext.readOnlyRootFilesystem is False, want True'
neg root-user k8s/redis.yaml '0,/runAsUser: 999/s//runAsUser: 0/' \
  'StatefulSet/redis: pod securityContext.runAsUser is 0, want 999'
neg no-cpu-limit k8s/contactd.yaml 's/limits: { cpu: "2", memory: 2Gi }/limits: { memory: 2Gi }/' \
  'Deployment/contactd container contactd: no resources.limits.cpu'
neg misspelled-metric k8s/monitoring.yaml 's/rate(contactd_dead_letters_total/rate(contactd_dead_letter_total/' \
  'rule ContactdDeadLetters: metric contactd_dead_letter_total is not served'
neg dashboard-metric k8s/grafana-dashboard.json 's/process_open_fds/process_open_files/' \
  "panel 'Open file descriptors': metric process_open_files is not served"
neg committed-secret k8s/contactd.yaml '$a---\napiVersion: v1\nkind: Secret\nmetadata: { name: contactd-redis }\nstringData: { password: x }' \
  'Secret/contactd-redis: a Secret with data is committed'
neg password-arg k8s/contactd.yaml 's|args: \["run", |args: ["run", "--redis-password", "x", |' \
  "a secret on the command line: '--redis-password'"
neg unknown-env k8s/aggregates.yaml 's|^\(          args: .*\)$|\1\n          env: [{ name: CONTACTD_BATCHSIZE, value: "10" }]|' \
  'env CONTACTD_BATCHSIZE is not an option'
neg probe-path k8s/contactd.yaml '0,/path: \/readyz/s//path: \/ready/' \
  "readinessProbe.httpGet.path is '/ready', want /readyz"
neg probe-port k8s/contactd.yaml 's/metrics-addr 0.0.0.0:9464/metrics-addr 0.0.0.0:9465/' \
  'livenessProbe.httpGet.port is 9464, metrics-addr is 0.0.0.0:9465'
neg short-grace k8s/aggregates.yaml 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 20/' \
  'terminationGracePeriodSeconds 20 is below drain-timeout-ms'
neg maxmemory k8s/redis.yaml 's/maxmemory 3gb/maxmemory 4gb/' \
  'maxmemory 4gb (4294967296 bytes) is not below the memory limit 4Gi'
neg aclfile k8s/redis.yaml 's|aclfile /run/secrets/redis/users.acl|aclfile /etc/redis/users.acl|' \
  '/etc/redis/users.acl is on no Secret volume'
neg compacted-input k8s/topics.yaml '0,/cleanup.policy: delete/s//cleanup.policy: compact/' \
  'KafkaTopic/contact.events.v1: cleanup.policy'
neg topic-name k8s/topics.yaml 's/name: contact.dlq.v1/name: contact.deadletters.v1/' \
  'no KafkaTopic contact.dlq.v1 (the dlq-topic'
neg keda-cap k8s/keda.yaml 's/maxReplicaCount: 12/maxReplicaCount: 13/' \
  'ScaledObject/contactd: maxReplicaCount 13 is above the 12 partitions of contact.events.v1'
neg keda-group k8s/keda.yaml 's/consumerGroup: contactd-aggregates/consumerGroup: contactd/' \
  "ScaledObject/contactd-aggregates: consumerGroup 'contactd', the Deployment's group is 'contactd-aggregates'"
neg netpol-redis k8s/networkpolicy.yaml '0,/- { port: 6379, protocol: TCP }/s//- { port: 6380, protocol: TCP }/' \
  'NetworkPolicy/redis: ingress to ports \[.6380.\], want only 6379'
neg monitor-port k8s/monitoring.yaml 's/- port: metrics/- port: http/' \
  "no endpoint scrapes port 'metrics'"
neg runbook-anchor k8s/monitoring.yaml 's/#contactdnocommit/#contactd-no-commit/' \
  'runbook_url anchor #contactd-no-commit is no heading'
neg runtime-lib Containerfile 's/ libhiredis0.14 / /' \
  'the program links libhiredis.so.0.14 of libhiredis0.14, which the runtime stage does not install'
