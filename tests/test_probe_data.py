"""Data-layer gaps a careless user found with the command line (issue 25): symlinks that lead nowhere, UTF-16 text tables,
conflicting report rows, an image in two splits, and images that resizing upsamples or stretches. Each is named clearly,
by the scan, by `check_data` / `dusss check-data`, and (where training would go wrong) by the strict scan training uses."""
import os, shutil, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import write_lvit
from dusss_kit.cli import main
from dusss_kit.core import shared_data_dir
from dusss_kit.data import DataError, SegDataset, check_data, load_split, read_image, read_text_table, scan_dataset

TR = 'Train_Folder'


def cli(capsys, *args):
    "(exit code, stdout, stderr) of `dusss ARGS` run in this process."
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# --- 1. symlinks that lead nowhere --------------------------------------------------------------------------

def dead_link(path: Path, kind: str):
    "Replace `path` by a symlink loop (to itself) or by a link to a file that does not exist."
    if path.exists() or path.is_symlink(): path.unlink()
    path.symlink_to(path.name if kind == 'loop' else 'nowhere.png')
    return path


LOOP = 'is a symlink loop (following it never reaches a file or folder)'
BROKEN = 'is a broken symlink (it points to nowhere.png, which does not exist)'


@pytest.mark.parametrize('kind, words', [('loop', LOOP), ('broken', BROKEN)])
def test_image_that_is_a_dead_link_is_named_as_such(lvit, capsys, kind, words):
    img = dead_link(lvit / TR / 'img' / 'b.png', kind)
    want = f"{img}: {words}; expected an image file"
    # one problem, and not "mask_b.png: mask without an image", which sent the user looking for a missing file
    assert check_data(lvit, progress=False)['problems'] == [want]
    with pytest.raises(DataError) as e: scan_dataset(lvit)
    assert e.value.problems == [want]
    rc, out, _ = cli(capsys, 'check-data', '--quiet', lvit)
    assert rc == 1 and want in out and 'no problems found' not in out


def test_mask_that_is_a_dead_link_is_named_as_such(lvit):
    m = dead_link(lvit / TR / 'labelcol' / 'mask_c.png', 'loop')
    probs = scan_dataset(lvit, strict=False).problems
    assert probs == [f"{m}: {LOOP}; expected a mask file"], probs   # not "c.png: no mask"


def test_image_read_through_a_dead_link(tmp_path):
    p = dead_link(tmp_path / 'x.png', 'loop')
    with pytest.raises(DataError, match=r'x\.png: is a symlink loop .*expected an image file'): read_image(p)


@pytest.mark.parametrize('kind', ['loop', 'broken'])
def test_dataset_root_that_is_a_dead_link(tmp_path, capsys, kind):
    root = tmp_path / 'ds'
    root.symlink_to('ds' if kind == 'loop' else 'no_such_folder')
    rc, out, err = cli(capsys, 'check-data', '--quiet', root)
    want = LOOP if kind == 'loop' else BROKEN.replace('nowhere.png', 'no_such_folder')
    assert rc == 1 and out == ''
    assert err == f"dusss check-data: error: {root}: {want}; expected a dataset folder\n"   # one line, no traceback


def test_text_table_and_split_file_that_are_dead_links(lvit, tmp_path):
    t = dead_link(tmp_path / 'texts.xlsx', 'loop')
    with pytest.raises(DataError, match=r'texts\.xlsx: is a symlink loop .*expected a \.xlsx or \.csv text table'):
        scan_dataset(lvit, text_table=t)
    with pytest.raises(DataError, match=r'texts\.xlsx: is a symlink loop'): read_text_table(t)
    s = dead_link(tmp_path / 'split.json', 'loop')
    with pytest.raises(DataError, match=r'split\.json: is a symlink loop .*expected a JSON split file'): load_split(s)


def test_split_folder_that_is_a_dead_link(lvit):
    shutil.rmtree(lvit / 'Val_Folder'); (lvit / 'Val_Folder').symlink_to('Val_Folder')
    probs = scan_dataset(lvit, strict=False).problems   # skipped silently before: training ran without val images
    assert probs == [f"{lvit / 'Val_Folder'}: {LOOP}; expected a split folder"], probs


# --- 2. text tables in UTF-16 --------------------------------------------------------------------------------

ROWS = [['a.png', 'Lésion du lobe supérieur.'], ['b.png', 'Zwei Läsionen.'], ['c.png', 'x']]


def csv_text(rows=ROWS): return 'Image,Description\n' + ''.join(f'{a},{b}\n' for a, b in rows)


