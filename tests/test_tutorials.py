"""Every tutorial in nbs/tutorials follows the skeleton of STYLE.md (MONAI's): title and what you will
learn, setup, imports, data directory from an environment variable, one params cell that shrinks under
IN_TEST, content, cleanup; exports nothing. (That each runs in its tier is nbdev_test's job: it runs
every notebook, skipping cells flagged slow or cuda.)

The tutorials keep small stored outputs (issue 27, item 7), so they can be read without running them:
`python tools/run_tutorials.py` runs each at its full sizes and compresses what it stores. The tests below
check what matters about them: every CPU tutorial has outputs with at least one figure, the files stay small,
nothing stored is an error, nothing comes from a run under the test suite (the params cells show the full
sizes), and the cells that need a GPU have no outputs."""
import base64, json, re
from pathlib import Path
import pytest
from IPython.lib.pretty import pretty

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


# ----------------------------------------------------------------------------------------- stored outputs
GPU_ONLY = {'gpu_reproduction'}                  # its training cells need a CUDA GPU; tools/run_tutorials.py runs the rest
CPU_NBS = [p for p in NBS if p.stem not in GPU_ONLY]
MAX_NB_KB, MAX_IMAGE_KB = 400, 150
REFRESH = 'refresh with `python tools/run_tutorials.py {}`'


def code_cells(nb):
    return [c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']


def outputs(nb):
    return [o for c in code_cells(nb) for o in c.get('outputs', [])]


def images(nb):
    "(mime type, size in KB) of every stored image."
    return [(k, len(base64.b64decode(''.join(v))) / 1024) for o in outputs(nb) for k, v in o.get('data', {}).items()
            if k.startswith('image/') and 'svg' not in k]


def text_of(o) -> str:
    return ''.join(o['text']) if 'text' in o else ''.join(o.get('data', {}).get('text/plain', ''))


def is_cuda(src: str) -> bool:
    "The cell carries nbdev's `#| cuda` flag (among its leading directive lines)."
    for line in src.splitlines():
        if not line.strip(): continue
        if not line.lstrip().startswith('#|'): return False
        if re.match(r'\s*#\|\s*cuda\b', line): return True
    return False


@pytest.mark.parametrize('nb', CPU_NBS, ids=[p.stem for p in CPU_NBS])
def test_cpu_tutorials_store_outputs_with_a_figure(nb):
    assert outputs(nb), f'{nb.name} stores no outputs: ' + REFRESH.format(nb.stem)
    assert images(nb), f'{nb.name} stores no figure: ' + REFRESH.format(nb.stem)


@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_stored_outputs_are_small(nb):
    kb = nb.stat().st_size / 1024
    assert kb <= MAX_NB_KB, f'{nb.name} is {kb:.0f} KB on disk (at most {MAX_NB_KB}): ' + REFRESH.format(nb.stem)
    big = [f'{k} of {s:.0f} KB' for k, s in images(nb) if s > MAX_IMAGE_KB]
    assert not big, f'{nb.name}: images over {MAX_IMAGE_KB} KB: {big}; ' + REFRESH.format(nb.stem)


@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_no_stored_errors_and_no_gpu_cell_outputs(nb):
    errs = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs(nb) if o.get('output_type') == 'error']
    assert not errs, f'{nb.name} stores error outputs: {errs}'
    cuda = [''.join(c['source'])[:60] for c in code_cells(nb) if is_cuda(''.join(c['source'])) and c.get('outputs')]
    assert not cuda, f'{nb.name}: cells flagged cuda have stored outputs, but no GPU run stored them: {cuda}'


def full_size_params() -> dict:
    "What each CPU tutorial's params cell displays at its full sizes (outside the test suite)."
    from dusss_kit.config import load_config, config_path
    from dusss_kit.demo import DEMO_METHODS
    demo = load_config(config_path('demo_cpu'), ['train.progress=false'])
    return {'quickstart': pretty((DEMO_METHODS, ['train.progress=false'])),
            'code_vs_paper': pretty((128, 64, 256)),                      # image_size, n_pairs, n_sss
            'refinement': pretty((demo.data.label_ratio, demo.train.epochs, demo.semi.fusion)),
            'reports_to_masks': pretty((demo.data.synth_n, demo.data.image_size, demo.semi.pretrain_epochs, 300))}


def params_output(nb) -> str:
    "The text/plain result stored for the first code cell after the '## Parameters' heading."
    cells, seen = json.loads(nb.read_text())['cells'], False
    for c in cells:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and re.search(r'^## Param', src, flags=re.M): seen = True
        elif seen and c['cell_type'] == 'code':
            return ''.join(''.join(o['data']['text/plain']) for o in c.get('outputs', []) if o.get('output_type') == 'execute_result')
    raise AssertionError(f'{nb.name}: no code cell after a ## Parameters heading')


def test_every_cpu_tutorial_has_a_full_size_expectation():
    assert set(full_size_params()) == {p.stem for p in CPU_NBS}


@pytest.mark.parametrize('nb', CPU_NBS, ids=[p.stem for p in CPU_NBS])
def test_stored_outputs_come_from_a_full_size_run(nb):
    "The params cell shows the full sizes, and no output mentions an override of the test suite's tiny sizes."
    from dusss_kit.test_utils import TINY_SETS
    want = full_size_params()[nb.stem]
    got = params_output(nb)
    assert got == want, f'{nb.name}: the params cell stored {got!r}, the full sizes are {want!r} (IN_TEST run, or stale): ' + REFRESH.format(nb.stem)
    tiny = [s for s in TINY_SETS if s != 'train.progress=false']
    found = sorted({s for o in outputs(nb) for s in tiny if s in text_of(o)})
    assert not found, f"{nb.name}: stored outputs mention the test suite's tiny sizes {found}: " + REFRESH.format(nb.stem)
