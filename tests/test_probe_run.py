"""The run folder under faults, as a careless user meets them on the command line (issue 25's probe): two runs on one
folder, a kill between a checkpoint and its metrics line, a torn metrics line, damaged checkpoints and snapshots,
devices this machine lacks, a checkpoint that does not fit its config, bad flags. Each gives one clear line (no
traceback) naming the file, key or value, and loses nothing already written."""
import json, os, shutil, signal, subprocess, time
import pytest, torch
from conftest import finished_run
from dusss_kit.test_utils import tiny_cli_args, dusss, DUSSS


def sets(*extra):
    "The tiny settings at train_cpu's learning rate, then `extra`, as --set arguments."
    return tiny_cli_args('train.lr=1e-3', *extra)


def one_line_error(r, *parts):
    "The command failed with exit 1 and one error line naming every part, and no traceback."
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    errs = [l for l in r.stderr.splitlines() if ': error: ' in l]
    assert len(errs) == 1, r.stderr[-3000:]
    for p in parts: assert p in errs[0], (p, errs[0])
    return errs[0]


def epochs(run):
    return [json.loads(l)['epoch'] for l in (run / 'metrics.jsonl').read_text().splitlines() if l.strip()]


@pytest.fixture(scope='module')
def vlm_run(tmp_path_factory):
    "A finished tiny stage-1 run of 1 epoch, made once: used read-only, or copied by a test that damages it."
    return finished_run(tmp_path_factory, 'pretrain', *sets('train.epochs=1'))[0]


@pytest.fixture
def run(sup_run, tmp_path):
    "A copy of conftest's sup_run (a finished tiny supervised run of 2 epochs) for a test that damages it."
    dst = tmp_path / 'run'; shutil.copytree(sup_run, dst); return dst