@pytest.mark.parametrize('encoding, bom', [('utf-16', b''), ('utf-16-be', b'\xfe\xff'), ('utf-32', b''), ('utf-8-sig', b'')])
def test_csv_with_a_byte_order_mark_is_read(lvit, encoding, bom):
    (lvit / TR / 'Train_text.xlsx').unlink()
    t = lvit / TR / 'Train_text.csv'
    t.write_bytes(bom + csv_text().encode(encoding))
    assert read_text_table(t).values.tolist() == ROWS
    assert [r.report for r in scan_dataset(lvit).split('train')] == [r[1] for r in ROWS]


@pytest.mark.parametrize('encoding', ['utf-16-le', 'utf-16-be'])
def test_utf16_csv_without_its_mark_is_a_clear_error(lvit, capsys, encoding):
    (lvit / TR / 'Train_text.xlsx').unlink()
    t = lvit / TR / 'Train_text.csv'
    t.write_bytes(csv_text().encode(encoding))
    with pytest.raises(DataError) as e: read_text_table(t)
    msg = str(e.value)
    assert msg.startswith(f"{t}: the file's encoding is not UTF-8") and 'expected a CSV saved as UTF-8' in msg and '\n' not in msg
    rc, out, _ = cli(capsys, 'check-data', '--quiet', lvit)
    assert rc == 1 and f"{t}: the file's encoding is not UTF-8" in out


# --- 3. one image, two different reports ----------------------------------------------------------------------

def test_conflicting_report_rows_are_a_problem(lvit, capsys):
    t = lvit / TR / 'Train_text.xlsx'
    pd.DataFrame({'Image': ['a.png', 'b.png', 'c.png', 'mask_a.png'], 'Description': ['x', 'y', 'z', 'other']}).to_excel(t, index=False)
    want = f"{t}: the image 'a' has 2 rows with different reports (row 2 'x', row 5 'other'); expected one report per image"
    assert check_data(lvit, progress=False)['problems'] == [want]
    with pytest.raises(DataError, match="the image 'a' has 2 rows with different reports"): scan_dataset(lvit)
    rc, out, _ = cli(capsys, 'check-data', '--quiet', lvit)
    assert rc == 1 and want in out


def test_identical_duplicate_rows_are_no_problem(lvit):
    pd.DataFrame({'Image': ['a.png', 'b.png', 'c.png', 'a.png'], 'Description': ['x', 'y', 'z', 'x']}).to_excel(lvit / TR / 'Train_text.xlsx', index=False)
    assert scan_dataset(lvit).problems == []


def test_conflict_in_qatas_shared_table_is_listed_once(tmp_path):
    "QaTa's Train_Val_text.xlsx serves both split folders; its conflict is one problem, not two."
    write_lvit(tmp_path, names=('t1', 't2')); write_lvit(tmp_path, names=('v1',), split='Val_Folder')
    (tmp_path / TR / 'Train_text.xlsx').unlink(); (tmp_path / 'Val_Folder' / 'Val_text.xlsx').unlink()
    t = tmp_path / TR / 'Train_Val_text.xlsx'
    pd.DataFrame({'Image': ['mask_t1.png', 'mask_t2.png', 'mask_v1.png', 'mask_v1.png'], 'Description': ['a', 'b', 'c', 'd']}).to_excel(t, index=False)
    assert scan_dataset(tmp_path, strict=False).problems == [f"{t}: the image 'v1' has 2 rows with different reports (row 4 'c', row 5 'd'); expected one report per image"]


# --- 4. one image in two splits ----------------------------------------------------------------------------

@pytest.mark.parametrize('other', ['Val_Folder', 'Test_Folder'])
def test_image_in_two_splits_is_refused(tmp_path, capsys, other):
    root = write_lvit(tmp_path / 'ds'); write_lvit(root, names=('v1', 'b'), split=other)
    split = {'Val_Folder': 'val', 'Test_Folder': 'test'}[other]
    want = (f"{root}: the image id 'b' is in more than one split, train ({root / TR / 'img' / 'b.png'}) and {split} ({root / other / 'img' / 'b.png'}); "
            "expected each image in one split only (training would learn from an image it is evaluated on)")
    assert check_data(root, progress=False)['problems'] == [want]
    with pytest.raises(DataError) as e: scan_dataset(root)            # what training uses
    assert e.value.problems == [want]
    rc, out, _ = cli(capsys, 'check-data', '--quiet', root)
    assert rc == 1 and want in out and 'no problems found' not in out


