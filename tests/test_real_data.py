"The MoNuSeg sample in ../shared/data (or $DUSSS_DATA), when present, reads completely and correctly."
import pytest
from dusss_kit.core import shared_data_dir
from dusss_kit.data import scan_dataset, read_image, read_mask, SegDataset

MONUSEG = shared_data_dir('MoNuSeg')
pytestmark = pytest.mark.skipif(MONUSEG is None, reason="MoNuSeg not found: set $DUSSS_DATA or put it in ../shared/data/MoNuSeg")


def test_monuseg_train_and_val():
    idx = scan_dataset(MONUSEG)
    assert idx.layout == 'lvit' and idx.problems == []
    assert (len(idx.split('train')), len(idx.split('val'))) == (24, 6)
    for r in idx.records:
        assert r.report.strip(), f'{r.image} has no report'
        img, m = read_image(r.image), read_mask(r.mask)
        assert img.shape == (3, 1000, 1000) and m.shape == (1, 1000, 1000), r.image
        assert set(m.flatten().tolist()) <= {0, 1} and 0 < m.mean() < 1, r.mask
        assert 0 <= img.min() and img.max() <= 1


def test_monuseg_samples_resized():
    idx = scan_dataset(MONUSEG)
    s = SegDataset(idx.split('val')[:2], size=224)[1]
    assert s['image'].shape == (3, 224, 224) and s['mask'].shape == (1, 224, 224)
    assert set(s['mask'].unique().tolist()) == {0.0, 1.0} and s['report']
