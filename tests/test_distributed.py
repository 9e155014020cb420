"""Two CPU processes under torchrun (gloo): stage 2 with its nested stage-1 pretraining runs with
DistributedDataParallel, the ranks end with identical weights, and rank 0 writes a complete run folder."""
import json, os, shutil, subprocess, sys
import pytest
from pathlib import Path
import torch
from dusss_kit.engine import state_digest
from dusss_kit.test_utils import tiny_cli_args

DUSSS = shutil.which('dusss') or str(Path(sys.executable).parent / 'dusss')


def test_two_gloo_processes(tmp_path):
    out = tmp_path / 'run'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', DUSSS, 'train', '--out', str(out),
           *tiny_cli_args('train.epochs=2', 'train.lr=1e-3', 'semi.pretrain_epochs=2', 'train.device=cpu')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert r.stdout.count('done:') == 1                                    # only rank 0 reports
    for f in ('config.yaml', 'env.json', 'split.json', 'metrics.jsonl', 'checkpoint_last.pt', 'checkpoint_best.pt', 'snapshots.pt',
              'test_per_image.csv', 'results.json', 'vlm/checkpoint_last.pt', 'vlm/metrics.jsonl'):
        assert (out / f).is_file(), f
    res = json.loads((out / 'results.json').read_text())
    assert res['world_size'] == 2 and len(res['rank_digests']) == 2
    assert res['rank_digests'][0] == res['rank_digests'][1], "the two ranks ended with different weights"
    ck = torch.load(out / 'checkpoint_last.pt', weights_only=False)
    assert state_digest(ck['student'], ck['teacher']) == res['rank_digests'][0]   # the digests are those of the saved weights
    recs = [json.loads(l) for l in (out / 'metrics.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in recs] == [0, 1] and all(r['world_size'] == 2 for r in recs)
    # each rank took half of every epoch: 24 unlabelled images, batch 4, 2 ranks -> 3 steps per epoch
    assert [r['step'] for r in recs] == [3, 6]
    vlm = [json.loads(l) for l in (out / 'vlm' / 'metrics.jsonl').read_text().splitlines()]
    assert len(vlm) == 2 and all(r['world_size'] == 2 for r in vlm)


def test_ddp_wraps_the_trained_modules_and_ranks_agree(tmp_path):
    """What each stage hands DistributedDataParallel (tests/ddp_probe.py records it): stage 1 the VLM's loss, whose frozen momentum copies
    DDP does not reduce, without find_unused_parameters (DuSSS with SSS uses every trainable parameter); stage 2 the student alone, not the
    EMA teacher, nor the frozen VLM, nor the grounding decoder (averaged by hand). After the steps every rank holds the same weights, frozen
    and trained: the online VLM and its momentum copies, the student, the teacher, the decoder."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(Path(__file__).parent / 'ddp_probe.py'),
           str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    rec = json.loads((tmp_path / 'ddp.json').read_text())
    assert rec['n_ddp'] == 2                                               # one wrapper per stage, nothing else
    s1, s2 = rec['stage1'], rec['stage2']
    assert s1['wrapped'] == '_VLMLoss' and s1['find_unused_parameters'] is False and s1['momentum_trainable'] == []
    assert s2['wraps_student'] and s2['find_unused_parameters'] is False and not s2['teacher_wrapped'] and not s2['generator_wrapped']
    assert s2['steps'] > 0
    for stage, keys in ((s1, ('online', 'momentum', 'all')), (s2, ('student', 'teacher', 'decoder', 'vlm'))):
        for k in keys: assert len(stage[k]) == 2 and stage[k][0] == stage[k][1], f"the ranks' {k} weights differ"


@pytest.mark.parametrize('objective', ['dusss', 'amvlm'])
@pytest.mark.parametrize('sss', ['kit', 'code', 'off'])
def test_find_unused_parameters_only_where_needed(objective, sss):
    "Stage 1 asks DDP to look for unused parameters exactly when a trainable parameter gets no gradient from the loss (trains_dist_heads)."
    import warnings
    from dusss_kit.pretrain import trains_dist_heads
    from dusss_kit.test_utils import tiny_vlm, tiny_batch
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for mil in (0., 0.5):
            m = tiny_vlm(objective=objective, sss=sss, mil_weight=mil)
            m.loss(tiny_batch(paired=False))['loss'].backward()
            unused = {n for n, p in m.named_parameters() if p.requires_grad and p.grad is None}
            assert bool(unused) == (not trains_dist_heads(m.cfg)), sorted(unused)[:5]
            assert all(n.startswith(('img_dist.', 'txt_dist.')) for n in unused), sorted(unused)[:5]


def test_one_process_under_torchrun_joins_a_group(tmp_path):
    """`torchrun --nproc_per_node 1` (what `dusss gpu-check` launches) joins a process group in init_distributed, as several processes do, and
    the rest behaves with one rank: reduce_mean and reduce_sum give the values back, barrier returns, and a stage-2 run trains without
    DistributedDataParallel and records world_size 1. A plain process joins none (the engine notebook)."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1', str(Path(__file__).parent / 'ddp_probe.py'),
           str(tmp_path), 'one_rank']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    rec = json.loads((tmp_path / 'one_rank.json').read_text())
    assert rec['initialized'] and rec['world'] == 1 and rec['backend'] == 'gloo' and rec['device'] == 'cpu'
    assert rec['reduce_mean'] == {'a': 2.0, 'b': 1.0} and rec['reduce_sum'] == 3.0
    assert rec['train_world_size'] == 1 and rec['ddp'] == 0 and rec['still_initialized']
