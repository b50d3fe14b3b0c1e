#!/usr/bin/env python3
"""Prints the longest Rust functions under the given directories (excluding #[cfg(test)] modules
and files named tests.rs), as `LINES path:line name`, longest first (TOP of them, default 10).
Strings, chars and comments are skipped when matching braces; good enough for a ranking, not a
parser. With MAX set (scripts/test.sh sets MAX=100), exits 1 when any function is longer."""
import os, re, sys

def strip(src):
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j; out.append(' ' * (j - i)); i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif c == 'r' and re.match(r'r#*"', src[i:i + 10]) and (i == 0 or not (src[i-1].isalnum() or src[i-1] == '_')):
            m = re.match(r'r(#*)"', src[i:]); hashes = m.group(1)
            end = src.find('"' + hashes, i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r'[^\n]', ' ', src[i:end])); i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            out.append(re.sub(r'[^\n]', ' ', src[i:j + 1])); i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i + 4]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", src[i:]); out.append(' ' * len(m.group(0))); i += len(m.group(0))
        else:
            out.append(c); i += 1
    return ''.join(out)

results = []
for root in sys.argv[1:] or ['src']:
    for d, _, files in os.walk(root):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(d, f)
            s = strip(open(p, encoding='utf-8', errors='replace').read())
            cut = re.search(r'#\[cfg\(test\)\]\s*mod\s+\w+', s)
            if cut: s = s[:cut.start()]
            if f == 'tests.rs': continue
            for m in re.finditer(r'\bfn\s+(\w+)[^;{]*\{', s):
                start = m.end() - 1; depth = 0; k = start
                while k < len(s):
                    if s[k] == '{': depth += 1
                    elif s[k] == '}':
                        depth -= 1
                        if depth == 0: break
                    k += 1
                l0 = s.count('\n', 0, m.start()) + 1; l1 = s.count('\n', 0, k) + 1
                results.append((l1 - l0 + 1, f"{p}:{l0}", m.group(1)))
results.sort(reverse=True)
for r in results[:int(os.environ.get('TOP', '10'))]:
    print(*r)
limit = os.environ.get('MAX')
if limit is not None:
    over = [r for r in results if r[0] > int(limit)]
    if over:
        print(f"{len(over)} function(s) longer than {limit} lines: cut them into named parts", file=sys.stderr)
        sys.exit(1)
