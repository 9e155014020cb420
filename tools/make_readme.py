#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which is not available offline).

Markdown cells are copied, code cells become ```python blocks followed by their text output;
`#| hide` cells are skipped and `#|` directives dropped; links to `images/` point into `nbs/`.
Usage: python tools/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)"""
import sys, json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    out = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        lines = src.splitlines()
        if c['cell_type'] == 'markdown':
            out.append(src.replace('](images/', '](nbs/images/').replace('src="images/', 'src="nbs/images/'))
            continue
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        code = '\n'.join(l for l in lines if not l.lstrip().startswith('#|')).strip('\n')
        if code: out.append(f"```python\n{code}\n```")
        texts = []
        for o in c.get('outputs', []):
            t = o.get('text') or o.get('data', {}).get('text/plain')
            if t: texts.append(''.join(t).rstrip('\n'))
        if texts: out.append("```\n" + '\n'.join(texts) + "\n```")
    return '\n\n'.join(out).rstrip() + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = readme.is_file() and readme.read_text(encoding='utf-8') == text
        print('README.md is up to date' if ok else 'README.md differs from nbs/index.ipynb: run python tools/make_readme.py')
        sys.exit(0 if ok else 1)
    readme.write_text(text, encoding='utf-8'); print('wrote', readme)
