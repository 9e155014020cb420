"`dusss train` and `dusss evaluate` as a user runs them: a tiny stage-2 run writes its folder, resumes, is evaluated; bad checkpoints are named."
import json, shutil
import pytest
from conftest import finished_run
from dusss_kit.test_utils import tiny_cli_args, dusss


def sets(*extra):
    "The tiny settings at train_cpu's learning rate, then `extra`, as --set arguments."
    return tiny_cli_args('train.lr=1e-3', *extra)


def epochs(run):
    return [json.loads(l)['epoch'] for l in (run / 'metrics.jsonl').read_text().splitlines()]


@pytest.mark.parametrize('args', [['train', '--help'], ['evaluate', '--help']])
def test_help(args):
    r = dusss(*args)
    assert r.returncode == 0 and 'usage: dusss' in r.stdout
    assert ('--resume' if args[0] == 'train' else '--checkpoint') in r.stdout


def test_top_level_help_lists_stage2():
    r = dusss('--help')
    assert r.returncode == 0 and 'train' in r.stdout and 'evaluate' in r.stdout


@pytest.fixture(scope='module')
def dusss_run(tmp_path_factory):
    "A tiny DuSSS run (with its nested stage-1 VLM), 2 epochs of 6 steps."
    out, r = finished_run(tmp_path_factory, 'train', *sets('train.epochs=2'))
    assert 'Dice' in r.stdout and 'HD95' in r.stdout
    return out


def test_train_run_folder(dusss_run):
    out = dusss_run
    for f in ('config.yaml', 'env.json', 'split.json', 'metrics.jsonl', 'checkpoint_last.pt', 'checkpoint_best.pt',
              'snapshots.pt', 'test_per_image.csv', 'results.json', 'vlm/checkpoint_best.pt'):
        assert (out / f).is_file(), f
    split = json.loads((out / 'split.json').read_text())
    assert (len(split['labeled']), len(split['unlabeled'])) == (8, 24)
    recs = [json.loads(l) for l in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in recs] == [0, 1]
    assert all({'loss', 'sup', 'merged', 'text', 'tg', 'lr', 'val_dice', 'val_dice_teacher', 'val_dice_text'} <= set(r) for r in recs)
    res = json.loads((out / 'results.json').read_text())
    assert res['method'] == 'dusss' and res['split'] == 'test' and res['n'] == 8
    assert len((out / 'test_per_image.csv').read_text().splitlines()) == 1 + 8


