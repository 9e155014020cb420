"""Issue 25's probe of `dusss train` / `pretrain` / `demo` with `--set`: a device the machine lacks, a negative worker count, a
non-finite learning rate, a hub id while offline, an empty or non-mapping config file and an over-long report each give one line
naming the key or file and what was expected (exit 1, no traceback), or, for the report, one warning per encoder."""
import os, subprocess, warnings
from dataclasses import fields
from pathlib import Path
import pytest, torch, yaml

from dusss_kit.config import Config, ConfigError, load_config, save_config, model_source
from dusss_kit.cli import main
from dusss_kit.test_utils import DUSSS

NO_SUCH_HUB_ID = 'dusss-kit-tests/no-such-model'


def run_main(capsys, *argv):
    "Run `dusss ARGV` in this process: (exit code, stderr lines)."
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err.strip().splitlines()


def one_line(rc, err, *parts):
    assert rc == 1, err
    assert len(err) == 1 and 'Traceback' not in err[0], err
    for p in parts: assert p in err[0], (p, err[0])
    return err[0]


# 1. train.device: a name PyTorch knows, and a device this machine has

@pytest.mark.parametrize('dev', ['foo', 'gpu', 'cuda:-1', 'cuda:x', 'CPU'])
def test_unknown_device_is_refused_by_key(capsys, tmp_path, dev):
    rc, err = run_main(capsys, 'train', '--set', f'train.device={dev}', '--out', tmp_path / 'run')
    one_line(rc, err, 'dusss train: error:', f"train.device: {dev!r} is impossible", "'cpu', 'cuda', 'cuda:N' or 'mps'")
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('dev', [None, 'cpu', 'cuda', 'cuda:0', 'cuda:3', 'mps'])
def test_device_names_pass_validation(dev):
    c = load_config(overrides=[f'train.device={dev or "null"}'], machine=False)
    assert c.train.device == dev


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_cuda_on_a_machine_without_it(capsys, tmp_path):
    rc, err = run_main(capsys, 'pretrain', '--set', 'train.device=cuda', '--out', tmp_path / 'run')
    why = 'this PyTorch build has no CUDA' if torch.version.cuda is None else 'no GPU is visible'
    one_line(rc, err, 'dusss pretrain: error:', f'train.device=cuda but {why}', torch.__version__, 'use train.device=cpu or leave it unset')
    assert not (tmp_path / 'run').exists()


def test_cuda_messages_by_cause(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.version, 'cuda', None)
    with pytest.raises(ConfigError, match=r'train.device=cuda but this PyTorch build has no CUDA \(torch .*\); use train.device=cpu or leave it unset'):
        load_config(overrides=['train.device=cuda'])
    monkeypatch.setattr(torch.version, 'cuda', '12.4')
    with pytest.raises(ConfigError, match=r'train.device=cuda:1 but no GPU is visible'):
        load_config(overrides=['train.device=cuda:1'])
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert load_config(overrides=['train.device=cuda:1']).train.device == 'cuda:1'
    with pytest.raises(ConfigError, match=r'train.device=cuda:2 but 2 GPU\(s\) are visible \(cuda:0 to cuda:1\)'):
        load_config(overrides=['train.device=cuda:2'])
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    with pytest.raises(ConfigError, match=r'train.device=mps but this machine has no MPS backend'):
        load_config(overrides=['train.device=mps'])


def test_a_saved_gpu_run_config_still_loads_without_the_machine_check(tmp_path, monkeypatch):
    "A run trained on a GPU may be resumed on a CPU (train.device is resume-free): its saved config loads with machine=False."
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    p = save_config(load_config(overrides=['train.device=cuda'], machine=False), tmp_path / 'config.yaml')
    assert load_config(p, machine=False).train.device == 'cuda'
    with pytest.raises(ConfigError, match='config.yaml: train.device=cuda but'): load_config(p)


# 2. train.num_workers

def test_negative_num_workers_is_refused_by_key(capsys, tmp_path):
    rc, err = run_main(capsys, 'train', '--set', 'train.num_workers=-1', '--out', tmp_path / 'run')
    one_line(rc, err, 'train.num_workers: -1 is impossible; expected 0 (load in the main process) or a number of worker processes')
    assert load_config(overrides=['train.num_workers=0']).train.num_workers == 0


# 3. finite floats

@pytest.mark.parametrize('val,shown', [('inf', 'inf'), ('.inf', 'inf'), ('-inf', '-inf'), ('nan', 'nan'), ('.nan', 'nan')])
def test_non_finite_lr_is_refused(capsys, tmp_path, val, shown):
    rc, err = run_main(capsys, 'train', '--set', f'train.lr={val}', '--out', tmp_path / 'run')
    one_line(rc, err, f'train.lr: {shown} is impossible; expected a finite number (a positive learning rate)')


def test_negative_lr_is_refused(capsys, tmp_path):
    rc, err = run_main(capsys, 'pretrain', '--set', 'train.lr=-1', '--out', tmp_path / 'run')
    one_line(rc, err, 'train.lr: -1.0 is impossible; expected a positive learning rate')


