#!/usr/bin/env python
"""Inverse of py2nb: dump a notebook's cells (no outputs) to the cell-marked text format."""
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
out = []
for c in nb.cells:
    out.append('#%% md' if c.cell_type == 'markdown' else '#%%')
    out.append(c.source); out.append('')
open(sys.argv[2], 'w', encoding='utf-8').write('\n'.join(out))
