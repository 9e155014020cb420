"""Two training steps of each stage at the papers' sizes on a CPU, at small batches, and from them a rough estimate of the memory
at the papers' batch sizes. Not a test and not run by CI (minutes of CPU); its figures go into the performance notebook
(nbs/17_bench.ipynb, "Paper-size configs on a CPU").

Stage 1: `pretrain_paper` (ViT-B/16, a BERT-base text encoder cut to 6 layers, 128-d heads, momentum copies). Stage 2: one DuSSS
config (default `qata_25`: base-64 U-Net, EMA teacher, the frozen VLM's text masks, the grounding decoder, text_view aligned).
The hub weights are replaced by `dusss gpu-check`'s stand-ins (`gpu_check.paper_models`: a random ViT-B/16 and a random
BERT-base-shaped folder), so nothing is downloaded. Each (stage, batch) runs in its own process, on batches from the kit's own
loaders over a small synthetic 224 px set, so its peak resident set (VmHWM) is its own. The parent stops a run when the machine's
available memory falls below --min-free-gb.

    OMP_NUM_THREADS=2 nice -n 10 python tools/paper_size_cpu.py [--stage1-batches 2 4] [--stage2-batches 2 4] [--config qata_25]

Memory = fixed + per-sample × batch is fitted (least squares) over the batches that ran and evaluated at the papers' batches (stage 1:
32 pairs; stage 2: 16 labelled + 16 unlabelled). A CPU resident set is only a rough stand-in for GPU memory: it includes the
Python and library pages (about 0.5-1 GB) and has no CUDA context, allocator caching or cuDNN workspaces; under bf16 autocast
the activations (the per-sample part) roughly halve while weights, gradients and Adam's moments stay fp32."""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

PAPER_BATCH = {'stage1': 32, 'stage2': 16}


def _rss_mb() -> float:
    "This process's resident set now (VmRSS) in MB; its peak is engine.peak_mb('cpu')."
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')


def _available_gb() -> float:
    for line in open('/proc/meminfo'):
        if line.startswith('MemAvailable:'): return int(line.split()[1]) / 2**20
    return float('inf')


def _params(module, trainable=None) -> int:
    return sum(p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable)


def child(stage:str, batch:int, out:Path, config:str, steps:int) -> dict:
    "Build the stage from its config with the stand-ins, take `steps` steps on the kit's own batches; seconds per step and memory."
    import torch
    from dusss_kit import gpu_check
    from dusss_kit.config import load_config, config_path
    from dusss_kit.core import seed_everything
    from dusss_kit.engine import autocast, peak_mb
    from dusss_kit.vlm import VLM
    t0 = time.time()
    p = gpu_check.make_plan(out)
    sets = [*gpu_check.paper_models(p), f"data.path={out/'synth'}", f"train.batch_size={batch}", 'train.device=cpu', 'train.progress=false']
    name = 'pretrain_paper' if stage == 'stage1' else config
    run = out/'runs'/f'{stage}_b{batch}'; run.mkdir(parents=True, exist_ok=True)
    cfg = load_config(config_path(name), [*sets, f"train.out={run}"])
    seed_everything(cfg.train.seed)
    dev = torch.device('cpu')
    model = VLM(cfg.vlm, image_size=cfg.data.image_size)
    times = []
    if stage == 'stage1':
        from dusss_kit.pretrain import pretrain_loaders, param_groups
        loader, _ = pretrain_loaders(cfg, run)
        groups = param_groups(model, cfg.train); params = [q for g in groups for q in g['params']]
        opt = torch.optim.Adam(groups, lr=cfg.train.lr)
        sizes = {'params_total': _params(model), 'params_trained': _params(model, True), 'params_momentum': _params(model.momentum)}
        it = iter(loader); rss_built = _rss_mb()
        for _ in range(steps):
            b = next(it); s = time.time()
            b = {'image': b['image'].to(dev), 'image_aug': b['image_aug'].to(dev), 'report': list(b['report'])}
            with autocast(cfg.train.amp, dev): o = model.loss(b)
            opt.zero_grad(set_to_none=True); o['loss'].backward()
            if cfg.train.grad_clip: torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            opt.step(); model.update_momentum(); times.append(time.time() - s)
        loss = float(o['loss'])
    else:
        from dusss_kit.data import stage2_data
        from dusss_kit.pretrain import dataset_root
        from dusss_kit.train import Stage2
        data = stage2_data(cfg, dataset_root(cfg, run), run)
        st = Stage2(cfg, model, dev, root=data.root)
        sizes = {'params_vlm_frozen': _params(model), 'params_student': _params(st.student), 'params_teacher': _params(st.teacher),
                 'params_decoder_trained': sum(q.numel() for q in st.generator.trainable_parameters())}
        data.loader.set_epoch(0); it = iter(data.loader); rss_built = _rss_mb()
        for _ in range(steps):
            b = next(it); s = time.time()
            r = st.train_step(b, 0.)
            times.append(time.time() - s)
        assert r is not None, "the stage-2 step was skipped (non-finite loss)"
        loss = r['loss']
    return {'stage': stage, 'config': name, 'batch': batch, 'images_per_step': batch * (2 if stage == 'stage2' else 1),
            'step_s': times, 's_per_step': times[-1], 'loss': loss, 'rss_built_mb': rss_built, 'peak_rss_mb': peak_mb('cpu'),
            'threads': torch.get_num_threads(), 'total_s': time.time() - t0, **sizes}


