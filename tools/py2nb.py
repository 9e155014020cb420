#!/usr/bin/env python
"""Convert a cell-marked text file into a Jupyter notebook (dev helper, not part of the package).

Format: lines `#%% md` start a markdown cell, `#%%` starts a code cell; everything up to the next
marker is the cell's source (trailing blank lines dropped). Usage: py2nb.py SRC.py DEST.ipynb
"""
import sys, nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell

def convert(src, dest):
    cells, kind, buf = [], None, []
    def flush():
        if kind is None: return
        text = '\n'.join(buf).strip('\n')
        if not text: return
        cells.append(new_markdown_cell(text) if kind == 'md' else new_code_cell(text))
    for line in open(src, encoding='utf-8').read().splitlines():
        s = line.strip()
        if s.startswith('#%%'):
            flush(); buf = []
            kind = 'md' if s[3:].strip() == 'md' else 'code'
        else: buf.append(line)
    flush()
    nb = new_notebook(cells=cells)
    nb.metadata = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}
    nbformat.write(nb, dest)

if __name__ == '__main__': convert(sys.argv[1], sys.argv[2])
