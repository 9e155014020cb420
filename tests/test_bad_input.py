"""Each kind of bad input gives a clear error naming the file and what was expected, and
`check_data` / `dusss check-data` report all of them at once."""
import numpy as np, pandas as pd, pytest
from PIL import Image
from dusss_kit.data import (DataError, check_data, detect_layout, read_image, read_mask,
                            read_text_table, scan_dataset, SegDataset)

TR = 'Train_Folder'


def only_problem(root):
    "Scan non-strictly and return the single problem found (the test fails if there is not exactly one)."
    probs = scan_dataset(root, strict=False).problems
    assert len(probs) == 1, probs
    return probs[0]


def test_valid_fixture_has_no_problem(lvit):
    idx = scan_dataset(lvit)
    assert len(idx.split('train')) == 3 and len(idx.split('val')) == 2 and idx.problems == []


def test_missing_mask(lvit):
    (lvit / TR / 'labelcol' / 'mask_b.png').unlink()
    p = only_problem(lvit)
    assert 'img/b.png' in p and 'no mask' in p and 'mask_b.png' in p   # names the image and what was expected
    with pytest.raises(DataError, match='no mask'): scan_dataset(lvit)


def test_mask_without_image(lvit):
    (lvit / TR / 'img' / 'c.png').unlink()
    pd.DataFrame({'Image': ['a.png', 'b.png'], 'Description': ['x y', 'z w']}).to_excel(lvit / TR / 'Train_text.xlsx', index=False)
    p = only_problem(lvit)
    assert 'mask_c.png' in p and 'mask without an image' in p


def test_missing_report(lvit):
    pd.DataFrame({'Image': ['a.png', 'b.png'], 'Description': ['x y', 'z w']}).to_excel(lvit / TR / 'Train_text.xlsx', index=False)
    p = only_problem(lvit)
    assert 'c.png' in p and 'no report' in p and 'Train_text.xlsx' in p


def test_empty_report(lvit):
    pd.DataFrame({'Image': ['a.png', 'b.png', 'c.png'], 'Description': ['x y', '   ', 'z']}).to_excel(lvit / TR / 'Train_text.xlsx', index=False)
    p = only_problem(lvit)
    assert 'b.png' in p and 'empty report' in p


def test_missing_text_table(lvit):
    (lvit / TR / 'Train_text.xlsx').unlink()
    p = only_problem(lvit)
    assert 'Train_Folder' in p and 'no text table' in p and 'Image, Description' in p


def test_size_mismatch(lvit):
    Image.fromarray(np.zeros((16, 12), np.uint8)).save(lvit / TR / 'labelcol' / 'mask_a.png')
    p = only_problem(lvit)
    assert 'mask_a.png' in p and '12×16' in p and '16×16' in p and 'same size' in p
    # the dataset refuses it too, should a user skip the scan
    rec = scan_dataset(lvit, strict=False).split('train')[0]
    with pytest.raises(DataError, match='same size'): SegDataset([rec], size=8)[0]


def test_mask_with_more_than_two_levels(tmp_path):
    Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8)).save(tmp_path / 'm.png')
    with pytest.raises(DataError) as e: read_mask(tmp_path / 'm.png')
    msg = str(e.value)
    assert 'm.png' in msg and '4 distinct values' in msg and '0, 100, 200, 255' in msg and 'two levels' in msg


def test_truncated_image(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / 'full.png')
    (tmp_path / 'cut.png').write_bytes((tmp_path / 'full.png').read_bytes()[:200])
    with pytest.raises(DataError, match=r'cut\.png: cannot be decoded.*expected a complete PNG'): read_image(tmp_path / 'cut.png')


def test_truncated_tiff(tmp_path):
    import tifffile
    tifffile.imwrite(tmp_path / 'full.tif', np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (tmp_path / 'cut.tif').write_bytes((tmp_path / 'full.tif').read_bytes()[:500])
    with pytest.raises(DataError, match=r'cut\.tif'): read_image(tmp_path / 'cut.tif')


@pytest.mark.parametrize('content', [b'', b'not an image at all', b'\x89PNG\r\n\x1a\n' + b'\0' * 20])
def test_unreadable_image(tmp_path, content):
    (tmp_path / 'x.png').write_bytes(content)
    with pytest.raises(DataError, match=r'x\.png: .*(empty|cannot)'): read_image(tmp_path / 'x.png')


def test_text_table_with_wrong_columns(lvit):
    pd.DataFrame({'filename': ['a.png'], 'report': ['x']}).to_excel(lvit / TR / 'Train_text.xlsx', index=False)
    with pytest.raises(DataError) as e: read_text_table(lvit / TR / 'Train_text.xlsx')
    msg = str(e.value)
    assert 'Train_text.xlsx' in msg and 'Image, Description' in msg and 'found filename, report' in msg
    assert 'lacks column' in only_problem(lvit)


def test_empty_folder(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match=r'empty.*folder is empty; expected one of'): detect_layout(tmp_path / 'empty')


def test_unrecognised_layout(tmp_path):
    (tmp_path / 'photos').mkdir(); (tmp_path / 'notes.txt').write_text('hi')
    with pytest.raises(DataError) as e: scan_dataset(tmp_path)
    msg = str(e.value)
    assert 'unrecognised dataset layout' in msg and 'notes.txt, photos' in msg and 'Train,Val,Test' in msg


def test_check_data_reports_all_problems_at_once(lvit):
    (lvit / TR / 'labelcol' / 'mask_b.png').unlink()                                        # missing mask
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(lvit / TR / 'labelcol' / 'mask_zz.png')  # mask without image
    Image.fromarray(np.zeros((16, 12), np.uint8)).save(lvit / TR / 'labelcol' / 'mask_c.png')  # size mismatch
    Image.fromarray(np.array([[0, 1], [2, 3]] * 8, np.uint8).repeat(8, 1)).save(lvit / 'Val_Folder' / 'labelcol' / 'mask_v1.png')  # 4 levels
    (lvit / 'Val_Folder' / 'img' / 'v2.png').write_bytes((lvit / 'Val_Folder' / 'img' / 'v2.png').read_bytes()[:70])  # truncated
    pd.DataFrame({'Image': ['v1.png', 'v2.png'], 'Description': ['', 'fine']}).to_excel(lvit / 'Val_Folder' / 'Val_text.xlsx', index=False)  # empty report
    res = check_data(lvit, progress=False)
    joined = '\n'.join(res['problems'])
    for expected in ['b.png: no mask', 'mask_zz.png: mask without an image', 'mask_c.png: mask is 12×16',
                     'mask_v1.png: mask has 4 distinct values', 'v2.png: cannot be decoded', 'v1.png: empty report']:
        assert expected in joined, f'{expected!r} missing from:\n{joined}'
    assert len(res['problems']) == 6
