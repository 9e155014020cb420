"Shared pytest fixtures: tiny datasets written on the fly, a tiny run folder made once per session, and where the shared data lives."
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image


def write_lvit(root: Path, names=('a', 'b', 'c'), size=(16, 16), split='Train_Folder', mask_prefix='mask_'):
    "A minimal, valid LViT split folder: img/<n>.png, labelcol/<prefix><n>.png (0/255), <Split>_text.xlsx."
    d = root / split
    (d / 'img').mkdir(parents=True, exist_ok=True); (d / 'labelcol').mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i, n in enumerate(names):
        Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(d / 'img' / f'{n}.png')
        m = np.zeros(size, np.uint8); m[2:6 + i, 3:9] = 255
        Image.fromarray(m).save(d / 'labelcol' / f'{mask_prefix}{n}.png')
    pd.DataFrame({'Image': [f'{n}.png' for n in names],
                  'Description': [f'Lesion number {i} in the upper left.' for i in range(len(names))]}
                 ).to_excel(d / f"{split.replace('_Folder', '')}_text.xlsx", index=False)
    return root


@pytest.fixture
def lvit(tmp_path):
    "A valid two-split LViT dataset folder."
    root = tmp_path / 'ds'
    write_lvit(root, split='Train_Folder'); write_lvit(root, names=('v1', 'v2'), split='Val_Folder')
    return root


def finished_run(tmp_path_factory, command, *args, name=None):
    """`dusss COMMAND --out <a fresh folder> ARGS...` run once, asserted to have succeeded: (the folder, the finished process).
    For the module- and session-scoped fixtures that make one run for several tests."""
    from dusss_kit.test_utils import dusss
    out = tmp_path_factory.mktemp(name or command) / 'run'
    r = dusss(command, '--out', out, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


@pytest.fixture(scope='session')
def sup_run(tmp_path_factory):
    """A finished tiny supervised `dusss train` run of 2 epochs at train_cpu's learning rate, made once per session and never changed
    afterwards: tests/test_probe_run.py copies it before damaging it, tests/test_train_cli.py checks it as the supervised baseline."""
    from dusss_kit.test_utils import tiny_cli_args
    return finished_run(tmp_path_factory, 'train', *tiny_cli_args('train.lr=1e-3', 'semi.method=supervised', 'train.epochs=2'), name='sup')[0]
