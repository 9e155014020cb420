"Every layout the issue names is recognised and read: LViT (stem or mask_ names, QaTa's combined table), a single split folder, BM-Seg with a user table, the authors' pre-split folders; PNG/JPEG/TIFF, gray/RGB, 8/16 bit."
import numpy as np, pandas as pd, pytest, tifffile
from PIL import Image
from conftest import write_lvit
from dusss_kit.data import DataError, SegDataset, detect_layout, read_image, scan_dataset


def table(path, names, prefix='report for '):
    pd.DataFrame({'Image': names, 'Description': [prefix + n for n in names]}).to_excel(path, index=False)


def test_lvit_masks_named_by_stem(tmp_path):
    write_lvit(tmp_path, mask_prefix='')
    idx = scan_dataset(tmp_path)
    assert [r.mask.name for r in idx.records] == ['a.png', 'b.png', 'c.png'] and idx.records[0].report


def test_qata_combined_train_val_table(tmp_path):
    write_lvit(tmp_path, names=('t1', 't2')); write_lvit(tmp_path, names=('v1',), split='Val_Folder')
    (tmp_path / 'Train_Folder' / 'Train_text.xlsx').unlink(); (tmp_path / 'Val_Folder' / 'Val_text.xlsx').unlink()
    # QaTa's table lists the mask file names, for train and val together
    table(tmp_path / 'Train_Folder' / 'Train_Val_text.xlsx', ['mask_t1.png', 'mask_t2.png', 'mask_v1.png'])
    idx = scan_dataset(tmp_path)
    assert {r.id: r.report for r in idx.records} == {'t1': 'report for mask_t1.png', 't2': 'report for mask_t2.png', 'v1': 'report for mask_v1.png'}


def test_single_split_folder(tmp_path):
    write_lvit(tmp_path, split='Test_Folder')
    assert detect_layout(tmp_path / 'Test_Folder') == 'lvit-split'
    idx = scan_dataset(tmp_path / 'Test_Folder')
    assert idx.splits == ['test'] and len(idx.records) == 3


def test_csv_table(tmp_path):
    write_lvit(tmp_path)
    (tmp_path / 'Train_Folder' / 'Train_text.xlsx').unlink()
    pd.DataFrame({' image ': ['a.png', 'b.png', 'c.png'], 'DESCRIPTION': ['x', 'y', 'z']}).to_csv(tmp_path / 'Train_Folder' / 'Train_text.csv', index=False)
    assert [r.report for r in scan_dataset(tmp_path).records] == ['x', 'y', 'z']


def make_bmseg(root, names=('s1', 's2')):
    for d in ('image', 'bone mask', 'lesion mask'): (root / d).mkdir(parents=True)
    for i, n in enumerate(names):
        Image.fromarray(np.full((12, 12), 80, np.uint8)).save(root / 'image' / f'{n}.png')
        bone = np.zeros((12, 12), np.uint8); bone[2:10, 2:10] = 255
        lesion = np.zeros((12, 12), np.uint8); lesion[4:6 + i, 4:6] = 255
        Image.fromarray(bone).save(root / 'bone mask' / f'{n}.png'); Image.fromarray(lesion).save(root / 'lesion mask' / f'{n}.png')
    return root


def test_bmseg_needs_a_user_table(tmp_path):
    root = make_bmseg(tmp_path / 'bm')
    assert detect_layout(root) == 'bmseg'
    with pytest.raises(DataError, match='BM-Seg ships no reports; pass a text table'): scan_dataset(root)
    table(tmp_path / 'texts.xlsx', ['s1.png', 's2.png'])
    idx = scan_dataset(root, text_table=tmp_path / 'texts.xlsx')
    assert len(idx.records) == 2 and idx.records[1].report == 'report for s2.png'
    lesion = SegDataset(idx.records, size=None)[1]['mask'].sum().item()
    bone = SegDataset(scan_dataset(root, text_table=tmp_path / 'texts.xlsx', mask_kind='bone').records, size=None)[1]['mask'].sum().item()
    assert (lesion, bone) == (6, 64)


def test_presplit_layout_with_table_two_levels_up(tmp_path):
    fold = tmp_path / 'Train_Folder_0.25_labeled' / 'fold_1'
    for d in ('img_labeled', 'mask_labeled', 'img_unlabeled'): (fold / d).mkdir(parents=True)
    for n in ('l1', 'l2'):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(fold / 'img_labeled' / f'{n}.png')
        m = np.zeros((8, 8), np.uint8); m[:3, :3] = 255; Image.fromarray(m).save(fold / 'mask_labeled' / f'{n}.png')
    for n in ('u1', 'u2', 'u3'): Image.fromarray(np.zeros((8, 8), np.uint8)).save(fold / 'img_unlabeled' / f'{n}.png')
    table(tmp_path / 'Train_text_all.xlsx', ['l1.png', 'l2.png', 'u1.png', 'u2.png', 'u3.png'])
    idx = scan_dataset(fold)
    assert idx.layout == 'presplit'
    assert [r.id for r in idx.records if r.labeled] == ['l1', 'l2']
    assert [r.id for r in idx.records if not r.labeled] == ['u1', 'u2', 'u3'] and all(r.report for r in idx.records)


@pytest.mark.parametrize('kind', ['png8', 'png16', 'jpg', 'tif8rgb', 'tif16', 'rgba'])
def test_image_formats(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == 'png8': a = rng.integers(0, 256, (10, 12), dtype=np.uint8); Image.fromarray(a).save(p := tmp_path / 'x.png'); exp = a / 255
    elif kind == 'png16': a = rng.integers(0, 65536, (10, 12), dtype=np.uint16); Image.fromarray(a).save(p := tmp_path / 'x.png'); exp = a / 65535
    elif kind == 'jpg': a = np.full((10, 12, 3), 200, np.uint8); Image.fromarray(a).save(p := tmp_path / 'x.jpg', quality=100); exp = np.moveaxis(a, -1, 0) / 255
    elif kind == 'tif8rgb': a = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8); tifffile.imwrite(p := tmp_path / 'x.tif', a); exp = np.moveaxis(a, -1, 0) / 255
    elif kind == 'tif16': a = rng.integers(0, 65536, (10, 12), dtype=np.uint16); tifffile.imwrite(p := tmp_path / 'x.tiff', a); exp = a / 65535
    else: a = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8); Image.fromarray(a, 'RGBA').save(p := tmp_path / 'x.png'); exp = np.moveaxis(a[..., :3], -1, 0) / 255
    x = read_image(p)
    exp = exp if exp.ndim == 3 else exp[None]
    assert x.dtype == np.float32 and x.shape == exp.shape
    np.testing.assert_allclose(x, exp, atol=2 / 255 if kind == 'jpg' else 1e-6)
