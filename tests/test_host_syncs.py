"""Host syncs per training step (issue 28). On a GPU every host read of a device value (`.item()`, `float(t)`, `bool(t)`, `.tolist()`,
`.cpu()`, formatting a tensor) waits for all the work queued before it. This counts, on the CPU, the reads the kit's own code makes while
`fit` runs the steps of a tiny stage-1 and stage-2 run, and holds them to the one a step cannot avoid: the non-finite guard's.

How: the reads are counted when the frame calling them is in dusss_kit (the optimisers' CPU step counters and PyTorch's own checks are
not the kit's); loading a batch and the per-epoch work (evaluation, checkpoints) are left out, the first by pausing the count while the
loader yields, the second by running each stage to two step counts in one epoch and taking the difference. What this cannot see: reads
inside libraries (transformers' BERT checks `padding_mask.all()` once per text-encoder call; GradScaler's overflow check under fp16)."""
import collections, sys
from pathlib import Path
import pytest, torch
import dusss_kit
from dusss_kit.test_utils import tiny_config

KIT = str(Path(dusss_kit.__file__).parent)
READS = ('item', 'tolist', 'cpu', 'numpy', '__float__', '__int__', '__bool__', '__index__', '__format__')
# reads of host tensors, which wait for no device: apply_geo reads the loader's recorded draws (`geo`, kept on the CPU) per image, and
# tokenize the tokenizer's CPU output (the lengths, before they move to the device) until it has warned once about long reports
HOST_DATA = {'apply_geo', 'tokenize'}
GUARD = 'check'                                                    # NonFiniteGuard.check: the one sync per step, by design


class HostReads:
    "Count the host reads of tensors made from dusss_kit code, by function name, while on."
    def __init__(self): self.on, self.sites = False, collections.Counter()
    def __enter__(self):
        self.saved = {n: getattr(torch.Tensor, n) for n in READS}
        for n, f in self.saved.items(): setattr(torch.Tensor, n, self._wrap(f))
        return self
    def __exit__(self, *exc):
        for n, f in self.saved.items(): setattr(torch.Tensor, n, f)
    def _wrap(self, f):
        def read(t, *a, **kw):
            if self.on:
                caller = sys._getframe(1)
                if caller.f_code.co_filename.startswith(KIT): self.sites[caller.f_code.co_name] += 1
            return f(t, *a, **kw)
        return read


def _counting_fit(reads, real_fit):
    "`fit`, counting host reads during the steps and the loop around them, not while the loader yields nor at the epoch's end."
    def paused(fn):
        def call(*a, **kw):
            was, reads.on = reads.on, False
            try: return fn(*a, **kw)
            finally: reads.on = was
        return call
    class Loader:
        def __init__(self, dl): self.dl = dl
        def __len__(self): return len(self.dl)
        def __getattr__(self, name): return getattr(self.dl, name)
        def __iter__(self):
            it = iter(self.dl)
            while True:
                try: b = paused(next)(it)
                except StopIteration: return
                yield b
    def fit(step, loader, *a, **kw):
        for k in ('evaluate', 'state_dict', 'load_state_dict', 'before_save', 'log'):
            if kw.get(k) is not None: kw[k] = paused(kw[k])
        reads.on = True
        try: return real_fit(step, Loader(loader), *a, **kw)
        finally: reads.on = False
    return fit


def _reads(monkeypatch, module, run, cfg) -> collections.Counter:
    "The host reads by site while `module`'s `fit` runs."
    with HostReads() as reads:
        monkeypatch.setattr(module, 'fit', _counting_fit(reads, module.fit))
        run(cfg)
        monkeypatch.undo()
    return reads.sites


def _per_step(monkeypatch, module, run, cfg_of, a=1, b=3) -> dict:
    "Host reads per step by site: a run of `b` steps less one of `a` (one epoch each), over b - a."
    n1 = _reads(monkeypatch, module, run, cfg_of(a, 'a'))
    n2 = _reads(monkeypatch, module, run, cfg_of(b, 'b'))
    return {k: (n2[k] - n1[k]) / (b - a) for k in n1 | n2 if n2[k] != n1[k]}


def _check(per_step):
    assert per_step.get(GUARD) == 1, per_step                                       # the guard reads once per step ...
    other = {k: v for k, v in per_step.items() if k != GUARD and k not in HOST_DATA}
    assert not other, f"host syncs per step besides the non-finite guard's: {other}"  # ... and nothing else of the kit does


@pytest.fixture(scope='module')
def stage1_run(tmp_path_factory):
    "A finished tiny stage-1 run, the VLM of the stage-2 runs."
    from dusss_kit.pretrain import pretrain
    out = tmp_path_factory.mktemp('vlm')
    pretrain(tiny_config('train.epochs=1', 'train.max_steps=1', f'train.out={out}', 'train.device=cpu'))
    return out


def test_stage1_one_sync_per_step(tmp_path, monkeypatch):
    from dusss_kit import pretrain as mod
    cfg_of = lambda n, name: tiny_config('train.epochs=1', f'train.max_steps={n}', f'train.out={tmp_path/name}', 'train.device=cpu')
    per_step = _per_step(monkeypatch, mod, mod.pretrain, cfg_of)
    _check(per_step)


@pytest.mark.parametrize('method', ['dusss', 'mean_teacher'])
def test_stage2_one_sync_per_step(tmp_path, monkeypatch, stage1_run, method):
    from dusss_kit import train as mod
    extra = ('semi.teacher_view=raw',) if method == 'dusss' else ()           # the raw teacher's logits follow each draw, as the text mask does
    cfg_of = lambda n, name: tiny_config(f'semi.method={method}', f'semi.vlm_checkpoint={stage1_run}', 'train.epochs=1', f'train.max_steps={n}',
                                         f'train.out={tmp_path/name}', 'train.device=cpu', *extra)
    per_step = _per_step(monkeypatch, mod, mod.train, cfg_of)
    _check(per_step)
