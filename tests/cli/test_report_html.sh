# `contactd report --format html` is one self-contained page (no script, no network)
# that a real browser draws: headless Chromium renders it, the screenshot is not blank
# and shows the charts' colours, and the DOM holds the hand-counted figures of
# tests/fixtures/report-small.jsonl (test_report.sh explains them):
#   months: 2026-07 due 4, 3 met, 1 breached (75 %); 2026-08 due 4, 2 met, 2 breached
#   (50 %); 2026-12 due 2, 1 met, 1 lapsed (50 %); 2027-02 due 2, exempted 1, cancelled 1
#   (nothing decided); municipalities 101 and 147 both 3 of 5 (60 %); total 6 of 10.
source "$(dirname "$0")/lib.sh"
trap 'rc=$?; if [ $rc -eq 0 ]; then rm -rf "$W"; else echo "work files: $W" >&2; fi' EXIT
export CONTACTD_RULES=${CONTACTD_RULES:-$(cd "$(dirname "$0")/../.." && pwd)/rules}
HERE=$(cd "$(dirname "$0")" && pwd)

"$CONTACTD" report --input tests/fixtures/report-small.jsonl --warn-days 0 --grace 0 --overlays none \
  --format html --title 'Compliance <script>alert(1)</script> & co' -o "$W/report.html" 2>"$W/err" \
  || { cat "$W/err" >&2; fail "report --format html failed"; }

# Self-contained: nothing fetched, nothing run (the SVG namespace is a name, not a fetch).
for bad in '<script' '<link' 'src=' 'url(' '@import' '<iframe' '<img'; do
  ! grep -qi -- "$bad" "$W/report.html" || fail "the page holds '$bad': it must need nothing but itself"
done
[ "$(grep -o 'https\?://[^"]*' "$W/report.html" | sort -u)" = "http://www.w3.org/2000/svg" ] \
  || fail "the page names an address other than the SVG namespace: $(grep -o 'https\?://[^"]*' "$W/report.html" | sort -u)"

if ! command -v chromium >/dev/null 2>&1; then
  echo "test_report_html: chromium is not installed (ops/install-deps.sh installs it); the page was checked, not rendered: skipped"
  exit 0
fi
# chromium OPTION…: headless, in a profile of its own, the page as a 1200 × 2000 window
render() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$W/chromium" \
    --window-size=1200,2000 "$@" "file://$W/report.html"
}
render --screenshot="$W/shot.png" >"$W/chromium.log" 2>&1 \
  || { tail -5 "$W/chromium.log" >&2; fail "chromium could not render the page"; }
[ -s "$W/shot.png" ] || fail "chromium wrote no screenshot"
render --dump-dom >"$W/dom.html" 2>>"$W/chromium.log" \
  || { tail -5 "$W/chromium.log" >&2; fail "chromium could not dump the DOM"; }

# Not blank: many colours, a good part not white, and the bars' own colours
# (green: a month at or above 75 %; amber: 50 … 75 %; red: breaches by rule).
stats=$(/usr/bin/python3 "$HERE/png_stats.py" "$W/shot.png" '#2e7d32' '#ef8f00' '#c62828') || fail "cannot read the screenshot"
echo "screenshot: $stats"
/usr/bin/python3 - "$stats" <<'EOF' || fail "the screenshot looks blank or lacks the charts: $stats"
import sys
s = dict(kv.split("=") for kv in sys.argv[1].split())
ok = (int(s["width"]) == 1200 and int(s["height"]) == 2000 and int(s["colours"]) >= 50
      and float(s["nonwhite"]) >= 0.05 and int(s["c_2e7d32"]) >= 1000 and int(s["c_ef8f00"]) >= 1000
      and int(s["c_c62828"]) >= 500)
sys.exit(0 if ok else 1)
EOF

# The figures, as the browser's DOM holds them.
/usr/bin/python3 - "$W/dom.html" <<'EOF' || fail "the rendered DOM does not hold the hand-counted figures"
import sys
from html.parser import HTMLParser

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.els, self.title, self.in_title = [], [], "", False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "attrs": a, "parents": [p for p in self.stack], "text": ""}
        self.els.append(el)
        if tag not in ("meta", "br", "hr", "img", "input"):     # void elements have no end tag
            self.stack.append(el)
        if tag == "title" and not any(p["tag"] == "svg" for p in self.stack):
            self.in_title = True
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
        if tag == "title":
            self.in_title = False
    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data
        if self.in_title:
            self.title += data

