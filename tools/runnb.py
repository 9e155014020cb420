#!/usr/bin/env python
"""Execute notebooks in place (in their own folder) and store their outputs, like a user would.
Usage: runnb.py NB.ipynb [...]  (uses execnb; stops at the first error and prints it)."""
import sys, os
from pathlib import Path
from execnb.shell import CaptureShell
from execnb.nbio import read_nb, write_nb
for p in sys.argv[1:]:
    p = Path(p).resolve(); cwd = os.getcwd(); os.chdir(p.parent)
    try:
        nb = read_nb(p); sh = CaptureShell(mpl_format='png')   # not retina: stored figures stay small
        sh.run_all(nb, exc_stop=True)
        write_nb(nb, p); print('ran', p)
    finally: os.chdir(cwd)