def test_same_id_twice_in_one_split_names_both_files(tmp_path):
    "The authors' pre-split layout: an image both labelled and unlabelled."
    root = tmp_path / 'pre'
    for d in ('img_labeled', 'mask_labeled', 'img_unlabeled'): (root / d).mkdir(parents=True)
    from PIL import Image
    for d in ('img_labeled', 'mask_labeled', 'img_unlabeled'): Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / d / 'a.png')
    pd.DataFrame({'Image': ['a.png'], 'Description': ['x']}).to_excel(root / 'Train_text_all.xlsx', index=False)
    probs = scan_dataset(root, strict=False).problems
    assert probs == [f"{root}: two images share the id 'a' in train ({root / 'img_labeled' / 'a.png'}, {root / 'img_unlabeled' / 'a.png'}); expected one image per id"], probs


MONUSEG = shared_data_dir('MoNuSeg')


@pytest.mark.skipif(MONUSEG is None, reason='shared MoNuSeg data not present')
def test_monuseg_still_has_no_problems(capsys):
    rc, out, err = cli(capsys, 'check-data', '--quiet', MONUSEG)
    assert rc == 0 and out.rstrip().endswith('no problems found'), out + err


# --- 5. images that resizing upsamples or stretches ------------------------------------------------------

def caught(fn):
    "The messages of the warnings `fn()` gives."
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        fn()
    return [str(x.message) for x in w]


def test_small_images_warn_once_per_dataset(tmp_path):
    root = write_lvit(tmp_path / 'ds', size=(8, 8)); write_lvit(root, names=('v1', 'v2'), size=(96, 96), split='Val_Folder')
    idx = scan_dataset(root)
    msgs = caught(lambda: [SegDataset(idx.split('train')[:1], size=96), SegDataset(idx.split('train')[1:], size=96),
                           SegDataset(idx.split('val'), size=96)])
    assert msgs == [f"images smaller than the training size 96 px are upsampled: 3 of 5 (e.g. {root / TR / 'img' / 'a.png'} 8×8)"]


def test_non_square_images_warn_that_they_are_stretched(tmp_path):
    root = write_lvit(tmp_path / 'ds', size=(200, 200)); write_lvit(root, names=('v1', 'v2'), size=(40, 64), split='Val_Folder')
    msgs = caught(lambda: SegDataset(scan_dataset(root).records, size=32))
    assert msgs == [f"non-square images are stretched to a square 32×32: 2 of 5 (e.g. {root / 'Val_Folder' / 'img' / 'v1.png'} 64×40)"]
    msgs = caught(lambda: SegDataset(scan_dataset(root).records, size=96))   # a new size: both kinds, one line
    assert len(msgs) == 1 and 'upsampled: 2 of 5' in msgs[0] and 'stretched to a square 96×96: 2 of 5' in msgs[0] and '\n' not in msgs[0]


def test_training_data_warns_once(tmp_path):
    "stage2_data builds five datasets (labelled, unlabelled, val, test, snapshots) from one scan: one warning."
    from dusss_kit.config import load_config
    from dusss_kit.data import stage2_data
    root = write_lvit(tmp_path / 'ds', names=[f't{i}' for i in range(8)], size=(8, 8)); write_lvit(root, names=('v1', 'v2'), size=(8, 8), split='Val_Folder')
    cfg = load_config(None, [f'data.path={root}', 'data.image_size=16', 'train.batch_size=2', 'data.label_ratio=0.5'])
    msgs = caught(lambda: stage2_data(cfg, root, tmp_path / 'run'))
    assert [m for m in msgs if 'upsampled' in m] == [f"images smaller than the training size 16 px are upsampled: 10 of 10 (e.g. {root / TR / 'img' / 't0.png'} 8×8)"], msgs


def test_usual_sizes_are_quiet(tmp_path):
    from dusss_kit.synth import write_synth_dataset
    syn = scan_dataset(write_synth_dataset(tmp_path / 'synth', n_train=4, n_val=2, n_test=0, size=32, progress=False))
    assert caught(lambda: SegDataset(syn.records, size=32)) == []              # the synthetic set at its own size
    big = scan_dataset(write_lvit(tmp_path / 'big', size=(64, 64)))
    assert caught(lambda: SegDataset(big.records, size=16)) == []              # shrinking square images
    assert caught(lambda: SegDataset(big.records, size=None)) == []            # no resizing at all


@pytest.mark.skipif(MONUSEG is None, reason='shared MoNuSeg data not present')
def test_monuseg_at_the_configs_sizes_is_quiet():
    idx = scan_dataset(MONUSEG)
    assert caught(lambda: [SegDataset(idx.records, size=s) for s in (96, 224)]) == []
