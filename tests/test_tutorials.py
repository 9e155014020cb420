"""Every tutorial in nbs/tutorials follows the skeleton of STYLE.md (MONAI's): title and what you will
learn, setup, imports, data directory from an environment variable, one params cell that shrinks under
IN_TEST, content, cleanup; exports nothing. (That each runs in its tier is nbdev_test's job: it runs
every notebook, skipping cells flagged slow or cuda.)"""
import json
from pathlib import Path
import pytest

TUT = Path(__file__).resolve().parents[1] / 'nbs' / 'tutorials'
NBS = sorted(p for p in TUT.glob('*.ipynb') if not p.name.startswith('_'))


def cells(nb):
    return [(c['cell_type'], ''.join(c['source'])) for c in json.loads(nb.read_text())['cells']]


def headings(cs):
    return [l for t, s in cs if t == 'markdown' for l in s.splitlines() if l.startswith('#')]


def test_there_are_tutorials():
    assert {'quickstart.ipynb', 'code_vs_paper.ipynb'} <= {p.name for p in NBS}


@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_skeleton(nb):
    cs = cells(nb)
    t0, s0 = cs[0]
    assert t0 == 'markdown' and s0.startswith('# '), 'the first cell is the title'
    intro = ' '.join(s for t, s in cs[:2] if t == 'markdown').lower()
    assert 'what you will learn' in intro, 'the title or the cell after it says what you will learn'
    hs = [h.lower() for h in headings(cs)]
    order = [next((i for i, h in enumerate(hs) if h.startswith('## ') and key in h), None) for key in ('setup', 'data', 'param', 'cleanup')]
    assert None not in order, f'missing a section: setup, data directory, parameters or cleanup (found {hs})'
    assert order == sorted(order) and order[-1] == max(i for i, h in enumerate(hs) if h.startswith('## ')), \
        f'sections out of order or cleanup not last: {hs}'
    code = [s for t, s in cs if t == 'code']
    imports = [s for s in code if s.strip() and all(l.startswith(('import ', 'from ')) or not l.strip() or l.lstrip().startswith('#')
                                                     for l in s.splitlines())]
    assert imports, 'no import-only cell'
    assert any('os.environ' in s or 'shared_data_dir(' in s for s in code), 'the data directory does not come from an environment variable'
    assert any('in_test()' in s or 'IN_TEST' in s for s in code), 'no params cell that shrinks under IN_TEST'
    assert not any(s.lstrip().startswith(('#| export', '#| default_exp')) for s in code), 'tutorials export nothing'
    assert all(not json.loads(nb.read_text())['cells'][i].get('outputs') for i, (t, _) in enumerate(cs) if t == 'code'), \
        'tutorial outputs are not stored (nbdev_clean)'
