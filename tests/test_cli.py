"The `dusss` command as a user runs it: help texts, synth then check-data, exit codes and messages."
import shutil
import pytest
from dusss_kit.test_utils import dusss


@pytest.mark.parametrize('args', [['--help'], ['synth', '--help'], ['check-data', '--help']])
def test_help(args):
    r = dusss(*args)
    assert r.returncode == 0 and 'usage: dusss' in r.stdout
    if args == ['--help']: assert 'synth' in r.stdout and 'check-data' in r.stdout


def test_no_command_prints_help_and_fails():
    r = dusss()
    assert r.returncode == 2 and 'COMMAND' in r.stdout


@pytest.fixture(scope='module')
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('cli') / 'synth'
    r = dusss('synth', out, '--n-train', 12, '--n-val', 4, '--n-test', 4, '--size', 96, '-q')
    assert r.returncode == 0, r.stderr
    return out


def test_synth_then_check_data(synth_dir):
    assert len(list((synth_dir / 'Train_Folder' / 'img').glob('*.png'))) == 12
    r = dusss('check-data', synth_dir, '-q')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'train: 12 images, 12 masks, 12 reports' in r.stdout and 'val: 4 images' in r.stdout
    assert '96×96 ×12' in r.stdout and 'no problems found' in r.stdout


def test_synth_refuses_non_empty_folder_unless_overwrite(synth_dir):
    r = dusss('synth', synth_dir, '--n-train', 2, '--n-val', 1, '--n-test', 1, '--size', 32, '-q')
    assert r.returncode == 1 and str(synth_dir) in r.stderr and 'overwrite' in r.stderr


def test_check_data_lists_every_problem_and_fails(synth_dir, tmp_path):
    bad = tmp_path / 'bad'; shutil.copytree(synth_dir, bad)
    masks = sorted((bad / 'Train_Folder' / 'labelcol').glob('*.png'))
    masks[0].unlink()
    imgs = sorted((bad / 'Val_Folder' / 'img').glob('*.png'))
    imgs[0].write_bytes(imgs[0].read_bytes()[:100])
    r = dusss('check-data', bad, '-q')
    assert r.returncode == 1
    assert '2 problem(s)' in r.stdout and 'no mask' in r.stdout and 'cannot be decoded' in r.stdout
    assert imgs[0].name in r.stdout


def test_check_data_on_a_non_dataset(tmp_path):
    (tmp_path / 'random').mkdir()
    r = dusss('check-data', tmp_path, '-q')
    assert r.returncode == 1 and 'unrecognised dataset layout' in r.stderr and 'Traceback' not in r.stderr


def test_check_data_json_and_split_ratio(synth_dir, tmp_path):
    import json
    from dusss_kit.data import make_split, save_split, scan_dataset
    ds = tmp_path / 'withsplit'; shutil.copytree(synth_dir, ds)
    ids = [r.id for r in scan_dataset(ds).split('train')]
    save_split(make_split(ids, 0.25, seed=0), ds / 'split_0.25_seed0.json')
    r = dusss('check-data', ds, '--json', '-q')
    res = json.loads(r.stdout)
    assert r.returncode == 0 and res['split_files'][0]['labeled'] == 3 and res['split_files'][0]['ratio'] == 0.25