def _float_keys():
    c = Config()
    return [f'{s.name}.{f.name}' for s in fields(c) for f in fields(getattr(c, s.name)) if 'float' in str(f.type)]


@pytest.mark.parametrize('key', _float_keys())
@pytest.mark.parametrize('val', ['inf', 'nan'])
def test_every_float_setting_must_be_finite(key, val):
    with pytest.raises(ConfigError, match=rf'^{key}: {val} is impossible; expected a finite number'):
        load_config(overrides=[f'{key}={val}'])


@pytest.mark.parametrize('setting,expected', [('train.grad_clip=-1', 'train.grad_clip: -1.0 is impossible; expected null or 0 (no clipping)'),
                                              ('train.weight_decay=-0.1', 'train.weight_decay: -0.1 is impossible'),
                                              ('vlm.patch_size=0', 'vlm.patch_size: 0 is impossible'),
                                              ('vlm.head_hidden=0', 'vlm.head_hidden: 0 is impossible')])
def test_other_impossible_numbers(setting, expected):
    with pytest.raises(ConfigError) as ei: load_config(overrides=[setting])
    assert str(ei.value).startswith(expected)


def test_grad_clip_off_and_on_still_load():
    assert load_config(overrides=['train.grad_clip=null']).train.grad_clip is None
    assert load_config(overrides=['train.grad_clip=0']).train.grad_clip == 0


# 4. hub ids: never the hub client's retries

def test_hub_id_offline_fails_at_once_naming_key_and_id():
    env = {**os.environ, 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run([DUSSS, 'pretrain', '--set', 'vlm.text_model=bert-base-uncased', '--set', f'train.out={Path(os.devnull)}'],
                       capture_output=True, text=True, env=env, timeout=300)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(err) == 1 and 'Retry' not in r.stderr, r.stderr
    for p in ("vlm.text_model: 'bert-base-uncased' is a hub id that is not in the local Hugging Face cache",
              'downloads are off (HF_HUB_OFFLINE=1)', 'the kit does not download by default',
              'give the folder of a saved model', 'unset HF_HUB_OFFLINE to let it download'):
        assert p in err[0], (p, err[0])


@pytest.mark.parametrize('key', ['vlm.text_model', 'vlm.image_pretrained'])
def test_hub_id_offline_in_process(monkeypatch, key):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(ConfigError, match=rf"^{key}: '{NO_SUCH_HUB_ID}' is a hub id .* downloads are off"):
        load_config(overrides=[f'{key}={NO_SUCH_HUB_ID}'])


def test_hub_id_unreachable_fails_after_one_try(monkeypatch, capsys):
    "Downloads allowed, the hub unreachable (a closed local port): one line, without the hub client's five retries."
    from huggingface_hub import constants
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False); monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    monkeypatch.setattr(constants, 'ENDPOINT', 'http://127.0.0.1:9')
    with pytest.raises(ConfigError, match=rf"^vlm.text_model: '{NO_SUCH_HUB_ID}' is a hub id .* http://127.0.0.1:9 cannot be reached") as ei:
        load_config(overrides=[f'vlm.text_model={NO_SUCH_HUB_ID}'])
    assert '\n' not in str(ei.value) and 'give the folder of a saved model' in str(ei.value)
    assert 'Retry' not in capsys.readouterr().err


def test_text_encoder_refuses_the_same_way(monkeypatch):
    from dusss_kit.encoders import TextEncoder, ImageEncoder
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(ConfigError, match=rf"^vlm.text_model: '{NO_SUCH_HUB_ID}' is a hub id"): TextEncoder(NO_SUCH_HUB_ID)
    with pytest.raises(ConfigError, match=rf"^vlm.image_pretrained: '{NO_SUCH_HUB_ID}' is a hub id"): ImageEncoder(pretrained=NO_SUCH_HUB_ID)


def test_a_cached_hub_id_loads_offline(monkeypatch, tmp_path):
    "A hub id already in the Hugging Face cache is read from it (local_files_only), offline or not."
    from huggingface_hub import constants
    snap = tmp_path / 'models--dusss-kit-tests--cached' / 'snapshots' / 'abc123'
    snap.mkdir(parents=True); (snap / 'config.json').write_text('{}')
    (tmp_path / 'models--dusss-kit-tests--cached' / 'refs').mkdir(); (tmp_path / 'models--dusss-kit-tests--cached' / 'refs' / 'main').write_text('abc123')
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    assert model_source('dusss-kit-tests/cached', 'vlm.text_model') == 'cache'
    assert load_config(overrides=['vlm.text_model=dusss-kit-tests/cached']).vlm.text_model == 'dusss-kit-tests/cached'


def test_model_paths_are_checked_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError, match=r'^vlm.text_model: /no/such/model: no such model folder'):
        load_config(overrides=['vlm.text_model=/no/such/model'])
    (tmp_path / 'half').mkdir()
    with pytest.raises(ConfigError, match=r'^vlm.image_pretrained: .*half is a folder without config.json'):
        load_config(overrides=[f'vlm.image_pretrained={tmp_path / "half"}'])
    (tmp_path / 'w.bin').write_bytes(b'x')
    with pytest.raises(ConfigError, match=r'^vlm.image_pretrained: .*w.bin is a file; expected the folder'):
        load_config(overrides=[f'vlm.image_pretrained={tmp_path / "w.bin"}'])


