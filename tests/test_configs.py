"""The shipped configs: every one validates, each paper dataset has its 25 %, 50 %, 100 % and CPU variants with the
papers' values, every deliberate difference is commented, bad values are rejected by key, and configs round-trip."""
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
import pytest, yaml

from dusss_kit.config import Config, ConfigError, load_config, save_config, config_path, CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in CONFIG_DIR.glob('*.yaml'))
DATASETS = {'qata': 'QaTa-COV19', 'mosmed': 'MosMedData+', 'monuseg': 'MoNuSeg', 'bmseg': 'BM-Seg'}
VARIANTS = {'25': (0.25, 'dusss'), '50': (0.5, 'dusss'), '100': (1.0, 'full'), 'cpu': (0.25, 'dusss')}
PAPER = [f'{d}_{v}' for d in DATASETS for v in ('25', '50', '100')]
CPU = [f'{d}_cpu' for d in DATASETS]
# the papers' stage-2 batch sizes (QaTa 32, BM-Seg 16, MoNuSeg 4; MosMedData+: none, the code's 16) and the code's lrs
BATCH = {'qata': 32, 'mosmed': 16, 'monuseg': 4, 'bmseg': 16}
LR = {'qata': 3e-4, 'mosmed': 3e-4, 'monuseg': 1e-3, 'bmseg': 3e-4}


def test_there_are_shipped_configs():
    assert {'train_cpu', 'demo_cpu', 'pretrain_cpu', 'pretrain_paper'} <= set(SHIPPED)
    assert set(PAPER + CPU) <= set(SHIPPED), sorted(set(PAPER + CPU) - set(SHIPPED))


@pytest.mark.parametrize('name', SHIPPED)
def test_every_shipped_config_validates(name):
    c = load_config(config_path(name))
    assert isinstance(c, Config)


@pytest.mark.parametrize('ds', DATASETS)
@pytest.mark.parametrize('variant', VARIANTS)
def test_each_dataset_has_its_variants(ds, variant):
    ratio, method = VARIANTS[variant]
    c = load_config(config_path(f'{ds}_{variant}'))
    assert c.data.label_ratio == ratio and c.semi.method == method
    assert c.data.path is not None and Path(c.data.path).name == Path(c.data.path).name.strip()
    from dusss_kit.report import dataset_name
    assert dataset_name(c.data.path) == DATASETS[ds], "the placeholder folder must name the dataset as `dusss report` spells it"
    assert c.train.out == f'runs/{ds}_{variant}'


@pytest.mark.parametrize('name', PAPER)
def test_paper_size_configs(name):
    ds = name.split('_')[0]
    c = load_config(config_path(name))
    assert c.data.image_size == 224 and c.seg.size == 'paper' and c.seg.network == 'lvit_unet' and c.seg.loss == 'dice_bce'
    assert c.train.epochs == 100 and c.train.patience == 20 and c.train.seed == 666
    assert c.train.scheduler == 'cosine_restarts' and c.train.restart_epochs == 10 and c.train.min_lr == 1e-4
    assert c.train.batch_size == BATCH[ds] and c.train.lr == pytest.approx(LR[ds]) and c.train.optimizer == 'adam'
    assert c.train.max_steps is None
    if c.semi.method == 'dusss':
        assert c.vlm.image_encoder == 'paper' and c.vlm.momentum == 0.995 and c.vlm.sss == 'kit' and c.vlm.embed_dim == 128
        assert c.semi.pretrain_epochs == 100 and c.semi.vlm_checkpoint is None
        assert (c.semi.fusion, c.semi.text_source, c.semi.text_loss, c.semi.tg) == ('logits', 'own', True, True)
        assert c.semi.ema_max == 0.99 and c.semi.unsup_weight == 1.0 and c.semi.rampup_epochs == 0 and c.semi.teacher_view == 'same'
        assert c.semi.student_view == 'weak'


@pytest.mark.parametrize('name', CPU)
def test_cpu_configs_are_small(name):
    c = load_config(config_path(name))
    assert c.data.image_size == 96 and c.seg.size == 'cpu' and c.vlm.image_encoder == 'cpu'
    assert c.train.epochs <= 30 and c.semi.pretrain_epochs <= 20 and c.train.batch_size <= 8


def test_bmseg_has_a_text_table():
    for v in VARIANTS:
        c = load_config(config_path(f'bmseg_{v}'))
        assert c.data.text_table is not None and c.data.text_table.endswith(('.xlsx', '.csv'))


