#!/usr/bin/python3
"""deps_check.py — is everything the project uses installed by ops/install-deps.sh?

Derives what the build, the tests and the scripts really use, maps each item
to the Debian package that provides it (dpkg -S), and fails for every package
that ops/install-deps.sh does not install. A package counts as installed by
the script when it is listed, when it is reached from a listed package through
Depends/Pre-Depends (install-deps.sh installs without Recommends, so those do
not count), or when it is on every Debian root anyway (Essential or
Priority: required, what debootstrap's minbase installs).

What is used:
  headers     every file outside the tree that the Makefile's compile commands
              open (each run again with -M)
  protos      every import of proto/**/*.proto resolved against the -I paths
              outside the tree that the Makefile's protoc-c commands pass
  programs    the first word of every Makefile recipe (make -n -B) and every
              command word of the shell scripts in ops/, tests/ and .ci/
  python      every module the Python scripts (and python3 -c / heredocs in
              the shell scripts) import
  libraries   every shared library the program and a test binary link (ldd)

usage: deps_check.py BUILD_DIR [--without PKG]…
  BUILD_DIR   e.g. build/asan, after `make MODE=asan tests`
  --without   check as if ops/install-deps.sh did not list PKG (the test's
              negative control: the check must then fail and name PKG)
Prints what it checked; exits 1 naming file, package and the line to add.
"""
import glob
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# A fresh Debian machine's command path: what a package installs lands here.
SYS_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
ARGS = sys.argv[1:]
WITHOUT = {ARGS[i + 1] for i, a in enumerate(ARGS[:-1]) if a == "--without"}
ARGS = [a for i, a in enumerate(ARGS) if a != "--without" and (i == 0 or ARGS[i - 1] != "--without")]
MODE_DIR = ARGS[0] if ARGS else "build/asan"
MODE = os.path.basename(MODE_DIR.rstrip("/"))

problems = []


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, **kw)


# ---- what install-deps.sh installs --------------------------------------------

def listed_packages():
    out = run(["bash", "ops/install-deps.sh", "--list"])
    if out.returncode != 0:
        sys.exit("deps: ops/install-deps.sh --list failed: " + out.stderr)
    return [p for p in out.stdout.split() if p and p not in WITHOUT]