p = Page()
p.feed(open(sys.argv[1], encoding="utf-8").read())
errors = []
def want(what, got, expected):
    if got != expected:
        errors.append("%s: %r, expected %r" % (what, got, expected))

def by_id(i):
    return [e for e in p.els if e["attrs"].get("id") == i]

def field(row, name):
    cells = [e for e in p.els if e["tag"] == "td" and row in e["parents"] and e["attrs"].get("data-field") == name]
    return cells[0]["attrs"].get("data-value") if cells else None

want("no script element", [e for e in p.els if e["tag"] == "script"], [])
want("the title, escaped", p.title, "Compliance <script>alert(1)</script> & co")
for tile, fld, v in (("tile-due", "due", "12"), ("tile-met", "met_on_time", "6"), ("tile-breached", "breached", "3"),
                     ("tile-lapsed", "lapsed", "1"), ("tile-exempted", "exempted", "1"),
                     ("tile-share", "share_on_time", "0.6000")):
    t = by_id(tile)
    vals = [e["attrs"].get("data-value") for e in p.els if t and t[0] in e["parents"] and e["attrs"].get("data-field") == fld]
    want(tile, vals, [v])

months = {e["attrs"]["data-month"]: e for e in p.els if e["tag"] == "tr" and e["attrs"].get("class") == "month"}
want("months", sorted(months), ["2026-07", "2026-08", "2026-12", "2027-02"])
for m, due, met, br, lapsed, ex, canc, share in (("2026-07", "4", "3", "1", "0", "0", "0", "0.7500"),
                                                 ("2026-08", "4", "2", "2", "0", "0", "0", "0.5000"),
                                                 ("2026-12", "2", "1", "0", "1", "0", "0", "0.5000"),
                                                 ("2027-02", "2", "0", "0", "0", "1", "1", "")):
    if m in months:
        r = months[m]
        want(m, [field(r, f) for f in ("due", "met_on_time", "breached", "lapsed", "exempted", "cancelled", "share_on_time")],
             [due, met, br, lapsed, ex, canc, share])
munis = {e["attrs"]["data-municipality"]: e for e in p.els if e["tag"] == "tr" and e["attrs"].get("class") == "municipality"}
want("municipalities", sorted(munis), ["101", "147"])
for m in munis:
    want("municipality " + m, [field(munis[m], f) for f in ("due", "met_on_time", "share_on_time")], ["6", "3", "0.6000"])

# the charts: share per month with the 75 % line, breaches by rule, municipalities behind
chart = by_id("chart-months")
bars = {e["attrs"]["data-month"]: e["attrs"].get("data-share") for e in p.els
        if e["tag"] == "rect" and chart and chart[0] in e["parents"] and "data-month" in e["attrs"]}
want("month bars", bars, {"2026-07": "0.7500", "2026-08": "0.5000", "2026-12": "0.5000", "2027-02": ""})
want("the 75 % line", len(by_id("line-75")), 1)
rules = {e["attrs"]["data-rule"]: (e["attrs"]["data-breached"], e["attrs"]["data-lapsed"]) for e in p.els
         if e["tag"] == "rect" and "data-breached" in e["attrs"]}
want("breaches by rule", rules, {"dk-2026/first-within": ("3", "0"), "dk-2026/four-in-six": ("0", "1")})
behind = sorted((e["attrs"]["data-municipality"], e["attrs"]["data-share"]) for e in p.els
                if e["tag"] == "rect" and "data-municipality" in e["attrs"])
want("municipalities furthest behind", behind, [("101", "0.6000"), ("147", "0.6000")])

examples = [e for e in p.els if e["tag"] == "li" and e["attrs"].get("class") == "example"]
want("explained examples", len(examples), 3)
for e in examples:
    if "BREACHED: held 0 of 1" not in e["text"]:
        errors.append("an example does not explain its breach: %r" % e["text"][:200])
cohorts = [(e["attrs"]["data-key"], e["attrs"]["data-period"],
            [c["text"] for c in p.els if c["tag"] == "td" and e in c["parents"] and c["attrs"].get("data-field") == "status"][0])
           for e in p.els if e["tag"] == "tr" and e["attrs"].get("class") == "cohort"]
want("aggregates", cohorts, [("kommune:101", "2026-10-01", "MET"), ("kommune:101", "2027-01-01", "BREACHED"),
                             ("kommune:147", "2026-10-01", "BREACHED")])
if errors:
    sys.exit("\n".join(errors))
EOF
echo "test_report_html: ok"