def run_child(args, stage:str, batch:int) -> dict:
    "One (stage, batch) in its own process; killed (and reported) when the machine's available memory falls below the floor."
    cmd = [sys.executable, __file__, '--child', stage, '--batch', str(batch), '--out', str(args.out), '--config', args.config, '--steps', str(args.steps)]
    proc, low = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), None
    while proc.poll() is None:
        time.sleep(2)
        if (a := _available_gb()) < args.min_free_gb: low = a; proc.kill(); break
    out, err = proc.communicate()
    if low is not None: return {'stage': stage, 'batch': batch, 'error': f"stopped: available memory {low:.1f} GiB < {args.min_free_gb} GiB"}
    line = [l for l in out.splitlines() if l.startswith('RESULT ')]
    if proc.returncode or not line: return {'stage': stage, 'batch': batch, 'error': f"exit {proc.returncode}: {err.strip()[-1500:]}"}
    return json.loads(line[-1][7:])


def fit(rows:list) -> dict|None:
    "Peak RSS = fixed + per-sample × batch, least squares over the batches that ran (at least two)."
    ok = sorted((r for r in rows if 'error' not in r), key=lambda r: r['batch'])
    if len({r['batch'] for r in ok}) < 2: return None
    x, y = [r['batch'] for r in ok], [r['peak_rss_mb'] for r in ok]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    per = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    return {'fixed_mb': my - per * mx, 'per_sample_mb': per, 'from_batches': x}