# 5. the config file itself

@pytest.mark.parametrize('text', ['', '\n\n', '# all defaults, please\n'])
def test_empty_config_file_is_refused(capsys, tmp_path, text):
    p = tmp_path / 'empty.yaml'; p.write_text(text)
    rc, err = run_main(capsys, 'train', '--config', p, '--out', tmp_path / 'run')
    one_line(rc, err, f'{p}: the file holds no settings', 'write {} in it to run on the built-in defaults')
    assert p.read_text() == text and not (tmp_path / 'run').exists()


def test_empty_mapping_means_the_defaults(tmp_path):
    p = tmp_path / 'defaults.yaml'; p.write_text('{}\n')
    assert load_config(p) == Config()


@pytest.mark.parametrize('text,kind', [('- train\n- vlm\n', 'list'), ('hello\n', 'scalar'), ('42\n', 'scalar')])
def test_non_mapping_config_file_is_refused(capsys, tmp_path, text, kind):
    p = tmp_path / 'cfg.yaml'; p.write_text(text)
    rc, err = run_main(capsys, 'pretrain', '--config', p, '--out', tmp_path / 'run')
    one_line(rc, err, f'{p}: expected a mapping of sections (data, vlm, train, seg, semi), got a YAML {kind}')


def test_invalid_yaml_is_one_line(capsys, tmp_path):
    p = tmp_path / 'cfg.yaml'; p.write_text('train:\n  lr: [1\n')
    rc, err = run_main(capsys, 'train', '--config', p, '--out', tmp_path / 'run')
    one_line(rc, err, f'{p}: not valid YAML at line')
    p.write_bytes(b'train:\n  lr: \xff\n')
    rc, err = run_main(capsys, 'train', '--config', p, '--out', tmp_path / 'run')
    one_line(rc, err, f'{p}: not UTF-8 text')


@pytest.mark.parametrize('setting,expected', [('train.lr=[1', "override 'train.lr=[1': the value is not valid YAML"),
                                              ('train.lr.x=1', "override 'train.lr.x=1': train.lr is a value, not a section")])
def test_bad_override_is_one_line(capsys, tmp_path, setting, expected):
    rc, err = run_main(capsys, 'train', '--set', setting, '--out', tmp_path / 'run')
    one_line(rc, err, expected)


def test_override_below_a_value_from_the_file(tmp_path):
    p = tmp_path / 'cfg.yaml'; p.write_text(yaml.safe_dump({'train': {'lr': 0.1}}))
    with pytest.raises(ConfigError, match=r"override 'train.lr.x=1': train.lr is a value, not a section"):
        load_config(p, ['train.lr.x=1'])


# 6. reports longer than vlm.max_tokens: one warning per encoder, not per batch

def test_cut_reports_warn_once_per_encoder():
    from dusss_kit.test_utils import tiny_vlm
    torch.manual_seed(0)
    m = tiny_vlm(max_tokens=20)
    long = ' '.join(['lung'] * 2000)                                   # one word piece each: 2002 tokens with [CLS] and [SEP]
    batch = {'image': torch.rand(4, 3, 32, 32), 'report': [long, 'left lung.', long, 'right lung.']}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        for _ in range(3): m.loss(batch)                                # online and momentum encoders, three batches
    cut = [str(x.message) for x in w if 'vlm.max_tokens' in str(x.message)]
    assert len(cut) == 1, cut
    assert '2 of 4 reports in a batch have more than vlm.max_tokens=20 tokens (the longest 2002)' in cut[0] and '\n' not in cut[0]
    assert m.text_encoder.check_lengths(batch['report']) == (2, 2002)


def test_short_reports_do_not_warn():
    from dusss_kit.encoders import TextEncoder
    t = TextEncoder(size='tiny', max_tokens=20)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        t.tokenize(['left lung.', 'no finding in the right upper zone of the chest.'])
    assert not [x for x in w if 'vlm.max_tokens' in str(x.message)]


def test_hub_id_the_hub_does_not_know(monkeypatch):
    "Online, a name the hub answers 404 for is refused at load, not after transformers' several-line message."
    import http.server, threading
    from huggingface_hub import constants

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self): self.send_response(404); self.end_headers()
        def log_message(self, *a): pass

    srv = http.server.HTTPServer(('127.0.0.1', 0), NotFound)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv('HF_HUB_OFFLINE', raising=False); monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
        monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
        monkeypatch.setattr(constants, 'ENDPOINT', f'http://127.0.0.1:{srv.server_port}')
        with pytest.raises(ConfigError, match=rf"^vlm.text_model: '{NO_SUCH_HUB_ID}' is neither a local folder nor a model on http://127.0.0.1"):
            load_config(overrides=[f'vlm.text_model={NO_SUCH_HUB_ID}'])
    finally: srv.shutdown(); srv.server_close()
