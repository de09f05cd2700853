#!/usr/bin/env python3
"""Functions longer than a limit (default 80 lines) in the Rust files given, found by brace
matching from each `fn` line. usage: scripts/long-functions.py [--limit N] FILE..."""
import re, sys
args = sys.argv[1:]
limit = 80
if args[:1] == ['--limit']:
    limit = int(args[1]); args = args[2:]
fn_start = re.compile(r'^\s*(pub(\([a-z]+\))?\s+)?(async\s+)?(const\s+)?fn\s+(\w+)')
found = False
for path in args:
    lines = open(path).read().split('\n')
    for i, line in enumerate(lines):
        m = fn_start.match(line)
        if not m: continue
        depth = 0; opened = False
        for j in range(i, len(lines)):
            text = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split('//')[0])
            depth += text.count('{') - text.count('}')
            if '{' in text: opened = True
            if opened and depth <= 0: break
            if not opened and text.rstrip().endswith(';'): break
        if opened and j - i + 1 > limit:
            found = True
            print(f"{path}:{i+1}: fn {m.group(5)} is {j - i + 1} lines")
if not found: print(f"no function over {limit} lines")
