#!/usr/bin/env python3
"""cmp.py A B: compares two outs.sh output folders case by case (see /tmp/cmp.sh)."""
import gzip, json, os, re, sys, difflib

A, B = (os.path.realpath(p) for p in sys.argv[1:3])
VERBOSE = os.environ.get("CMP_VERBOSE", "1") != "0"

def read(p, mode="rb"):
    with open(p, mode) as f:
        return f.read()

def binpath(d):
    try:
        return read(os.path.join(d, "BIN"), "r").strip()
    except OSError:
        return None

BIN = {A: binpath(A), B: binpath(B)}

def norm(data, root):
    """Run-specific paths replaced by placeholders: the OUTDIR and the binary's path."""
    for s, t in ((BIN[root], "@BIN@"), (root, "@OUT@")):
        if s:
            data = data.replace(s.encode(), t.encode())
    return data

def cases(d):
    return sorted(f[:-3] for f in os.listdir(d) if f.endswith(".rc"))

def files(d):
    out = []
    for dp, dn, fn in os.walk(d):
        dn.sort()
        for f in sorted(fn):
            p = os.path.join(dp, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, d))
    return out

IGNORE = [  # (pattern on the path inside the case folder, why)
    (r"(^|/)[^/]*\.kasane\.json$", "provenance (times, command line, host)"),
    (r"(^|/)run\.json$", "pipeline provenance (timestamps, seconds, memory)"),
    (r"(^|/)\.kasane/(jobs|logs)/", "pipeline job records / logs (timestamps)"),
    (r"(^|/)\.kasane/lock$", "pipeline lock"),
    (r"(^|/)\.kasane/shards/[^/]+/shard\.json$", "shard provenance (timestamps, seconds, memory)"),
    (r"\.log$", "log"),
]
TIMING_KEY = re.compile(r"^(start|end)(_unix)?$|^(started|finished|date|timestamp|time|elapsed|wall|duration|mtime|pid|host(name)?)$|seconds$|^peak_|rss|_unix$", re.I)

def ignored(rel):
    for pat, why in IGNORE:
        if re.search(pat, rel):
            return why
    return None

