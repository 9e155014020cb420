"""Reproducibility and crash safety of stage 2, as a user meets them:
two runs with the same seed give identical metrics, and a training process killed with SIGKILL in the
middle of an epoch, then resumed with --resume, ends with the same weights and metrics as a run that was
never interrupted (deterministic mode, CPU)."""
import json, os, signal, subprocess, time
import pytest, torch
from dusss_kit.test_utils import DUSSS

SETS = ['data.synth_n=64', 'data.image_size=64', 'seg.size=tiny', 'train.batch_size=4', 'train.epochs=3', 'train.lr=1e-3',
        'train.progress=false', 'train.deterministic=true', 'semi.method=mean_teacher', 'train.restart_epochs=2']
TIMING = ('time_s', 'images_per_s')


def cmd(out, *extra):
    return [DUSSS, 'train', '--out', str(out), *[a for kv in SETS for a in ('--set', kv)], *extra]


def env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONHASHSEED': '0'}


def metrics(run):
    "Per-epoch records without the wall-clock fields."
    return [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in (run / 'metrics.jsonl').read_text().splitlines()]


def weights(run):
    ck = torch.load(run / 'checkpoint_last.pt', weights_only=False)
    return {f'{net}.{k}': v for net in ('student', 'teacher') for k, v in ck[net].items()}


def finish(out, *extra):
    r = subprocess.run(cmd(out, *extra), capture_output=True, text=True, timeout=600, env=env())
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "An uninterrupted run."
    return finish(tmp_path_factory.mktemp('ref') / 'run')


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


def test_same_seed_same_run(reference, tmp_path):
    again = finish(tmp_path / 'again')
    assert metrics(again) == metrics(reference)
    assert json.loads((again / 'results.json').read_text()) == json.loads((reference / 'results.json').read_text())
    same_weights(again, reference)


def test_sigkill_mid_epoch_then_resume(reference, tmp_path):
    out = tmp_path / 'killed'
    p = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    f, t0 = out / 'metrics.jsonl', time.time()
    # wait until the first epoch is written: the process is then inside the second epoch
    while not (f.is_file() and f.read_text().count('\n') >= 1):
        assert p.poll() is None, f"training ended before the first epoch was written: {p.stderr.read()[-2000:]}"
        assert time.time() - t0 < 300, "no epoch written within 300 s"
        time.sleep(0.02)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL); p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    done = f.read_text().count('\n')
    assert done < 3, "the run finished before it could be killed; make the epochs longer"
    ck = torch.load(out / 'checkpoint_last.pt', weights_only=False)     # the last finished epoch's checkpoint survived intact
    assert ck['epoch'] == done - 1
    finish(out, '--resume')
    assert [r['epoch'] for r in metrics(out)] == [0, 1, 2]
    assert metrics(out) == metrics(reference)
    same_weights(out, reference)
    assert json.loads((out / 'results.json').read_text()) == json.loads((reference / 'results.json').read_text())
