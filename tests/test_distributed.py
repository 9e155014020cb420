"""Two CPU processes under torchrun (gloo): stage 2 with its nested stage-1 pretraining runs with
DistributedDataParallel, the ranks end with identical weights, and rank 0 writes a complete run folder."""
import json, os, shutil, subprocess, sys
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