def static_mb(row:dict) -> float:
    "fp32 weights, gradients and Adam's two moments of what trains, plus the weights of what does not (momentum copies, frozen VLM, teacher)."
    if row['stage'] == 'stage1': return 4 * (4 * row['params_trained'] + (row['params_total'] - row['params_trained'])) / 2**20
    return 4 * (4 * (row['params_student'] + row['params_decoder_trained']) + row['params_vlm_frozen'] + row['params_teacher']) / 2**20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--stage1-batches', type=int, nargs='*', default=[2, 4])
    ap.add_argument('--stage2-batches', type=int, nargs='*', default=[2, 4], help='B: B labelled + B unlabelled images per step')
    ap.add_argument('--also', type=Path, help="an earlier run's paper_size_cpu.json whose rows join this run's (fit and table)")
    ap.add_argument('--config', default='qata_25', help='the stage-2 DuSSS config')
    ap.add_argument('--steps', type=int, default=2)
    ap.add_argument('--out', type=Path, default=Path('/tmp/paper_size_cpu'))
    ap.add_argument('--min-free-gb', type=float, default=4.)
    ap.add_argument('--child', choices=['stage1', 'stage2']); ap.add_argument('--batch', type=int)
    args = ap.parse_args(argv)
    if args.child:
        print('RESULT ' + json.dumps(child(args.child, args.batch, args.out, args.config, args.steps)), flush=True); return
    from dusss_kit.synth import write_synth_dataset
    args.out = args.out.resolve()
    n = max(4 * max(args.stage2_batches, default=1), args.steps * max(args.stage1_batches, default=1))   # stage 2: B labelled at label_ratio 0.25; stage 1: steps × B pairs
    write_synth_dataset(args.out/'synth', n_train=n, n_val=4, n_test=4, size=224, seed=0, overwrite=True, progress=False)
    earlier = json.loads(args.also.read_text())['rows'] if args.also else []
    res = {'date': time.strftime('%Y-%m-%d %H:%M'), 'command': ' '.join(['python', 'tools/paper_size_cpu.py', *(argv or sys.argv[1:])]),
           'load_before': os.getloadavg(), 'rows': [], 'fits': {}, 'estimates': []}
    for stage, batches in (('stage1', args.stage1_batches), ('stage2', args.stage2_batches)):
        for b in batches:
            r = run_child(args, stage, b); res['rows'].append(r)
            print(json.dumps({k: v for k, v in r.items() if not k.startswith('params')}), flush=True)
        new = {r['batch'] for r in res['rows'] if r['stage'] == stage}
        res['rows'] += sorted((r for r in earlier if r['stage'] == stage and r['batch'] not in new), key=lambda r: r['batch'])
        rows = [r for r in res['rows'] if r['stage'] == stage]
        f = fit(rows)
        if f is None: continue
        res['fits'][stage] = f
        ref = next(r for r in rows if 'error' not in r)
        for B in sorted({PAPER_BATCH[stage], *((32,) if stage == 'stage2' else ())}):   # stage 2 also at 32+32, qata_25's own batch
            total = f['fixed_mb'] + f['per_sample_mb'] * B
            res['estimates'].append({'stage': stage, 'batch': B, 'fp32_rss_estimate_mb': total, 'static_fp32_mb': static_mb(ref),
                                     'bf16_rough_mb': f['fixed_mb'] + f['per_sample_mb'] * B / 2})
    res['load_after'] = os.getloadavg()
    (args.out/'paper_size_cpu.json').write_text(json.dumps(res, indent=1))
    print('\n| stage | config | batch | s/step (step 1, step 2) | peak RSS (MB) |\n|---|---|---|---|---|')
    for r in res['rows']:
        if 'error' in r: print(f"| {r['stage']} | | {r['batch']} | FAILED: {r['error'].strip().splitlines()[-1][:200]} | |"); continue
        print(f"| {r['stage']} | {r['config']} | {r['batch']}{'+' + str(r['batch']) if r['stage'] == 'stage2' else ''} | "
              f"{r['s_per_step']:.1f} ({', '.join(f'{t:.1f}' for t in r['step_s'])}) | {r['peak_rss_mb']:,.0f} |")
    for s, f in res['fits'].items(): print(f"{s}: peak RSS ≈ {f['fixed_mb']:,.0f} MB + {f['per_sample_mb']:,.0f} MB × batch (batches {f['from_batches']})")
    for e in res['estimates']:
        print(f"{e['stage']} at batch {e['batch']}: fp32 ≈ {e['fp32_rss_estimate_mb'] / 1024:.1f} GB (weights/grads/Adam/copies {e['static_fp32_mb'] / 1024:.1f} GB); "
              f"bf16 activations ≈ {e['bf16_rough_mb'] / 1024:.1f} GB")
    print(f"written {args.out/'paper_size_cpu.json'}")


if __name__ == '__main__': main()