def strip_timing(v):
    if isinstance(v, dict):
        return {k: ("<t>" if TIMING_KEY.search(k) and not isinstance(v[k], (dict, list)) else strip_timing(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [strip_timing(x) for x in v]
    return v

def ignored_diff(pa, pb):
    """For an ignored file: '' if equal modulo timing fields and paths, else a short diff."""
    da, db = norm(read(pa), A), norm(read(pb), B)
    if da == db:
        return ""
    try:
        ja, jb = strip_timing(json.loads(da)), strip_timing(json.loads(db))
        ta = json.dumps(ja, indent=1, sort_keys=True).splitlines()
        tb = json.dumps(jb, indent=1, sort_keys=True).splitlines()
    except Exception:
        ta, tb = da.decode(errors="replace").splitlines(), db.decode(errors="replace").splitlines()
        ta = [re.sub(r"\d+(\.\d+)?", "N", l) for l in ta]
        tb = [re.sub(r"\d+(\.\d+)?", "N", l) for l in tb]
    if ta == tb:
        return ""
    d = [l for l in difflib.unified_diff(ta, tb, "A", "B", n=0, lineterm="") if not l.startswith(("---", "+++", "@@"))]
    return "\n".join(d[:20]) + ("\n      ... (%d more lines)" % (len(d) - 20) if len(d) > 20 else "")

def short(l):
    """A diff line cut to size: each tab field at most 40 characters."""
    return "\t".join(f if len(f) <= 40 else f[:37] + "..." for f in l.split("\t"))[:300]

def gunzip(p):
    try:
        return gzip.decompress(read(p))
    except Exception as e:
        return ("<gunzip failed: %s>" % e).encode()

def compare_file(rel, ca, cb):
    """(status, note): status same|norm|textsame|diff."""
    pa, pb = os.path.join(ca, rel), os.path.join(cb, rel)
    ra, rb = read(pa), read(pb)
    if ra == rb:
        return "same", ""
    if rel.endswith(".gz"):
        ta, tb = gunzip(pa), gunzip(pb)
        if ta == tb:
            return "textsame", "gz bytes differ, decompressed text identical"
        if norm(ta, A) == norm(tb, B):
            return "norm", "decompressed text identical after path normalization"
        la, lb = ta.decode(errors="replace").splitlines(), tb.decode(errors="replace").splitlines()
        d = [l for l in difflib.unified_diff(la, lb, "A", "B", n=0, lineterm="") if not l.startswith(("---", "+++", "@@"))]
        return "diff", "text differs (%d/%d lines, %d diff lines)%s" % (len(la), len(lb), len(d),
                "\n      " + "\n      ".join(short(x) for x in d[:6]) if VERBOSE else "")
    if norm(ra, A) == norm(rb, B):
        return "norm", "identical after path normalization"
    return "diff", "%d vs %d bytes" % (len(ra), len(rb))

def timing(d, c):
    try:
        last = read(os.path.join(d, c + ".time"), "r").strip().splitlines()[-1]
        m = re.match(r"([\d.]+) s (\d+) KB", last)
        return float(m.group(1)), int(m.group(2)) / 1024
    except Exception:
        return None, None

def rc(d, c):
    try:
        return read(os.path.join(d, c + ".rc"), "r").strip()
    except OSError:
        return "?"

def main():
    ca_, cb_ = cases(A), cases(B)
    both = [c for c in ca_ if c in cb_]
    only = [("A", c) for c in ca_ if c not in cb_] + [("B", c) for c in cb_ if c not in ca_]
    print("A = %s (%s)\nB = %s (%s)\n" % (A, BIN[A], B, BIN[B]))
    ndiff = 0
    ignored_seen = {}
    rows = []
    for c in both:
        da, db = os.path.join(A, c), os.path.join(B, c)
        fa, fb = set(files(da)), set(files(db))
        problems, notes = [], []
        r1, r2 = rc(A, c), rc(B, c)
        if r1 != r2:
            problems.append("rc %s vs %s" % (r1, r2))
        for rel in sorted(fa | fb):
            why = ignored(rel)
            if why:
                ignored_seen.setdefault(why, set()).add(re.sub(r"[^/]*/", "", rel) if "/.kasane/" in "/" + rel else rel)
                if rel in fa and rel in fb:
                    d = ignored_diff(os.path.join(da, rel), os.path.join(db, rel))
                    if d:
                        notes.append("ignored %s differs beyond timings/paths:\n      %s" % (rel, d.replace("\n", "\n      ")))
                elif rel in fa or rel in fb:
                    notes.append("ignored %s only in %s" % (rel, "A" if rel in fa else "B"))
                continue
            if rel not in fb:
                problems.append("%s only in A" % rel); continue
            if rel not in fa:
                problems.append("%s only in B" % rel); continue
            st, note = compare_file(rel, da, db)
            if st in ("diff", "textsame"):
                problems.append("%s: %s" % (rel, note))
            elif st != "same":
                notes.append("%s: %s" % (rel, note))
        # the log: show a diff when the normalized logs differ (numbers masked)
        la, lb = (os.path.join(d, c + ".log") for d in (A, B))
        if os.path.exists(la) and os.path.exists(lb):
            xa = [re.sub(r"\d+(\.\d+)?", "N", l) for l in norm(read(la), A).decode(errors="replace").splitlines()]
            xb = [re.sub(r"\d+(\.\d+)?", "N", l) for l in norm(read(lb), B).decode(errors="replace").splitlines()]
            if xa != xb:
                d = [l for l in difflib.unified_diff(xa, xb, "A", "B", n=0, lineterm="") if not l.startswith(("---", "+++", "@@"))]
                notes.append("log differs (numbers masked):\n      " + "\n      ".join(short(x) for x in d[:8]))
        nfiles = len([f for f in fa | fb if not ignored(f)])
        if problems:
            ndiff += 1
            print("%-16s DIFFERENT  (%d files compared)\n    %s" % (c, nfiles, "\n    ".join(problems)))
        else:
            print("%-16s IDENTICAL  (%d files, rc %s)" % (c, nfiles, r1))
        for n in notes:
            print("    note: " + n)
        rows.append((c, r1, r2) + timing(A, c) + timing(B, c))
    for side, c in only:
        print("%-16s ONLY IN %s" % (c, side))
    # within each side: a gathered sharded pipeline run equals the unsharded run
    for side in (A, B):
        ra, rb = os.path.join(side, "pipe_run", "res"), os.path.join(side, "pipe_shard", "res")
        if os.path.isdir(ra) and os.path.isdir(rb):
            fa = {f for f in files(ra) if not ignored(f) and not f.startswith(".kasane/")}
            fb = {f for f in files(rb) if not ignored(f) and not f.startswith(".kasane/")}
            bad = sorted(f for f in fa | fb if f not in fa or f not in fb or read(os.path.join(ra, f)) != read(os.path.join(rb, f)))
            print("%s: pipe_shard (gathered) vs pipe_run: %s" % ("A" if side == A else "B",
                  "byte-identical (%d files)" % len(fa) if not bad else "DIFFERENT: " + ", ".join(bad)))
    if ignored_seen:
        print("\nignored (compared only modulo timings/paths, shown above when they differ):")
        for why, names in ignored_seen.items():
            print("  %s: %s" % (why, ", ".join(sorted(names)[:12]) + (" ..." if len(names) > 12 else "")))
    print("\n%-16s %4s %4s %9s %9s %6s %9s %9s %6s" % ("case", "rcA", "rcB", "time A s", "time B s", "B/A", "mem A MB", "mem B MB", "B/A"))
    f = lambda x, p: "-" if x is None else ("%.*f" % (p, x))
    ratio = lambda a, b: "-" if not a or b is None else "%.2f" % (b / a)
    for c, r1, r2, ta, ma, tb, mb in rows:
        print("%-16s %4s %4s %9s %9s %6s %9s %9s %6s" % (c, r1, r2, f(ta, 2), f(tb, 2), ratio(ta, tb), f(ma, 1), f(mb, 1), ratio(ma, mb)))
    sa = sum(r[3] or 0 for r in rows); sb = sum(r[5] or 0 for r in rows)
    print("%-16s %4s %4s %9.2f %9.2f %6s" % ("total", "", "", sa, sb, ratio(sa, sb)))
    print("\n%d of %d cases DIFFERENT%s" % (ndiff, len(both), "; %d only on one side" % len(only) if only else ""))
    return 1 if ndiff or only else 0

sys.exit(main())