def _defaults(cls, prefix='') -> dict:
    out = {}
    inst = cls()
    for f in fields(cls):
        v = getattr(inst, f.name)
        if is_dataclass(v): out.update(_defaults(type(v), f'{f.name}.'))
        else: out[prefix + f.name] = v
    return out


@pytest.mark.parametrize('name', PAPER + CPU)
def test_every_value_that_differs_from_the_defaults_is_commented(name):
    "Each `key: value` line whose value differs from the dataclass default says where it comes from (a # comment)."
    defaults, section, missing = _defaults(Config), None, []
    for line in config_path(name).read_text().splitlines():
        if re.match(r'^[a-z_]+:\s*(#.*)?$', line): section = line.split(':')[0]; continue
        m = re.match(r'^  ([a-z_]+):\s*([^#]*?)\s*(#.*)?$', line)
        if not m: continue
        key, value, comment = f'{section}.{m.group(1)}', yaml.safe_load(m.group(2)), m.group(3)
        assert key in defaults, f'{name}: {key} is not a config key'
        d = defaults[key]
        same = value == d or (isinstance(d, float) and isinstance(value, (int, float)) and float(value) == d)
        if not same and not comment and key not in ('train.out', 'semi.method'): missing.append(key)
    assert not missing, f'{name}: values that differ from the defaults without a comment: {missing}'


@pytest.mark.parametrize('override, key', [
    ('data.label_ratio=0', 'data.label_ratio'),
    ('data.label_ratio=1.5', 'data.label_ratio'),
    ('data.label_ratio=-0.25', 'data.label_ratio'),
    ('data.image_size=200', 'data.image_size'),         # not a multiple of vlm.patch_size (16)
    ('data.image_size=0', 'data.image_size'),
    ('train.batch_size=1', 'train.batch_size'),
    ('train.epochs=0', 'train.epochs'),
    ('train.lr=0', 'train.lr'),
    ('train.patience=0', 'train.patience'),
    ('vlm.momentum=1.5', 'vlm.momentum'),
    ('semi.ema_max=1', 'semi.ema_max'),
    ('semi.method=semi', 'semi.method'),
    ('seg.size=huge', 'seg.size'),
    ('train.epochs=ten', 'train.epochs'),                # wrong type
    ('data.labels_ratio=0.5', 'data.labels_ratio'),      # unknown key
    ('trian.epochs=3', 'trian'),                        # unknown section
])
def test_bad_values_are_rejected_by_key(override, key):
    with pytest.raises(ConfigError) as ex: load_config(config_path('monuseg_25'), [override])
    assert key in str(ex.value), str(ex.value)


def test_image_size_must_be_a_multiple_of_the_patch_size():
    with pytest.raises(ConfigError, match='data.image_size'):
        load_config(config_path('qata_25'), ['vlm.patch_size=48'])    # 224 is not a multiple of 48
    assert load_config(config_path('qata_25'), ['vlm.patch_size=14']).vlm.patch_size == 14   # 224 = 16 x 14
    with pytest.raises(ConfigError, match='data.image_size'):
        load_config(config_path('qata_cpu'), ['vlm.patch_size=14'])   # 96 is not a multiple of 14


def test_unknown_key_in_a_file_is_rejected(tmp_path):
    f = tmp_path/'bad.yaml'
    f.write_text(config_path('bmseg_25').read_text().replace('  split_seed: 0', '  split_seed: 0\n  mask_kind: bone'))
    with pytest.raises(ConfigError, match='data.mask_kind'): load_config(f)


@pytest.mark.parametrize('name', SHIPPED)
def test_save_then_load_round_trips(name, tmp_path):
    c = load_config(config_path(name))
    f = save_config(c, tmp_path/'run'/'config.yaml')
    assert load_config(f) == c
    assert load_config(config_path(str(f))) == c


def test_overrides_apply():
    c = load_config(config_path('qata_50'), ['data.path=/data/QaTa-COV19', 'semi.method=mean_teacher', 'train.epochs=3'])
    assert (c.data.path, c.semi.method, c.train.epochs, c.data.label_ratio) == ('/data/QaTa-COV19', 'mean_teacher', 3, 0.5)


def test_readme_lists_every_shipped_config():
    text = (REPO/'dusss_kit'/'configs'/'README.md').read_text()
    rows = {m.group(1) for m in re.finditer(r'^\| `([a-z0-9_]+)` \|', text, re.M)}
    assert rows == set(SHIPPED), f'README table: missing {sorted(set(SHIPPED) - rows)}, extra {sorted(rows - set(SHIPPED))}'


def test_configs_are_package_data():
    assert "configs/*.yaml" in (REPO/'setup.py').read_text()
