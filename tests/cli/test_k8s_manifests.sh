# The example Kubernetes manifests parse, and the processor's configuration in
# them is accepted by contactd's configuration parser.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 - "$W" <<'PY' || fail "k8s manifests do not parse"
import sys, yaml
docs = [d for f in ("k8s/contactd.yaml", "k8s/redis.yaml") for d in yaml.safe_load_all(open(f)) if d]
kinds = sorted(d["kind"] for d in docs)
assert "Deployment" in kinds and "StatefulSet" in kinds, kinds
conf = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "contactd-config")
open(sys.argv[1] + "/contactd.conf", "w").write(conf["data"]["contactd.conf"])
PY
# --check-config loads every source and exits: a bad key or value fails it
"$CONTACTD" run --config "$W/contactd.conf" --check-config >/dev/null 2>"$W/err" || { cat "$W/err"; fail "the ConfigMap's contactd.conf is rejected"; }
printf 'batch-size 0\n' >"$W/bad.conf"
if "$CONTACTD" run --config "$W/bad.conf" --check-config >/dev/null 2>"$W/err2"; then fail "a bad config file must be rejected"; fi
expect_grep "bad.conf' line 1: key 'batch-size'" "$W/err2"
