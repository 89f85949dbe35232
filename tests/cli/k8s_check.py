#!/usr/bin/python3
"""k8s_check.py — do the Kubernetes manifests agree with contactd and with each other?

Reads k8s/*.yaml, k8s/grafana-dashboard.json, the Containerfile, and what they
refer to: the options of `contactd run --help` (names, defaults), the metric names a
running contactd serves on /metrics, the sections of docs/operations.md, ops/redis.conf,
the "build" packages of ops/install-deps.sh and the shared libraries the program
links. Every disagreement is printed, naming the file, the object and the field;
exit status 1 when there is one.

usage: k8s_check.py --help-text FILE --metrics FILE [--k8s DIR] [--containerfile FILE]
                    [--conf-out FILE]
  --help-text      the output of `contactd run --help`
  --metrics        one or more /metrics responses of contactd, concatenated
  --k8s            the manifests (default: the repository's k8s/)
  --containerfile  default: the repository's Containerfile
  --conf-out       write the ConfigMap's contactd.conf there (for --check-config)
The program checked for its libraries is $CONTACTD.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ap = argparse.ArgumentParser()
ap.add_argument("--help-text", required=True)
ap.add_argument("--metrics", required=True)
ap.add_argument("--k8s", default=os.path.join(ROOT, "k8s"))
ap.add_argument("--containerfile", default=os.path.join(ROOT, "Containerfile"))
ap.add_argument("--conf-out")
A = ap.parse_args()

problems = []


def bad(where, what):
    problems.append("%s: %s" % (where, what))


def get(obj, path, default=None):
    """obj's field at a dotted path (a tuple when a key has dots), or default when any
    step is missing."""
    for step in path.split(".") if isinstance(path, str) else path:
        if not isinstance(obj, dict) or step not in obj:
            return default
        obj = obj[step]
    return obj


# ---- what contactd says about itself ---------------------------------------------

def read_help(path):
    """`contactd run --help` -> ({option: default}, {accepted --flags}, {CONTACTD_* names})."""
    text = open(path).read()
    lines = text.splitlines()
    head = next((i for i, l in enumerate(lines) if re.match(r"\s+option\s+type\s+default\s+bounds", l)), None)
    if head is None:
        sys.exit("k8s_check: no option table in " + path)
    col_default = lines[head].index("default")
    col_bounds = lines[head].index("bounds")
    options = {}
    for l in lines[head + 1:]:
        m = re.match(r"  ([a-z][a-z0-9-]*)\s", l)
        if not m:
            continue
        d = l[col_default:col_bounds].strip()
        options[m.group(1)] = "" if d == '""' else d
    flags = set(options)
    flags.update(re.findall(r"\[--([a-z][a-z-]*) ", lines[0]))      # usage: [--config FILE]
    env = {"CONTACTD_" + o.upper().replace("-", "_") for o in options}
    env.update(re.findall(r"\$(CONTACTD_[A-Z_]+)", text))           # $CONTACTD_CONFIG
    return options, flags, env


PROGRAM = os.environ.get("CONTACTD") or sys.exit("k8s_check: $CONTACTD names no program")
OPTIONS, FLAGS, ENV_NAMES = read_help(A.help_text)
for need in ("input-topic", "deadline-topic", "breach-topic", "dlq-topic", "aggregates-topic",
             "members-topic", "group", "drain-timeout-ms", "metrics-addr", "redis"):
    if need not in OPTIONS:
        sys.exit("k8s_check: `contactd run --help` lists no option %s" % need)


def read_metrics(path):
    """Names a scrape exposes: every # TYPE family and every sample name."""
    types, samples = {}, set()
    for l in open(path):
        m = re.match(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)", l)
        if m:
            types[m.group(1)] = m.group(2)
        elif l.strip() and not l.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", l).group(0))
    return types, samples


M_TYPES, M_SAMPLES = read_metrics(A.metrics)
if not M_TYPES:
    sys.exit("k8s_check: no # TYPE line in " + A.metrics)


def exposed(name):
    if name in M_TYPES or name in M_SAMPLES:
        return True
    for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        if name.endswith(suffix) and M_TYPES.get(name[: -len(suffix)]) in kinds:
            return True
    return False


# ---- quantities -------------------------------------------------------------------

K8S_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6,
             "G": 10**9, "T": 10**12, "m": 10**-3, "": 1}
REDIS_UNITS = {"": 1, "k": 1000, "kb": 1024, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}


def k8s_quantity(q):
    m = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|m|)", str(q))
    return float(m.group(1)) * K8S_UNITS[m.group(2)] if m else None


def redis_bytes(v):
    m = re.fullmatch(r"([0-9]+)(k|kb|m|mb|g|gb|)", v.lower())
    return int(m.group(1)) * REDIS_UNITS[m.group(2)] if m else None