def installed_db():
    """name -> {depends: [[alternatives]], provides: [names], base: bool}"""
    fmt = "${Package}\t${Status}\t${Essential}\t${Priority}\t${Pre-Depends}\t${Depends}\t${Provides}\n"
    out = run(["dpkg-query", "-W", "-f", fmt]).stdout
    db, provided_by = {}, {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 7 or "install ok installed" not in f[1]:
            continue
        deps = []
        for field in (f[4], f[5]):
            for clause in filter(None, (c.strip() for c in field.split(","))):
                deps.append([re.split(r"[\s(:]", a.strip())[0] for a in clause.split("|")])
        provides = [re.split(r"[\s(]", p.strip())[0] for p in f[6].split(",") if p.strip()]
        db[f[0]] = {"depends": deps, "base": f[2] == "yes" or f[3] == "required"}
        for p in provides:
            provided_by.setdefault(p, []).append(f[0])
    return db, provided_by


def closure(roots, db, provided_by):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in db.get(p, {}).get("depends", []):
            # the alternative apt would take is one that is installed here
            for a in alts:
                cands = [a] if a in db else provided_by.get(a, [])
                if cands:
                    todo.extend(cands[:1])
                    break
    return seen


# ---- what the project uses -----------------------------------------------------

def header_files(make_lines):
    """Every header outside the tree that the build's own compile commands open:
    each `cc … -c` line of the Makefile run again with -M (the .d files the
    build keeps come from -MMD, which leaves system headers out)."""
    used = {}
    for line in make_lines:
        toks = shlex.split(line)
        if not toks or "-c" not in toks or not (toks[0].endswith("cc") or toks[0].endswith("gcc")):
            continue
        args, skip = [toks[0], "-M", "-MG"], False
        for t in toks[1:]:
            if skip:
                skip = False
            elif t == "-o":
                skip = True
            elif t not in ("-c", "-MMD", "-MP"):
                args.append(t)
        out = run(args)
        if out.returncode != 0:
            problems.append("%s: %s" % (" ".join(args), out.stderr.strip()[:300]))
            continue
        for tok in out.stdout.replace("\\\n", " ").split():
            if tok.startswith("/") and not tok.startswith(ROOT + "/"):
                used.setdefault(os.path.normpath(tok), "included by " + toks[-1])
    if not used:
        problems.append("no compile commands in make -n -B MODE=%s tests" % MODE)
    return used


def make_commands():
    out = run(["make", "-n", "-B", "MODE=" + MODE, "tests"])
    if out.returncode != 0:
        problems.append("make -n -B MODE=%s tests failed: %s" % (MODE, out.stderr.strip()[:300]))
    return out.stdout.splitlines()


def proto_files(make_lines):
    incs = set()
    for line in make_lines:
        if re.match(r"\s*protoc(-c)?\s", line):
            for tok in shlex.split(line):
                if tok.startswith("-I") and tok[2:].startswith("/"):
                    incs.add(tok[2:])
                elif tok.startswith("/") and tok.endswith(".proto"):
                    yield tok, "Makefile"
    for p in glob.glob(os.path.join(ROOT, "proto", "**", "*.proto"), recursive=True):
        for imp in re.findall(r'^\s*import\s+(?:public\s+)?"([^"]+)"', open(p).read(), re.M):
            if os.path.exists(os.path.join(ROOT, "proto", imp)):
                continue
            hits = [os.path.join(i, imp) for i in sorted(incs) if os.path.exists(os.path.join(i, imp))]
            if hits:
                yield hits[0], os.path.relpath(p, ROOT)
            else:
                problems.append("%s imports %s, found in none of the include paths %s"
                                % (os.path.relpath(p, ROOT), imp, sorted(incs) or "(none)"))


SHELL_WORDS = set("""if then else elif fi case esac for while until do done in function select time
{ } [[ ]] ! coproc""".split())
PREFIX_WORDS = {"exec", "command", "nohup", "env", "sudo", "$SUDO", "setsid", "xargs", "then", "do",
                "else", "!", "time", "builtin"}


def bash_builtins():
    out = run(["bash", "-c", "compgen -b; compgen -k"]).stdout
    return set(out.split())


def strip_quotes_and_heredocs(text):
    """The shell text with single-quoted strings, the literal parts of double-quoted
    ones, comments and here-documents removed; $(...) inside double quotes is kept."""
    out, i, n = [], 0, len(text)
    heredoc_end = []
    joined = 0                     # newlines owed for joined continuation lines
    while i < n:
        c = text[i]
        if c == "\n" and joined:
            out.append("\n" * joined)
            joined = 0
        if c == "\n" and heredoc_end:
            out.append("\n")
            j = i + 1
            for tag in heredoc_end:
                while j < n:
                    k = text.find("\n", j)
                    k = n if k < 0 else k
                    line = text[j:k]
                    out.append("\n")
                    j = k + 1
                    if line.strip() == tag:
                        break
            heredoc_end = []
            i = j
            continue
        if c == "'":
            k = text.find("'", i + 1)
            k = n if k < 0 else k
            out.append(" ''" + "\n" * text.count("\n", i, k))
            i = k + 1
        elif c == '"':
            j, depth = i + 1, 0
            out.append(' ""')
            while j < n and not (text[j] == '"' and depth == 0):
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith("$((", j):          # arithmetic, not a command
                    k = text.find("))", j)
                    j = n if k < 0 else k + 2
                    out.append(" 0 ")
                    continue
                if text.startswith("$(", j):
                    depth += 1
                    out.append(" ; ")
                    j += 2
                    continue
                if depth and text[j] in "'\"":           # a string inside $( )
                    k = text.find(text[j], j + 1)
                    j = n if k < 0 else k + 1
                    out.append(" '' ")
                    continue
                if text[j] == ")" and depth:
                    depth -= 1
                    out.append(" ; ")
                elif depth:
                    out.append(text[j])
                elif text[j] == "\n":
                    out.append("\n")
                j += 1
            i = j + 1
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;("):
            k = text.find("\n", i)
            i = n if k < 0 else k
        elif text.startswith("<<", i) and not text.startswith("<<<", i):
            m = re.match(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", text[i:])
            if m:
                heredoc_end.append(m.group(2))
                i += m.end()
                out.append(" ")
            else:
                out.append(c)
                i += 1
        elif c == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            joined += 1
            out.append(" ")
        else:
            out.append(c)
            i += 1
    s = "".join(out)
    # arithmetic, parameter expansions and array literals hold no commands
    s = re.sub(r"\$\(\((?:[^()]|\([^()]*\))*\)\)", " 0 ", s)
    s = re.sub(r"\$\{[^}]*\}", "$X", s)
    s = re.sub(r"\b[A-Za-z_]\w*\+?=\((?:[^()\n]|\n)*?\)",
               lambda m: "X=" + "\n" * m.group(0).count("\n"), s)
    return s


def shell_commands(path, builtins, functions):
    """(word, line) for every word in command position."""
    text = strip_quotes_and_heredocs(open(path).read())
    for lineno, line in enumerate(text.split("\n"), 1):
        line = re.sub(r"^\s*\(?[\w.*|$-]+\)(\s|$)", " ", line)     # a case pattern: "  big1|big2) …"
        for seg in re.split(r"\|\||&&|[;|&`(){}]|\$\(", line):
            words = seg.split()
            while words:
                w = words[0]
                if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", w):   # VAR=value
                    words.pop(0)
                elif (w in PREFIX_WORDS or w in SHELL_WORDS) and w not in ("for", "case", "select"):
                    words.pop(0)
                elif w == "timeout":
                    words.pop(0)
                    while words and (words[0].startswith("-") or re.match(r"^[0-9.]+[smhd]?$", words[0])):
                        words.pop(0)
                else:
                    break
            if not words or words[0] in ("for", "case", "select", "local", "declare", "export", "readonly"):
                continue
            w = words[0]
            if (w in builtins or w in functions or w.startswith(("$", "-", ".", '"', "'", "<", ">", "[", "~"))
                    or not re.match(r"^[A-Za-z0-9_./+-]+$", w) or re.match(r"^[0-9]", w)
                    or w.endswith(")")):
                continue
            yield w, lineno


def python_modules_in(text):
    def names(stmt):
        for part in stmt.split(","):
            part = part.split(" as ")[0].strip()
            if re.match(r"^[\w.]+$", part):
                yield part
    for m in re.finditer(r"^\s*(?:import\s+([\w., ]+)|from\s+([\w.]+)\s+import)", text, re.M):
        yield from names(m.group(1)) if m.group(1) else [m.group(2)]
    # the one-line programs of python3 -c
    for m in re.finditer(r"python3\s+-c\s+'([^']*)'", text):
        for stmt in re.findall(r"import\s+([\w., ]+)", m.group(1)):
            yield from names(stmt)


def scripts():
    pats = ["ops/*.sh", "ops/**/*.sh", "tests/*.sh", "tests/**/*.sh", ".ci/run"]
    seen = []
    for p in pats:
        for f in sorted(glob.glob(os.path.join(ROOT, p), recursive=True)):
            if f not in seen:
                seen.append(f)
    return seen


def which(word):
    if "/" in word:
        return word if word.startswith("/") and os.path.exists(word) else None
    for d in SYS_PATH.split(":"):
        p = os.path.join(d, word)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


# ---- file -> package -------------------------------------------------------------

def candidates(path):
    """The names dpkg may know a file by (merged /usr, symlinks, alternatives)."""
    cands = [path, os.path.realpath(path)]
    for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
        for c in list(cands):
            if c.startswith(a):
                cands.append(b + c[len(a):])
            elif c.startswith(b):
                cands.append(a + c[len(b):])
    return list(dict.fromkeys(cands))


def dpkg_owners(paths):
    """file -> package, in one dpkg -S call (each call reads the whole database)."""
    cands = {p: candidates(p) for p in paths}
    every = sorted({c for cs in cands.values() for c in cs})
    owner = {}
    if every:
        out = run(["dpkg", "-S"] + every)
        for line in out.stdout.splitlines():
            pkgs, _, f = line.partition(": ")
            if pkgs.startswith("diversion by"):
                continue
            owner.setdefault(f.strip(), pkgs.split(",")[0].strip().split(":")[0])
    return {p: next((owner[c] for c in cs if c in owner), None) for p, cs in cands.items()}


def main():
    listed = listed_packages()
    db, provided_by = installed_db()
    for p in listed:
        if p not in db:
            problems.append("ops/install-deps.sh lists %s, which is not installed here" % p)
    ok = closure(listed, db, provided_by) | {p for p, v in db.items() if v["base"]}
    ok -= WITHOUT

    items = {}      # file -> where it is used
    make_lines = make_commands()
    for f, where in header_files(make_lines).items():
        items.setdefault(f, "header, " + where)
    for f, where in proto_files(make_lines):
        items.setdefault(f, "proto import, " + where)

    builtins = bash_builtins()
    functions, texts = set(), {}
    for s in scripts():
        texts[s] = open(s).read()
        functions.update(re.findall(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)", texts[s], re.M))
    programs = {}
    for line in make_lines:
        for seg in re.split(r"&&|\|\||;|\|", line):
            words = seg.split()
            while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
                words = words[1:]
            if words and re.match(r"^[A-Za-z0-9_./+-]+$", words[0]) and words[0] not in builtins:
                programs.setdefault(words[0], "Makefile recipe: " + line.strip()[:60])
    for s, text in texts.items():
        for w, lineno in shell_commands(s, builtins, functions):
            programs.setdefault(w, "%s:%d" % (os.path.relpath(s, ROOT), lineno))
    n_prog = 0
    for w, where in sorted(programs.items()):
        if w.startswith(("build/", "tests/", "ops/", "./")) or "/" in w and not w.startswith("/"):
            continue                       # the project's own programs
        p = which(w)
        if p is None:
            problems.append("%s: runs '%s', which no package on this machine provides (not in %s)"
                            % (where, w, SYS_PATH))
            continue
        n_prog += 1
        items.setdefault(p, "program '%s', %s" % (w, where))

    py_sources = [f for f in glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)
                  if "/build/" not in f]
    modules = {}
    for f in py_sources:
        for m in python_modules_in(open(f).read()):
            modules.setdefault(m, os.path.relpath(f, ROOT))
    for s, text in texts.items():
        if "python3" in text:
            for m in python_modules_in(text):
                modules.setdefault(m, os.path.relpath(s, ROOT))
    local = {os.path.splitext(os.path.basename(f))[0] for f in py_sources}
    mods = sorted(m for m in modules if m.split(".")[0] not in local and not m.startswith("contact"))
    if mods:
        code = ("import importlib.util,sys\n"
                "for m in sys.argv[1:]:\n"
                "  try: s=importlib.util.find_spec(m); print(m, s.origin if s and s.origin else '-')\n"
                "  except Exception: print(m, '-')\n")
        out = run(["/usr/bin/python3", "-c", code] + mods).stdout
        for line in out.splitlines():
            m, _, origin = line.partition(" ")
            if origin in ("-", "built-in", "frozen"):
                if origin == "-":
                    problems.append("%s imports %s, which /usr/bin/python3 cannot find" % (modules[m], m))
                continue
            items.setdefault(origin, "python module %s, %s" % (m, modules[m]))

    bins = [os.path.join(ROOT, MODE_DIR, "contactd")] + sorted(
        glob.glob(os.path.join(ROOT, MODE_DIR, "tests", "test_*")))[:1]
    for b in bins:
        out = run(["ldd", b])
        for m in re.finditer(r"=>\s+(/\S+)", out.stdout):
            items.setdefault(os.path.normpath(m.group(1)), "linked by " + os.path.relpath(b, ROOT))

    counts = {}
    owners = dpkg_owners(items)
    for f, where in sorted(items.items()):
        pkg = owners[f]
        if pkg is None:
            problems.append("%s (%s) belongs to no Debian package" % (f, where))
            continue
        counts[pkg] = counts.get(pkg, 0) + 1
        if os.environ.get("DEPS_VERBOSE"):
            print("  %-28s %s (%s)" % (pkg, f, where))
        if pkg not in ok:
            problems.append("%s (%s) is provided by %s, which ops/install-deps.sh does not install: "
                            "add '%s' to PKGS in ops/install-deps.sh" % (f, where, pkg, pkg))
    print("deps: %d files, %d programs, %d python modules, from %d packages: %s"
          % (len(items), n_prog, len(mods), len(counts), " ".join(sorted(counts))))
    for p in problems:
        print("deps: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
