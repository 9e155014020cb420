"""`dusss gpu-check --dry`: the GPU check's whole sequence at tiny size on the CPU, as CI runs it (a MoNuSeg-layout synthetic set
stands in for `--monuseg`), and a planted failure: a FAILED line naming its log, the other checks still run, exit status 1."""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
from dusss_kit.gpu_check import CHECKS, FAIL_ENV

DUSSS = shutil.which('dusss') or str(Path(sys.executable).parent / 'dusss')


def run(*args, env=None):
    t0 = time.time()
    r = subprocess.run([DUSSS, 'gpu-check', '--dry', *map(str, args)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})})
    return r, time.time() - t0


def lines(stdout):
    "The per-check lines: status, check name, the rest."
    return {l.split()[1]: l for l in stdout.splitlines() if l.split()[:1] in (['ok'], ['FAILED'], ['skipped']) and len(l.split()) > 1}


def test_dry_sequence(tmp_path):
    mon = tmp_path / 'MoNuSeg'
    subprocess.run([DUSSS, 'synth', str(mon), '--size', '32', '--n-train', '16', '--n-val', '4', '--n-test', '4', '-q'], check=True, capture_output=True)
    out = tmp_path / 'gc'
    r, secs = run('--out', out, '--monuseg', mon)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    got = lines(r.stdout)
    assert list(got) == list(CHECKS), r.stdout
    assert all(l.startswith('ok ') for l in got.values()), r.stdout
    assert '| check | status | seconds | peak memory | figures |' in r.stdout and f"{len(CHECKS)} of {len(CHECKS)} checks ok, 0 failed" in r.stdout
    j = json.loads((out / 'gpu_check.json').read_text())
    assert j['ok'] and j['dry'] and list(j['checks']) == list(CHECKS)
    for name, c in j['checks'].items():
        assert c['status'] == 'ok' and c['seconds'] > 0 and c['peak_mb'] > 0 and c['figures'], (name, c)
    f = {k: c['figures'] for k, c in j['checks'].items()}
    assert f['env']['device'] == 'cpu' and len(f['bench']['rows']) == 6 and all(r['per_s'] > 0 for r in f['bench']['rows'])
    assert f['stage1']['steps'] == 2 and f['stage2']['steps'] == 2 and 0 <= f['stage2']['test_dice'] <= 1
    assert f['torchrun']['backend'] == 'gloo' and f['torchrun']['all_reduce_cpu'] == 3
    assert f['resume']['epochs'] == [0, 1] and f['resume']['max_abs_diff'] <= f['resume']['tolerance']
    assert f['monuseg']['split'] == 'test' and f['monuseg']['n_test'] == 4
    print(f"dry sequence: {secs:.0f} s")


def test_planted_failure(tmp_path):
    "The first of two checks fails (env, the cheapest; the bench check a third would add costs seconds and proves nothing more): the next still runs."
    out = tmp_path / 'gc'
    r, _ = run('--out', out, '--only', 'env,data', env={FAIL_ENV: 'env'})
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    got = lines(r.stdout)
    assert list(got) == ['env', 'data'] and got['data'].startswith('ok '), r.stdout
    log = out / 'logs' / 'env.log'
    assert got['env'].startswith('FAILED ') and 'planted failure' in got['env'] and f"traceback: {log}" in got['env']
    assert 'Traceback' in log.read_text()
    j = json.loads((out / 'gpu_check.json').read_text())
    assert not j['ok'] and [c['status'] for c in j['checks'].values()] == ['FAILED', 'ok']
    assert '1 of 2 checks ok, 1 failed' in r.stdout
