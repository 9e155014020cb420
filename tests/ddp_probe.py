"""Run by tests/test_distributed.py under torchrun (gloo, CPU): a tiny stage-1 run, then a stage-2 DuSSS run on its VLM, recording every
DistributedDataParallel the kit builds and, after the steps, each rank's digest of every module, trainable or frozen. Rank 0 writes
`<out>/ddp.json`. With one process it records whether torchrun's launch joined a process group (`init_distributed`)."""
import json, sys
from pathlib import Path
import torch, torch.distributed as dist
import torch.nn.parallel
from dusss_kit import pretrain as P, train as T
from dusss_kit.engine import gather_digests, dist_info, init_distributed, reduce_mean, reduce_sum, barrier
from dusss_kit.test_utils import tiny_config

wrapped = []
class Recording(torch.nn.parallel.DistributedDataParallel):
    "DistributedDataParallel that keeps a reference to itself, to see what the kit wrapped and how."
    def __init__(self, module, *a, **kw): super().__init__(module, *a, **kw); wrapped.append(self)
torch.nn.parallel.DistributedDataParallel = Recording    # the kit imports it at the call, so it builds this one

stages, init = [], T.Stage2.__init__
def recording_init(self, *a, **kw): init(self, *a, **kw); stages.append(self)
T.Stage2.__init__ = recording_init


def trainable(m): return {n: p for n, p in m.named_parameters() if p.requires_grad}


def main(out:Path, sets:list):
    if dist_info()[1] == 1 and 'one_rank' in sets:           # torchrun --nproc_per_node 1: the group and the collectives with one rank
        dev = init_distributed('cpu')
        rec = {'initialized': dist.is_initialized(), 'world': dist_info()[1], 'backend': dist.get_backend() if dist.is_initialized() else None,
               'reduce_mean': reduce_mean({'a': 2.0, 'b': 1}), 'reduce_sum': float(reduce_sum(torch.tensor(3.0))), 'device': str(dev)}
        barrier()
        cfg = tiny_config('semi.method=mean_teacher', 'train.epochs=1', 'train.max_steps=2', f'train.out={out/"one_rank"}', 'train.device=cpu')
        res = T.train(cfg)
        rec.update(train_world_size=res['world_size'], ddp=len(wrapped), still_initialized=dist.is_initialized())
        (out/'one_rank.json').write_text(json.dumps(rec))
        return
    base = ('train.epochs=1', 'train.device=cpu', 'train.lr=1e-3', *sets)
    P.pretrain(tiny_config(*base, f'train.out={out/"vlm"}'))
    T.train(tiny_config(*base, f'semi.vlm_checkpoint={out/"vlm"}', f'train.out={out/"stage2"}'))
    (d1, d2), st = wrapped, stages[-1]
    vlm = d1.module.model
    rec = {'n_ddp': len(wrapped),
           'stage1': {'wrapped': type(d1.module).__name__, 'find_unused_parameters': d1.find_unused_parameters,
                      'momentum_trainable': sorted(n for n, p in d1.module.named_parameters() if p.requires_grad and '.momentum.' in n),
                      'online': gather_digests(trainable(vlm)), 'momentum': gather_digests(vlm.momentum.state_dict()),
                      'all': gather_digests(vlm.state_dict())},
           'stage2': {'wraps_student': d2.module is st.student, 'find_unused_parameters': d2.find_unused_parameters,
                      'teacher_wrapped': any(d.module is st.teacher for d in wrapped),
                      'generator_wrapped': any(d.module is m for d in wrapped for m in st.generator.modules()),
                      'student': gather_digests(st.student.state_dict()), 'teacher': gather_digests(st.teacher.state_dict()),
                      'decoder': gather_digests({str(i): q for i, q in enumerate(st.generator.trainable_parameters())}),
                      'vlm': gather_digests(st.generator.vlm.state_dict()), 'steps': st.step}}
    if dist_info()[0] == 0: (out/'ddp.json').write_text(json.dumps(rec))


if __name__ == '__main__': main(Path(sys.argv[1]), sys.argv[2:])
