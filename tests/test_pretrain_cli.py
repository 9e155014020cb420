"`dusss pretrain` as a user runs it: a tiny run writes its folder, resumes, and rejects bad config keys by name."
import json
from dusss_kit.test_utils import tiny_cli_args, TINY_VLM_SETS, dusss


def sets(*extra):
    "The tiny stage-1 settings (batches of 8) then `extra`, as --set arguments."
    return tiny_cli_args('train.batch_size=8', *extra, base=TINY_VLM_SETS)


def test_pretrain_run_folder_and_resume(tmp_path):
    out = tmp_path / 'run'
    r = dusss('pretrain', '--out', out, *sets('train.epochs=2'))
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'i2t@1' in r.stdout
    for f in ('config.yaml', 'env.json', 'metrics.jsonl', 'checkpoint_last.pt', 'checkpoint_best.pt'):
        assert (out / f).is_file(), f
    recs = [json.loads(l) for l in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [r_['epoch'] for r_ in recs] == [0, 1] and all('loss' in r_ and 'i2t@5' in r_ for r_ in recs)
    # running again into the same folder without --resume is refused; with --resume it continues
    r2 = dusss('pretrain', '--out', out, *sets('train.epochs=3'))
    assert r2.returncode == 1 and 'already holds checkpoints' in r2.stderr
    r3 = dusss('pretrain', '--out', out, '--resume', *sets('train.epochs=3'))
    assert r3.returncode == 0, r3.stderr[-2000:]
    assert [json.loads(l)['epoch'] for l in (out / 'metrics.jsonl').read_text().splitlines()] == [0, 1, 2]


def test_pretrain_rejects_bad_config(tmp_path):
    r = dusss('pretrain', '--out', tmp_path / 'x', '--set', 'train.learning_rate=1')
    assert r.returncode == 1 and 'train.learning_rate' in r.stderr and 'Traceback' not in r.stderr
    r = dusss('pretrain', '--out', tmp_path / 'x', '--set', 'data.image_size=100')
    assert r.returncode == 1 and 'data.image_size' in r.stderr and 'multiple of vlm.patch_size' in r.stderr
    (tmp_path / 'bad.yaml').write_text('train:\n  epochs: [1, 2]\n')
    r = dusss('pretrain', '--config', tmp_path / 'bad.yaml')
    assert r.returncode == 1 and 'bad.yaml' in r.stderr and 'train.epochs' in r.stderr


def test_pretrain_grounding_options_reach_the_text_mask(tmp_path):
    "vlm.local_path=unmixed and vlm.mil_weight: the MIL term is trained and logged, and the saved VLM's text mask reads the unmixed tokens."
    import torch
    import torch.nn.functional as F
    from dusss_kit.pretrain import load_vlm
    from dusss_kit.text_mask import TextMaskGenerator
    out = tmp_path / 'run'
    r = dusss('pretrain', '--out', out, *sets('train.epochs=1', 'vlm.local_path=unmixed', 'vlm.mil_weight=0.5', 'vlm.mil_kappa=0.2'))
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((out / 'metrics.jsonl').read_text().splitlines()[-1])
    assert rec['mil'] > 0
    vlm, cfg = load_vlm(out)
    assert (cfg.vlm.local_path, cfg.vlm.mil_weight, cfg.vlm.mil_kappa) == ('unmixed', 0.5, 0.2)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        want = F.normalize(vlm.img_global(vlm.image_encoder.local_tokens(x), normalize=False), dim=-1)
        P = TextMaskGenerator(vlm).patch_embeddings(x)                      # (2, E, 2, 2)
    assert torch.allclose(P.flatten(2).transpose(1, 2), want, atol=1e-5)