# ---- label selectors ------------------------------------------------------------------

def selects(selector, labels):
    """A LabelSelector (matchLabels, matchExpressions) against a label set; {} selects all."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


# ---- the manifests -----------------------------------------------------------------

objs = []        # (file, object)
for f in sorted(glob.glob(os.path.join(A.k8s, "*.yaml"))):
    name = os.path.relpath(f, os.path.dirname(A.k8s))
    try:
        docs = list(yaml.safe_load_all(open(f)))
    except yaml.YAMLError as e:
        bad(name, "does not parse: %s" % e)
        continue
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d or not get(d, "metadata.name"):
            bad(name, "a document without kind, apiVersion and metadata.name")
            continue
        objs.append((name, d))
if not objs:
    sys.exit("k8s_check: no manifests in " + A.k8s)

dash_path = os.path.join(A.k8s, "grafana-dashboard.json")
try:
    DASH = json.load(open(dash_path))
except (OSError, ValueError) as e:
    bad("k8s/grafana-dashboard.json", "does not parse: %s" % e)
    DASH = {}


def find(kind, name=None):
    return [(f, o) for f, o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(kind, name):
    hits = find(kind, name)
    if len(hits) != 1:
        bad("k8s/*.yaml", "%d %s objects named %s, want 1" % (len(hits), kind, name))
        return None, None
    return hits[0]


def where(f, o, field=None):
    return "%s %s/%s%s" % (f, o["kind"], o["metadata"]["name"], "" if field is None else " " + field)


# ---- no secret is committed, none is on a command line or in the environment -------------

for f, o in find("Secret"):
    if o.get("data") or o.get("stringData"):
        bad(where(f, o), "a Secret with data is committed (create it by hand: docs/operations.md)")

SECRET_WORDS = re.compile(r"pass|secret|requirepass|masterauth|token", re.I)


def pod_specs():
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        for f, o in find(kind):
            yield f, o, get(o, "spec.template.spec") or {}
    for f, o in find("CronJob"):
        yield f, o, get(o, "spec.jobTemplate.spec.template.spec") or {}


for f, o, spec in pod_specs():
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        for i, a in enumerate(argv):
            if not SECRET_WORDS.search(a):
                continue
            # a path to a file that holds the secret is fine: --redis-password-file F
            if re.fullmatch(r"--[a-z-]*-file(=.*)?", a) or (i and re.fullmatch(r"--[a-z-]*-file", argv[i - 1])):
                continue
            bad(where(f, o, "container %s" % c["name"]), "a secret on the command line: %r" % a)
        for e in c.get("env") or []:
            if SECRET_WORDS.search(e["name"]) and not e["name"].endswith("_FILE"):
                bad(where(f, o, "container %s env %s" % (c["name"], e["name"])),
                    "a secret in the environment (mount it as a file)")
            if get(e, "valueFrom.secretKeyRef"):
                bad(where(f, o, "container %s env %s" % (c["name"], e["name"])),
                    "a Secret's value in the environment (mount it as a file)")
        for e in c.get("envFrom") or []:
            if "secretRef" in e:
                bad(where(f, o, "container %s envFrom" % c["name"]), "a Secret in the environment")

# ---- contactd's configuration -----------------------------------------------------------

cm_file, cm = one("ConfigMap", "contactd-config")
CONF_TEXT = get(cm, ("data", "contactd.conf")) if cm else None
CONF = {}
if CONF_TEXT is None:
    bad("k8s/*.yaml", "ConfigMap contactd-config has no contactd.conf")
else:
    for line in CONF_TEXT.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = line.partition(" ")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] == '"':
            v = v[1:-1]
        CONF[k] = v
    if A.conf_out:
        open(A.conf_out, "w").write(CONF_TEXT)
    if "redis-password" in CONF:
        bad(where(cm_file, cm, "contactd.conf"), "redis-password in the ConfigMap: use redis-password-file")


def setting(opt):
    """The effective value of an option: the ConfigMap's, else contactd's default."""
    return CONF.get(opt, OPTIONS.get(opt, ""))


def host_port(v):
    m = re.fullmatch(r"\[?([^\]]*)\]?:([0-9]+)", v or "")
    return (m.group(1), int(m.group(2))) if m else (None, None)


METRICS_HOST, METRICS_PORT = host_port(setting("metrics-addr"))
if METRICS_PORT is None:
    bad("contactd.conf", "metrics-addr is %r: the probes and Prometheus need HOST:PORT" % setting("metrics-addr"))
elif METRICS_HOST not in ("0.0.0.0", "::", ""):
    bad("contactd.conf", "metrics-addr %s listens on %s only: the kubelet and Prometheus come from outside the pod"
        % (setting("metrics-addr"), METRICS_HOST))
REDIS_HOST, REDIS_PORT = host_port(setting("redis"))
GROUP = setting("group")
BROKERS = setting("brokers")
DRAIN_S = int(setting("drain-timeout-ms") or 0) / 1000.0

# ---- the pods: hardening, probes, resources, what they refer to -----------------------------

WORKLOADS = [("Deployment", "contactd", 10001), ("Deployment", "contactd-aggregates", 10001),
             ("StatefulSet", "redis", 999)]


def check_quantities(w, c):
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            v = get(res, "%s.%s" % (part, r))
            if v is None:
                bad(w, "no resources.%s.%s" % (part, r))
            elif k8s_quantity(v) is None:
                bad(w, "resources.%s.%s %r is not a quantity" % (part, r, v))
    for r in ("cpu", "memory"):
        lo, hi = k8s_quantity(get(res, "requests." + r)), k8s_quantity(get(res, "limits." + r))
        if lo is not None and hi is not None and lo > hi:
            bad(w, "resources.requests.%s is above resources.limits.%s" % (r, r))


def check_hardening(f, o, spec, uid):
    w = where(f, o)
    if spec.get("automountServiceAccountToken") is not False:
        bad(w, "automountServiceAccountToken is not false")
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(k):
            bad(w, "%s is set" % k)
    psc = spec.get("securityContext") or {}
    want_pod = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
                "seccompProfile.type": "RuntimeDefault"}
    for k, v in want_pod.items():
        if get(psc, k) != v:
            bad(w, "pod securityContext.%s is %r, want %r" % (k, get(psc, k), v))
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        cw = where(f, o, "container %s" % c.get("name"))
        sc = c.get("securityContext") or {}
        want = {"runAsNonRoot": True, "runAsUser": uid, "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False, "seccompProfile.type": "RuntimeDefault"}
        for k, v in want.items():
            if get(sc, k) != v:
                bad(cw, "securityContext.%s is %r, want %r" % (k, get(sc, k), v))
        if sc.get("privileged"):
            bad(cw, "securityContext.privileged is true")
        if "ALL" not in (get(sc, "capabilities.drop") or []):
            bad(cw, "securityContext.capabilities.drop does not hold ALL")
        if get(sc, "capabilities.add"):
            bad(cw, "securityContext.capabilities.add is not empty")
        check_quantities(cw, c)
        if ":" not in c.get("image", "") or c["image"].endswith(":latest"):
            bad(cw, "image %r has no fixed tag" % c.get("image"))


def port_number(c, port):
    """The containerPort a probe's port names (a name or a number), or None."""
    for p in c.get("ports") or []:
        if port == p.get("name") or port == p.get("containerPort"):
            return p.get("containerPort")
    return None