def test_train_refuses_then_resumes(dusss_run):
    out = dusss_run
    r = dusss('train', '--out', out, *sets('train.epochs=3'))
    assert r.returncode == 1 and 'already holds checkpoints' in r.stderr
    r = dusss('train', '--out', out, '--resume', *sets('train.epochs=3'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert epochs(out) == [0, 1, 2]
    assert 'stage 1' not in r.stdout          # the VLM is not pretrained again


def test_evaluate_prints_summary_and_writes_csv(dusss_run, tmp_path):
    csv = tmp_path / 'eval' / 'per_image.csv'
    r = dusss('evaluate', '--checkpoint', dusss_run, '--csv', csv, '-q')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Dice' in r.stdout and 'IoU' in r.stdout and 'HD95' in r.stdout and '±' in r.stdout
    lines = csv.read_text().splitlines()
    assert lines[0] == 'id,dice,iou,hd95,pred_px,true_px' and len(lines) == 1 + 8
    assert "× the masks' lesion pixels" in r.stdout
    # another dataset folder and split, and the teacher; default CSV beside the checkpoint
    r = dusss('evaluate', '--checkpoint', dusss_run / 'checkpoint_last.pt', '--data', dusss_run / 'synth', '--split', 'val',
              '--model', 'teacher', '-q')
    assert r.returncode == 0, r.stderr[-3000:]
    assert (dusss_run / 'evaluate_val_teacher.csv').is_file()


@pytest.mark.parametrize('method', ['mean_teacher', 'supervised', 'full'])
def test_baselines_run(method, tmp_path, request):
    if method == 'supervised':       # conftest's sup_run: the same tiny settings, 2 epochs, made once for this file and test_probe_run.py
        out, want = request.getfixturevalue('sup_run'), [0, 1]
    else:
        out, want = tmp_path / method, [0]
        r = dusss('train', '--out', out, *sets('train.epochs=1', f'semi.method={method}'))
        assert r.returncode == 0, r.stderr[-3000:]
    assert not (out / 'vlm').exists() and epochs(out) == want
    assert json.loads((out / 'results.json').read_text())['method'] == method


def test_bad_checkpoints_are_named(dusss_run, tmp_path):
    missing = tmp_path / 'no_such_run'
    r = dusss('evaluate', '--checkpoint', missing)
    assert r.returncode == 1 and str(missing) in r.stderr and 'Traceback' not in r.stderr
    junk = tmp_path / 'junk.pt'; junk.write_text('not a checkpoint')
    r = dusss('evaluate', '--checkpoint', junk)
    assert r.returncode == 1 and str(junk) in r.stderr and 'cannot read the checkpoint' in r.stderr and 'Traceback' not in r.stderr
    r = dusss('evaluate', '--checkpoint', dusss_run / 'vlm')          # a stage-1 run is not a segmenter
    assert r.returncode == 1 and 'not a stage-2 checkpoint' in r.stderr
    r = dusss('train', '--out', tmp_path / 'x', *sets('train.epochs=1', f'semi.vlm_checkpoint={missing}'))
    assert r.returncode == 1 and str(missing) in r.stderr and 'stage-1 checkpoint' in r.stderr and 'Traceback' not in r.stderr
    r = dusss('train', '--out', tmp_path / 'y', *sets('train.epochs=1', f'semi.vlm_checkpoint={dusss_run}'))   # a stage-2 run as the VLM
    assert r.returncode == 1 and 'not a stage-1 checkpoint' in r.stderr


def test_train_rejects_bad_config(tmp_path):
    r = dusss('train', '--out', tmp_path / 'x', '--set', 'semi.method=dusss_v2')
    assert r.returncode == 1 and 'semi.method' in r.stderr and 'Traceback' not in r.stderr
    r = dusss('train', '--out', tmp_path / 'x', *sets('data.label_ratio=1.0', 'semi.method=mean_teacher'))
    assert r.returncode == 1 and 'unlabelled' in r.stderr and 'Traceback' not in r.stderr


def test_text_oracle_runs_and_names_a_set_it_cannot_read(dusss_run, tmp_path):
    "semi.text_oracle=zone: the run trains on the zones the reports name (its snapshots show them) and says so; a folder without dataset.json is named."
    import torch
    from dusss_kit.synth import report_zones
    out = tmp_path / 'zone'
    r = dusss('train', '--out', out, *sets('train.epochs=1', 'semi.text_oracle=zone', f'semi.vlm_checkpoint={dusss_run / "vlm"}'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / 'results.json').read_text())['text_oracle'] == 'zone'
    snaps = torch.load(out / 'snapshots.pt', weights_only=False)
    zones = torch.from_numpy(report_zones(out / 'synth', snaps['ids'], size=32))
    assert torch.equal(snaps['epochs'][0]['text'][:, 0].float() > 0.5, zones)
    plain = tmp_path / 'plain'
    shutil.copytree(out / 'synth', plain); (plain / 'dataset.json').unlink()
    r = dusss('train', '--out', tmp_path / 'p', *sets('train.epochs=1', 'semi.text_oracle=zone', f'data.path={plain}',
                                                       f'semi.vlm_checkpoint={dusss_run / "vlm"}'))
    assert r.returncode == 1 and str(plain / 'dataset.json') in r.stderr and 'Traceback' not in r.stderr


def test_decoder_warmup_and_labelled_grounding(dusss_run, tmp_path):
    "semi.tg_labeled + semi.tg_warmup_steps (kit-only): the warm-up runs once, is recorded, and a resumed run keeps its record without repeating it."
    out = tmp_path / 'lab'
    extra = ('semi.tg_labeled=5', 'semi.tg_warmup_steps=8', 'train.progress=true', f'semi.vlm_checkpoint={dusss_run / "vlm"}')
    r = dusss('train', '--out', out, *sets('train.epochs=1', *extra))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('decoder warm-up:') == 1
    warm = json.loads((out / 'results.json').read_text())['tg_warmup']
    assert warm['steps'] == 8 and 0 <= warm['val_dice_text'] <= 1 and warm['loss'] > 0
    assert abs(warm['loss'] - (warm['tg'] + 5 * warm['tg_labeled'])) < 1e-4
    assert all('tg_labeled' in json.loads(l) for l in (out / 'metrics.jsonl').read_text().splitlines())
    r = dusss('train', '--out', out, '--resume', *sets('train.epochs=2', *extra))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'decoder warm-up:' not in r.stdout and epochs(out) == [0, 1]
    assert json.loads((out / 'results.json').read_text())['tg_warmup'] == warm
