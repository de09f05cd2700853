#!/usr/bin/env python3
"""File-level import graph of a Rust crate: which source file uses which, from `crate::`
paths (grouped `use crate::{...}` included; `#[cfg(test)]` parts ignored). Prints the
strongly connected components with more than one file: the import circles.
usage: scripts/import-circles.py src [--edges] [--modules]"""
import os, re, sys, collections
root = sys.argv[1]
show_edges = '--edges' in sys.argv
modules_only = '--modules' in sys.argv
files = {}
for dp, dn, fn in os.walk(root):
    for f in fn:
        if f.endswith('.rs'):
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)[:-3].split(os.sep)
            if rel[-1] == 'mod': rel = rel[:-1]
            if rel in (['lib'], ['main']): continue
            files[tuple(rel)] = p
def resolve(path):
    # longest prefix of path that is a file module
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in files: return tuple(path[:n])
    return None
def expand(prefix, body):
    # expand a use tree body like "a::{b, c::d}, e" into paths
    out = []; depth = 0; cur = ''
    items = []
    for ch in body:
        if ch == '{': depth += 1
        if ch == '}': depth -= 1
        if ch == ',' and depth == 0: items.append(cur); cur = ''
        else: cur += ch
    items.append(cur)
    for it in items:
        it = it.strip()
        if not it: continue
        m = re.match(r'^([A-Za-z0-9_:]*?)(?:::)?\{(.*)\}$', it, re.S)
        if m:
            out += expand(prefix + [s for s in m.group(1).split('::') if s], m.group(2))
        else:
            out.append(prefix + [s for s in it.split(' as ')[0].split('::') if s])
    return out
# Re-exports: `pub use child::{A, B}` in a module file maps A and B to the child's file.
reexports = {}
for mod, p in files.items():
    text = open(p).read().split('#[cfg(test)]')[0]
    for m in re.finditer(r'pub(?:\(crate\))?\s+use\s+(self::|super::|crate::)?(.*?);', text, re.S):
        kind = m.group(1) or ''
        for path in expand([], m.group(2)):
            if kind == 'crate::': base = []
            elif kind == 'super::': base = list(mod[:-1])
            else: base = list(mod)
            full = base + path
            target = None
            for n in range(len(full) - 1, 0, -1):
                if tuple(full[:n]) in files: target = tuple(full[:n]); break
            if target and target != mod:
                reexports[(mod, path[-1])] = target
def resolve(path):
    for n in range(len(path), 0, -1):
        m = tuple(path[:n])
        if m in files:
            seen = 0
            while n < len(path) and (m, path[n]) in reexports and seen < 10:
                m = reexports[(m, path[n])]; seen += 1
            return m
    return None
edges = collections.defaultdict(set)
for mod, p in files.items():
    text = open(p).read().split('#[cfg(test)]')[0]
    text = re.sub(r'//[^\n]*', '', text)  # comments (doc links) are not imports
    paths = []
    for m in re.finditer(r'use\s+crate::(.*?);', text, re.S):
        paths += expand([], m.group(1))
    for m in re.finditer(r'(?<!use )\bcrate::((?:[a-z_][a-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)', text):
        paths.append(m.group(1).split('::'))
    for path in paths:
        t = resolve(path)
        if t is None or t == mod: continue
        if modules_only:
            a, b = mod[0], t[0]
            if a != b: edges[(a,)].add((b,))
        else:
            # a parent module re-exporting children is not a dependency of the child on it
            if mod[:len(t)] == t: continue
            edges[mod].add(t)
nodes = set(edges) | {t for v in edges.values() for t in v}
index = {}; low = {}; st = []; on = set(); sccs = []; counter = [0]
sys.setrecursionlimit(100000)
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; st.append(v); on.add(v)
    for w in sorted(edges.get(v, ())):
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in sorted(nodes):
    if v not in index: visit(v)
name = lambda m: '/'.join(m)
if show_edges:
    for m in sorted(edges): print(name(m), '->', ', '.join(name(t) for t in sorted(edges[m])))
circles = [c for c in sccs if len(c) > 1]
for c in circles: print(f"circle of {len(c)}:", ' '.join(sorted(name(m) for m in c)))
if not circles: print("no circles")