def volume_for(spec, c, path):
    """(volume, mountPath) of the mount that holds file path, or (None, None)."""
    best = None
    for m in c.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path.startswith(mp + "/") and (best is None or len(mp) > len(best["mountPath"])):
            best = m
    if best is None:
        return None, None
    vol = next((v for v in spec.get("volumes") or [] if v["name"] == best["name"]), None)
    return vol, best["mountPath"].rstrip("/")


def secret_file_ok(w, spec, c, path, secret, key):
    """path is key of Secret secret, mounted read-only with mode 0400 (group-readable through fsGroup)."""
    vol, mp = volume_for(spec, c, path)
    if vol is None or "secret" not in vol:
        bad(w, "%s is on no Secret volume" % path)
        return
    s = vol["secret"]
    rel = path[len(mp) + 1:]
    items = s.get("items")
    got = next((i["key"] for i in items if i["path"] == rel), None) if items else rel
    if s.get("secretName") != secret or got != key:
        bad(w, "%s is key %r of Secret %r, want key %r of %r" % (path, got, s.get("secretName"), key, secret))
    if s.get("defaultMode") != 0o400:
        bad(w, "Secret volume %s: defaultMode %s, want 0400" % (vol["name"], oct(s.get("defaultMode") or 0)))


POD_LABELS = {}
for kind, name, uid in WORKLOADS:
    f, o = one(kind, name)
    if not o:
        continue
    spec = get(o, "spec.template.spec") or {}
    POD_LABELS[name] = get(o, "spec.template.metadata.labels") or {}
    if not selects(get(o, "spec.selector"), POD_LABELS[name]):
        bad(where(f, o), "spec.selector does not select the pod template's labels")
    check_hardening(f, o, spec, uid)
    if name == "redis":
        continue
    c = spec["containers"][0]
    w = where(f, o, "container %s" % c["name"])
    args = [str(a) for a in c.get("args") or []]
    if not args or args[0] != "run":
        bad(w, "args %r do not start with run" % args)
    for a in args:
        if a.startswith("--") and a[2:].split("=")[0] not in FLAGS:
            bad(w, "args: %s is not an option of `contactd run --help`" % a)
    for e in c.get("env") or []:
        if e["name"].startswith("CONTACTD_") and e["name"] not in ENV_NAMES:
            bad(w, "env %s is not an option of `contactd run --help`" % e["name"])
    stage = args[args.index("--stage") + 1] if "--stage" in args[:-1] else "citizens"
    if stage != ("aggregates" if name == "contactd-aggregates" else "citizens"):
        bad(w, "runs stage %s" % stage)
    if "--config" in args[:-1]:
        path = args[args.index("--config") + 1]
        vol, mp = volume_for(spec, c, path)
        if not vol or get(vol, "configMap.name") != "contactd-config" or path[len(mp) + 1:] != "contactd.conf":
            bad(w, "--config %s is not contactd.conf of ConfigMap contactd-config" % path)
    else:
        bad(w, "no --config: the ConfigMap contactd-config is not read")
    if name == "contactd":
        ck = args[args.index("--citizen-key-file") + 1] if "--citizen-key-file" in args[:-1] else None
        if ck:
            secret_file_ok(w, spec, c, ck, "contactd-citizen-key", "key")
        else:
            bad(w, "no --citizen-key-file: citizens would be named with the development key")
    pw = setting("redis-password-file")
    if pw:
        secret_file_ok(w, spec, c, pw, "contactd-redis", "password")
    else:
        bad(w, "no redis-password-file in contactd.conf")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        p = c.get(probe)
        if not p:
            bad(w, "no %s" % probe)
            continue
        if get(p, "httpGet.path") != path:
            bad(w, "%s.httpGet.path is %r, want %s" % (probe, get(p, "httpGet.path"), path))
        n = port_number(c, get(p, "httpGet.port"))
        if n is None:
            bad(w, "%s.httpGet.port %r names no containerPort" % (probe, get(p, "httpGet.port")))
        elif n != METRICS_PORT:
            bad(w, "%s.httpGet.port is %s, metrics-addr is %s" % (probe, n, setting("metrics-addr")))
    if port_number(c, "metrics") != METRICS_PORT:
        bad(w, "the containerPort named metrics is %r, metrics-addr is %s" % (port_number(c, "metrics"), setting("metrics-addr")))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace < DRAIN_S + 15:
        bad(where(f, o), "terminationGracePeriodSeconds %s is below drain-timeout-ms (%g s) + 15 s" % (grace, DRAIN_S))
    # a PodDisruptionBudget
    if not [p for _, p in find("PodDisruptionBudget") if selects(get(p, "spec.selector"), POD_LABELS[name])]:
        bad(where(f, o), "no PodDisruptionBudget selects its pods")
    # a Service with the metrics port, picked by the ServiceMonitor
    svcs = [(sf, s) for sf, s in find("Service") if get(s, "spec.selector")
            and all(POD_LABELS[name].get(k) == v for k, v in s["spec"]["selector"].items())]
    port = next(((s, p) for _, s in svcs for p in get(s, "spec.ports") or []
                 if port_number(c, p.get("targetPort", p.get("port"))) == METRICS_PORT), None)
    if not port:
        bad(where(f, o), "no Service selects its pods with a port to the metrics port")
        continue
    svc, sp = port
    mons = [(mf, m) for mf, m in find("ServiceMonitor") if selects(get(m, "spec.selector"), get(svc, "metadata.labels"))]
    if not mons:
        bad(where(f, o), "no ServiceMonitor selects its Service %s" % svc["metadata"]["name"])
    for mf, m in mons:
        eps = get(m, "spec.endpoints") or []
        if not [e for e in eps if e.get("port") == sp.get("name") and e.get("path", "/metrics") == "/metrics"]:
            bad(where(mf, m), "no endpoint scrapes port %r (of Service %s) at /metrics"
                % (sp.get("name"), svc["metadata"]["name"]))

