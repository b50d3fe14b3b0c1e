#!/usr/bin/env python3
"""Prints every pair of top-level modules of src/ that import each other (`crate::a` used in
src/b/ or src/b.rs and `crate::b` in a), with the files that do it, and exits 1 when there is
one: data flows one way (docs/design.md), so no module may need one that needs it. Comments
and #[cfg(test)] modules are not counted."""
import collections, os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else 'src'
uses = collections.defaultdict(lambda: collections.defaultdict(set))
for d, _, files in os.walk(root):
    for f in files:
        if not f.endswith('.rs'):
            continue
        path = os.path.join(d, f)
        top = os.path.relpath(path, root).split(os.sep)[0].removesuffix('.rs')
        text = re.split(r'#\[cfg\(test\)\]', open(path, encoding='utf-8').read())[0]
        code = '\n'.join(l for l in text.split('\n') if not l.strip().startswith('//'))
        for other in re.findall(r'crate::([a-z_]+)', code):
            if other != top:
                uses[top][other].add(path)
found = 0
for a in sorted(uses):
    for b in sorted(uses[a]):
        if a < b and a in uses.get(b, {}):
            found += 1
            print(f"{a} <-> {b}: {a} -> {b} in {sorted(uses[a][b])}; {b} -> {a} in {sorted(uses[b][a])}")
if found:
    print(f"{found} import circle(s) between modules", file=sys.stderr)
    sys.exit(1)
print("no import circle between the modules of", root)