def test_two_runs_on_one_folder(tmp_path):
    out = tmp_path / 'run'
    first = subprocess.Popen([DUSSS, 'train', '--out', str(out), *sets('semi.method=supervised', 'train.epochs=40')],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (out / 'config.yaml').is_file():                       # the first run owns the folder once it wrote this
            assert first.poll() is None and time.time() - t0 < 120, first.stderr.read() if first.poll() is not None else 'timeout'
            time.sleep(0.2)
        second = dusss('train', '--out', out, '--resume', *sets('semi.method=supervised', 'train.epochs=40', 'train.lr=3e-3'))
        one_line_error(second, str(out), 'is in use by another run', f'pid {first.pid}')
        assert 'lr: 0.003' not in (out / 'config.yaml').read_text()     # the second run wrote nothing
    finally:
        first.send_signal(signal.SIGKILL); first.wait(30)
    e = epochs(out) if (out / 'metrics.jsonl').is_file() else []
    assert e == sorted(set(e)), e                                         # no interleaved epochs
    n = max(e, default=-1) + 3                                            # at least one epoch past what the killed run finished (on an idle
    r = dusss('train', '--out', out, '--resume', *sets('semi.method=supervised', f'train.epochs={n}'))   # machine it may have finished 3 or more)
    assert r.returncode == 0, r.stderr[-3000:]                           # the kill freed the folder
    assert epochs(out) == list(range(n))


def test_kill_between_checkpoint_and_metrics_line(run):
    "A kill after epoch 2's checkpoint, before its metrics line: resuming restores the line from the checkpoint."
    lines = (run / 'metrics.jsonl').read_text().splitlines()
    (run / 'metrics.jsonl').write_text(lines[0] + '\n')
    r = dusss('train', '--out', run, '--resume', *sets('semi.method=supervised', 'train.epochs=3'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'epoch 2, missing, is restored from the checkpoint' in r.stderr
    assert epochs(run) == [0, 1, 2]
    assert json.loads((run / 'metrics.jsonl').read_text().splitlines()[1]) == json.loads(lines[1])


def test_torn_metrics_line(run):
    "A kill in the middle of the last line: reading it warns and leaves it out; resuming repairs the file."
    text = (run / 'metrics.jsonl').read_text()
    (run / 'metrics.jsonl').write_text(text[:-40])
    from dusss_kit.engine import read_metrics
    with pytest.warns(UserWarning, match='its last line .* is cut short'):
        assert [r['epoch'] for r in read_metrics(run)] == [0]
    r = dusss('train', '--out', run, '--resume', *sets('semi.method=supervised', 'train.epochs=3'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'torn last line is dropped' in r.stderr and 'epoch 2, missing, is restored' in r.stderr
    assert epochs(run) == [0, 1, 2]


def test_damaged_line_before_the_end_is_named(run):
    lines = (run / 'metrics.jsonl').read_text().splitlines()
    (run / 'metrics.jsonl').write_text(lines[0][:30] + '\n' + lines[1] + '\n')
    r = dusss('train', '--out', run, '--resume', *sets('semi.method=supervised', 'train.epochs=3'))
    one_line_error(r, str(run / 'metrics.jsonl'), 'line 1 is not a JSON record')


@pytest.mark.parametrize('damage', ['empty', 'random', 'truncated'])
def test_damaged_stage2_checkpoint(run, damage):
    last, best = run / 'checkpoint_last.pt', run / 'checkpoint_best.pt'
    data = last.read_bytes()
    last.write_bytes({'empty': b'', 'random': os.urandom(4096), 'truncated': data[:len(data) // 2]}[damage])
    before = best.read_bytes()
    r = dusss('train', '--out', run, '--resume', *sets('semi.method=supervised', 'train.epochs=3'))
    line = one_line_error(r, str(last), 'checkpoint_best.pt beside it (epoch', 'is intact', f'cp {best} {last}')
    assert ('empty (0 bytes)' in line) == (damage == 'empty')
    assert best.read_bytes() == before and epochs(run) == [0, 1]         # nothing already written is lost
    shutil.copy(best, last)                                               # the way on the message gives works
    r = dusss('train', '--out', run, '--resume', *sets('semi.method=supervised', 'train.epochs=3'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert epochs(run)[-1] == 2 and epochs(run) == sorted(set(epochs(run)))


def test_damaged_stage1_checkpoint(vlm_run, tmp_path):
    out = tmp_path / 'vlm'; shutil.copytree(vlm_run, out)
    (out / 'checkpoint_last.pt').write_bytes(os.urandom(2048))
    r = dusss('pretrain', '--out', out, '--resume', *sets('train.epochs=2'))
    one_line_error(r, str(out / 'checkpoint_last.pt'), 'cannot read the stage-1 checkpoint', 'checkpoint_best.pt beside it (epoch 1) is intact')


def test_truncated_snapshots_are_set_aside(run):
    snap = run / 'snapshots.pt'
    snap.write_bytes(snap.read_bytes()[:100])
    r = dusss('train', '--out', run, '--resume', *sets('semi.method=supervised', 'train.epochs=3'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'snapshots.pt: cannot be read' in r.stderr and 'moved to snapshots.pt.damaged' in r.stderr
    assert (run / 'snapshots.pt.damaged').stat().st_size == 100
    assert list(torch.load(snap, weights_only=False)['epochs']) == [2]    # a new record from the resumed epoch on


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message of a machine without CUDA')
@pytest.mark.parametrize('dev', ['cuda', 'foo'])
def test_devices_this_machine_lacks(tmp_path, dev):
    r = dusss('train', '--out', tmp_path / 'r', *sets('semi.method=supervised', f'train.device={dev}'))
    one_line_error(r, 'train.device', dev)
    assert not (tmp_path / 'r' / 'checkpoint_last.pt').exists()
    r = dusss('evaluate', '--checkpoint', tmp_path, '--device', dev)
    one_line_error(r, '--device', dev)


def test_evaluate_a_checkpoint_that_does_not_fit_its_config(sup_run, tmp_path):
    ck = torch.load(sup_run / 'checkpoint_best.pt', weights_only=False)
    from dataclasses import replace
    ck['config'] = replace(ck['config'], seg=replace(ck['config'].seg, size='cpu'))
    torch.save(ck, tmp_path / 'other.pt')
    r = dusss('evaluate', '--checkpoint', tmp_path / 'other.pt')
    one_line_error(r, str(tmp_path / 'other.pt'), 'do not fit the U-Net its config describes', 'seg.size=cpu', 'size mismatch')


@pytest.mark.parametrize('args,flag', [(['synth', 'OUT', '--size', '0'], '--size'), (['synth', 'OUT', '--n-train', '-3'], '--n-train'),
                                       (['split', 'DATA', '--ratio', '1.5'], '--ratio'), (['split', 'DATA', '--ratio', 'half'], '--ratio'),
                                       (['evaluate', '--checkpoint', 'X', '--batch-size', '0'], '--batch-size')])
def test_bad_flags_name_the_flag(tmp_path, args, flag):
    r = dusss(*[str(tmp_path / a) if a in ('OUT', 'DATA', 'X') else a for a in args])
    assert r.returncode == 2 and f'argument {flag}: expected' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path / 'OUT').exists()


def test_debug_shows_the_traceback(tmp_path):
    r = dusss('evaluate', '--checkpoint', tmp_path / 'nothing.pt')
    one_line_error(r, 'nothing.pt')
    r = dusss('--debug', 'evaluate', '--checkpoint', tmp_path / 'nothing.pt')
    assert r.returncode != 0 and 'Traceback' in r.stderr


def test_vlm_of_another_size_warns(vlm_run, tmp_path):
    r = dusss('train', '--out', tmp_path / 'r', *sets('train.epochs=1', 'data.image_size=48', f'semi.vlm_checkpoint={vlm_run}'))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'was trained at data.image_size=32 px and is used at 48 px' in r.stderr


def test_demo_lists_only_what_it_wrote(tmp_path):
    out = tmp_path / 'demo'
    r = dusss('demo', '--out', out, '--methods', 'supervised', *sets('train.epochs=1', 'train.restart_epochs=1'))
    assert r.returncode == 0, r.stderr[-3000:]
    line = [l for l in r.stdout.splitlines() if l.startswith('run folder')][0]
    assert 'supervised/' in line and 'results.md' in line
    assert 'refinement.png' not in line and 'vlm/' not in line and not (out / 'vlm').exists()