# ---- Redis --------------------------------------------------------------------------------------

rf, redis = one("StatefulSet", "redis")
if redis:
    spec = get(redis, "spec.template.spec")
    c = spec["containers"][0]
    w = where(rf, redis, "container %s" % c["name"])
    if not c.get("image", "").startswith("redis:7.0"):
        bad(w, "image %r is not redis:7.0" % c.get("image"))
    argv = (c.get("command") or []) + (c.get("args") or [])
    conf_path = next((a for a in argv if a.endswith(".conf")), None)
    vol, mp = volume_for(spec, c, conf_path or "")
    rconf_text = None
    if vol and get(vol, "configMap.name"):
        _, rcm = one("ConfigMap", vol["configMap"]["name"])
        rconf_text = get(rcm, ("data", conf_path[len(mp) + 1:])) if rcm else None
    if rconf_text is None:
        bad(w, "its configuration file %r is no key of a mounted ConfigMap" % conf_path)
        rconf_text = ""
    rconf = {}
    for line in rconf_text.splitlines():
        parts = line.split(None, 1)
        if parts and not parts[0].startswith("#"):
            rconf[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    ops = {}
    for line in open(os.path.join(ROOT, "ops", "redis.conf")):
        parts = line.split(None, 1)
        if parts and not parts[0].startswith("#"):
            ops[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    for k in ("appendonly", "appendfsync", "maxmemory-policy", "no-appendfsync-on-rewrite", "auto-aof-rewrite-min-size"):
        if rconf.get(k) != ops.get(k):
            bad(w, "redis.conf %s is %r, ops/redis.conf has %r" % (k, rconf.get(k), ops.get(k)))
    if "requirepass" in rconf:
        bad(w, "requirepass in redis.conf: the password belongs in the ACL file")
    mm, lim = redis_bytes(rconf.get("maxmemory", "")), k8s_quantity(get(c, "resources.limits.memory"))
    if mm is None or mm == 0:
        bad(w, "redis.conf sets no maxmemory")
    elif lim is not None and mm >= lim:
        bad(w, "maxmemory %s (%d bytes) is not below the memory limit %s (%d bytes)"
            % (rconf["maxmemory"], mm, get(c, "resources.limits.memory"), lim))
    if "aclfile" not in rconf:
        bad(w, "redis.conf has no aclfile")
    else:
        secret_file_ok(w, spec, c, rconf["aclfile"], "contactd-redis", "users.acl")
    data = rconf.get("dir", "")
    vol, mp = volume_for(spec, c, data + "/x")
    claims = [get(t, "metadata.name") for t in get(redis, "spec.volumeClaimTemplates") or []]
    m = next((m for m in c.get("volumeMounts") or [] if m["mountPath"].rstrip("/") == data.rstrip("/")), None)
    if not m or m["name"] not in claims:
        bad(w, "redis.conf dir %r is not the mount of a volumeClaimTemplate (%s)" % (data, claims))
    rport = int(rconf.get("port", 6379))
    if port_number(c, rport) is None:
        bad(w, "no containerPort %d (redis.conf port)" % rport)
    lp = c.get("livenessProbe")
    if not lp or port_number(c, get(lp, "tcpSocket.port")) != rport:
        bad(w, "livenessProbe is not a tcpSocket check of port %d" % rport)
    if not c.get("readinessProbe"):
        bad(w, "no readinessProbe")
    # contactd's redis HOST:PORT is this StatefulSet's headless Service
    sname = redis["spec"].get("serviceName")
    _, svc = one("Service", sname)
    if svc:
        if get(svc, "spec.clusterIP") != "None":
            bad(where(rf, svc), "the StatefulSet's Service is not headless (clusterIP: None)")
        if not selects({"matchLabels": get(svc, "spec.selector") or {"-": "-"}}, POD_LABELS.get("redis")):
            bad(where(rf, svc), "does not select the redis pods")
        if REDIS_HOST != sname and not (REDIS_HOST or "").startswith(sname + "."):
            bad("contactd.conf", "redis %s is not the Service %s" % (setting("redis"), sname))
        if REDIS_PORT not in [p.get("port") for p in get(svc, "spec.ports") or []]:
            bad("contactd.conf", "redis %s: the Service %s has no port %s" % (setting("redis"), sname, REDIS_PORT))

# ---- Kafka topics ---------------------------------------------------------------------------------

TOPIC_OPTS = ("input-topic", "deadline-topic", "breach-topic", "dlq-topic", "aggregates-topic", "members-topic")
want_topics = {setting(o): o for o in TOPIC_OPTS}
topics = {}
for f, t in find("KafkaTopic"):
    topics[get(t, "spec.topicName") or t["metadata"]["name"]] = (f, t)
for name, opt in sorted(want_topics.items()):
    if name not in topics:
        bad("k8s/*.yaml", "no KafkaTopic %s (the %s of `contactd run --help`)" % (name, opt))
for name, (f, t) in sorted(topics.items()):
    w = where(f, t)
    if name not in want_topics:
        bad(w, "is no topic of `contactd run --help` (%s)" % ", ".join(
            "%s %s" % (o, setting(o)) for o in TOPIC_OPTS))
        continue
    cfg = get(t, "spec.config") or {}
    if "strimzi.io/cluster" not in (get(t, "metadata.labels") or {}):
        bad(w, "no strimzi.io/cluster label")
    if (get(t, "spec.replicas") or 0) < 3:
        bad(w, "replicas %s, want 3 or more" % get(t, "spec.replicas"))
    if int(cfg.get("min.insync.replicas", 1)) < 2:
        bad(w, "min.insync.replicas %s, want 2 or more" % cfg.get("min.insync.replicas"))
    if cfg.get("cleanup.policy") != "delete":
        bad(w, "cleanup.policy %r, want delete (compaction keeps one record per key)" % cfg.get("cleanup.policy"))
    opt = want_topics[name]
    if opt in ("input-topic", "members-topic"):
        # rebuilt from their beginning (a new deployment, --reset-state)
        if int(cfg.get("retention.ms", 0)) != -1 or int(cfg.get("retention.bytes", -1)) != -1:
            bad(w, "retention.ms %s, retention.bytes %s: a rebuild from the log needs all of it (-1)"
                % (cfg.get("retention.ms"), cfg.get("retention.bytes")))
    if opt == "input-topic" and not 1 <= (get(t, "spec.partitions") or 0) <= 1024:
        bad(w, "partitions %s, contactd takes 1 to 1024" % get(t, "spec.partitions"))
    if opt == "dlq-topic":
        r = int(cfg.get("retention.ms", 0))
        if r != -1 and r < 90 * 86400 * 1000:
            bad(w, "retention.ms %s: keep dead letters 90 days or more" % r)
        if int(cfg.get("max.message.bytes", 1048588)) <= int(setting("dlq-max-bytes") or 0):
            bad(w, "max.message.bytes is not above dlq-max-bytes")

# ---- KEDA -----------------------------------------------------------------------------------------

for dep, group, topic_opt in (("contactd", GROUP, "input-topic"), ("contactd-aggregates", GROUP + "-aggregates", "members-topic")):
    sos = [(f, s) for f, s in find("ScaledObject") if get(s, "spec.scaleTargetRef.name") == dep]
    if len(sos) != 1:
        bad("k8s/*.yaml", "%d KEDA ScaledObjects scale Deployment %s, want 1" % (len(sos), dep))
        continue
    f, s = sos[0]
    w = where(f, s)
    trig = [t for t in get(s, "spec.triggers") or [] if t.get("type") == "kafka"]
    if len(trig) != 1:
        bad(w, "no kafka trigger")
        continue
    md = trig[0].get("metadata") or {}
    topic = setting(topic_opt)
    if md.get("consumerGroup") != group:
        bad(w, "consumerGroup %r, the Deployment's group is %r" % (md.get("consumerGroup"), group))
    if md.get("topic") != topic:
        bad(w, "topic %r, the Deployment reads %r" % (md.get("topic"), topic))
    if md.get("bootstrapServers") != BROKERS:
        bad(w, "bootstrapServers %r, contactd.conf's brokers are %r" % (md.get("bootstrapServers"), BROKERS))
    if not md.get("lagThreshold"):
        bad(w, "no lagThreshold")
    lo, hi = get(s, "spec.minReplicaCount", 0), get(s, "spec.maxReplicaCount")
    if lo < 1:
        bad(w, "minReplicaCount %s: never scale to zero (the wall clock fires with no input)" % lo)
    parts = get(topics.get(topic, (None, {}))[1], "spec.partitions")
    if hi is None or parts is None or hi > parts:
        bad(w, "maxReplicaCount %s is above the %s partitions of %s" % (hi, parts, topic))

# ---- NetworkPolicy ------------------------------------------------------------------------------

def rule_ports(rule):
    return {p.get("port") for p in rule.get("ports") or []}


ours = [POD_LABELS[n] for n in ("contactd", "contactd-aggregates") if n in POD_LABELS]
kafka_ports = {host_port(b)[1] for b in BROKERS.split(",") if b}
for labels_name in ("contactd", "contactd-aggregates"):
    pols = [(f, p) for f, p in find("NetworkPolicy") if selects(get(p, "spec.podSelector"), POD_LABELS.get(labels_name))]
    if not pols:
        bad("k8s/*.yaml", "no NetworkPolicy selects the pods of %s" % labels_name)
        continue
    for f, p in pols:
        w = where(f, p)
        types = get(p, "spec.policyTypes") or []
        if "Ingress" not in types or "Egress" not in types:
            bad(w, "policyTypes %s, want Ingress and Egress" % types)
        ing = set().union(*[rule_ports(r) for r in get(p, "spec.ingress") or []] or [set()])
        if not ing & {METRICS_PORT, "metrics"}:
            bad(w, "no ingress to the metrics port %s" % METRICS_PORT)
        if ing - {METRICS_PORT, "metrics"}:
            bad(w, "ingress to ports other than metrics: %s" % sorted(map(str, ing)))
        eg = set().union(*[rule_ports(r) for r in get(p, "spec.egress") or []] or [set()])
        for need, what in [(REDIS_PORT, "Redis"), (53, "DNS")] + [(k, "Kafka") for k in sorted(kafka_ports)]:
            if need not in eg:
                bad(w, "no egress to %s port %s" % (what, need))
rpols = [(f, p) for f, p in find("NetworkPolicy") if selects(get(p, "spec.podSelector"), POD_LABELS.get("redis"))]
if not rpols:
    bad("k8s/*.yaml", "no NetworkPolicy selects the redis pods")
for f, p in rpols:
    w = where(f, p)
    rules = get(p, "spec.ingress") or []
    for r in rules:
        if rule_ports(r) != {REDIS_PORT}:
            bad(w, "ingress to ports %s, want only %s" % (sorted(map(str, rule_ports(r))), REDIS_PORT))
        peers = r.get("from") or []
        for labels in ours:
            if not [q for q in peers if "podSelector" in q and "namespaceSelector" not in q
                    and selects(q["podSelector"], labels)]:
                bad(w, "contactd's pods %s may not connect" % labels)
        for q in peers:
            if "ipBlock" in q or "namespaceSelector" in q or q.get("podSelector") == {}:
                bad(w, "ingress from more than contactd's pods: %s" % q)
    if not rules:
        bad(w, "no ingress rule: contactd cannot connect")

# ---- metric names and alerts ---------------------------------------------------------------------

METRIC = re.compile(r"\b((?:contactd|process)_[a-zA-Z0-9_:]*)")


def check_names(w, expr):
    for name in METRIC.findall(expr):
        if not exposed(name):
            bad(w, "metric %s is not served by contactd's /metrics" % name)


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


ops_md = open(os.path.join(ROOT, "docs", "operations.md")).read()
runbook = ops_md.split("\n## Runbook: alerts\n", 1)
anchors = set()
if len(runbook) == 2:
    section = runbook[1].split("\n## ", 1)[0]
    anchors = {slug(h) for h in re.findall(r"^#{3,4} (.+)$", section, re.M)}
if len(runbook) != 2:
    bad("docs/operations.md", "no section \"## Runbook: alerts\"")
alerts = []
for f, r in find("PrometheusRule"):
    for g in get(r, "spec.groups") or []:
        for rule in g.get("rules") or []:
            w = where(f, r, "rule %s" % (rule.get("alert") or rule.get("record")))
            check_names(w, str(rule.get("expr", "")))
            if "alert" not in rule:
                continue
            alerts.append(rule["alert"])
            if get(rule, "labels.severity") not in ("critical", "warning", "info"):
                bad(w, "labels.severity is %r" % get(rule, "labels.severity"))
            for a in ("summary", "description", "runbook_url"):
                if not get(rule, "annotations." + a):
                    bad(w, "no annotations.%s" % a)
            url = get(rule, "annotations.runbook_url") or ""
            if not re.search(r"/docs/operations\.md#", url):
                bad(w, "runbook_url %r does not point into docs/operations.md" % url)
            elif url.split("#", 1)[1] not in anchors:
                bad(w, "runbook_url anchor #%s is no heading under \"## Runbook: alerts\" in docs/operations.md"
                    % url.split("#", 1)[1])
if not alerts:
    bad("k8s/*.yaml", "no PrometheusRule alert")
if len(set(alerts)) != len(alerts):
    bad("k8s/*.yaml", "alert names repeat: %s" % sorted(alerts))

# ---- the dashboard ---------------------------------------------------------------------------------

if DASH:
    w = "k8s/grafana-dashboard.json"
    variables = get(DASH, "templating.list") or []
    if not [v for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"
            and v.get("name") == "datasource"]:
        bad(w, "no templating variable datasource of type datasource (prometheus)")
    for v in variables:
        q = v.get("query")
        check_names(w + " variable " + v.get("name", "?"), json.dumps(q) if isinstance(q, dict) else str(q))

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels") or [])

    exprs = 0
    for p in panels(DASH.get("panels") or []):
        if p.get("type") == "row":
            continue
        pw = "%s panel %r" % (w, p.get("title"))
        if get(p, "datasource.uid") != "${datasource}":
            bad(pw, "datasource is not ${datasource}")
        for t in p.get("targets") or []:
            exprs += 1
            check_names(pw, t.get("expr", ""))
            if get(t, "datasource.uid", "${datasource}") != "${datasource}":
                bad(pw, "a target's datasource is not ${datasource}")
    if not exprs:
        bad(w, "no panel queries anything")

# ---- the image ---------------------------------------------------------------------------------------

def containerfile():
    """[(FROM image, [apt-get install packages], [other lines])] per stage."""
    text = re.sub(r"\\\n", " ", open(A.containerfile).read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line.split()[1], set(), []))
            continue
        if not stages:
            continue
        m = re.search(r"apt-get install ((?:-\S+\s+)*)([^&;|]+)", line)
        if m:
            stages[-1][1].update(p for p in m.group(2).split() if not p.startswith("-"))
        stages[-1][2].append(line)
    return stages


def build_group():
    """The packages under "# build" in ops/install-deps.sh's PKGS."""
    pkgs, on = [], False
    for line in open(os.path.join(ROOT, "ops", "install-deps.sh")):
        s = line.strip()
        if s.startswith("#"):
            on = s == "# build"
            continue
        if s == ")":
            break
        if on:
            pkgs += s.split("#")[0].split()
    return set(pkgs)


def needed_packages(binary):
    """Debian packages of the libraries the program links directly (readelf NEEDED)."""
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout
    paths = {}
    for l in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", l)
        if m:
            paths[m.group(1)] = m.group(2)
    needed = [so for so in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
              if not re.match(r"lib(asan|ubsan|lsan|tsan)\.", so)]   # the sanitizer build's own
    # dpkg knows a file by the path its package installed, /lib or /usr/lib (merged /usr)
    cands = {}
    for so in needed:
        path = paths.get(so, so)
        for c in (path, os.path.realpath(path)):
            for v in (c, re.sub(r"^/usr/lib/", "/lib/", c), re.sub(r"^/lib/", "/usr/lib/", c)):
                cands.setdefault(v, so)
    owner = {}
    out = subprocess.run(["dpkg", "-S"] + sorted(cands), capture_output=True, text=True).stdout
    for l in out.splitlines():
        pkg, _, path = l.partition(": ")
        if path in cands:
            owner.setdefault(cands[path], pkg.split(":")[0].split(",")[0])
    for so in needed:
        if so not in owner:
            bad("Containerfile", "%s (%s) belongs to no Debian package" % (so, paths.get(so)))
    return owner


def base_packages():
    """What every Debian root has (debian:bookworm-slim included): the Essential and
    Priority required packages and what they depend on, as installed here."""
    fmt = "${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True).stdout
    deps, todo = {}, []
    for line in out.splitlines():
        name, essential, prio, d = line.split("\t")
        deps[name] = [re.split(r"[\s(:]", a.strip())[0] for a in re.split(r"[,|]", d) if a.strip()]
        if essential == "yes" or prio == "required":
            todo.append(name)
    seen = set()
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(deps.get(p, []))
    return seen


if not os.path.exists(A.containerfile):
    bad("Containerfile", "missing")
else:
    cw = os.path.relpath(A.containerfile, ROOT)
    cw = A.containerfile if cw.startswith("..") else cw
    stages = containerfile()
    if len(stages) < 2:
        bad(cw, "not a multi-stage build")
    for img, _, _ in stages:
        if img != "debian:bookworm-slim":
            bad(cw, "FROM %s, want debian:bookworm-slim (the Debian release the packages are named for)" % img)
    if stages:
        missing = build_group() - stages[0][1]
        if missing:
            bad(cw, "the build stage does not install %s (ops/install-deps.sh, build)" % " ".join(sorted(missing)))
        runtime, lines = stages[-1][1], stages[-1][2]
        base = base_packages()
        for soname, pkg in sorted(needed_packages(PROGRAM).items()):
            if pkg not in runtime and pkg not in base:
                bad(cw, "the program links %s of %s, which the runtime stage does not install" % (soname, pkg))
        build_lines = " ".join(stages[0][2])
        m = re.search(r"make install\b[^&;]*PREFIX=(\S+)", build_lines)
        prefix = m.group(1) if m else None
        if not prefix:
            bad(cw, "no `make install PREFIX=...` in the build stage")
        else:
            if setting("rules") != prefix + "/share/contactd/rules":
                bad("contactd.conf", "rules %s, the image has them in %s/share/contactd/rules" % (setting("rules"), prefix))
            if not [l for l in lines if l == 'ENTRYPOINT ["%s/bin/contactd"]' % prefix]:
                bad(cw, 'no ENTRYPOINT ["%s/bin/contactd"] (exec form, no shell)' % prefix)
        user = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
        if not user or user[-1].split(":")[0] != "10001":
            bad(cw, "USER is %s, the Deployments run as 10001" % (user[-1] if user else "not set"))
        if not [l for l in lines if l.upper().startswith("EXPOSE ") and str(METRICS_PORT) in l.split()[1:]]:
            bad(cw, "no EXPOSE %s (metrics-addr)" % METRICS_PORT)

# ---- the verdict ---------------------------------------------------------------------------------------

for p in problems:
    print("k8s: " + p)
print("k8s: %d objects in %d files, %d alerts, %d metric families served; %d problems"
      % (len(objs), len({f for f, _ in objs}), len(alerts), len(M_TYPES), len(problems)))
sys.exit(1 if problems else 0)
