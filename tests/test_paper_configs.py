"""Every shipped paper config (stage 1 `pretrain_paper`, the stage-2 `*_25`, `*_50`, `*_100`) builds its models at the papers'
sizes on a CPU, with the stand-ins of `dusss gpu-check` for the hub weights (a random ViT-B/16, the random BERT-base-shaped text
folder of `gpu_check.write_bert_base_shaped`): shape and config errors surface here, not on a GPU. No step is run (the two-step
CPU runs and their memory are measured by `tools/paper_size_cpu.py`, figures in the performance notebook), and nothing is
downloaded: downloads are off and every socket connection fails the test."""
import socket
from dataclasses import asdict
import pytest, torch

from dusss_kit import gpu_check
from dusss_kit.config import CONFIG_DIR, config_path, load_config

PAPER = sorted(p.stem for p in CONFIG_DIR.glob('*.yaml') if not p.stem.endswith('_cpu') and not p.stem.startswith('demo'))
UNET_PAPER = 14_751_873          # LViT's U-Net at base 64, 3 input channels (DuSSS / LViT; docs/method.md)
VIT_B16 = 85_798_656             # ViT-B/16 at 224 px without its pooler: 12 layers of width 768, 196 patches + [CLS]


def _n(module) -> int: return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """Each paper config loaded with the stand-in models, and each distinct VLM, U-Net and stage-2 set-up built once from them,
    with downloads off and sockets refused (attempts recorded)."""
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(args[1:] or kwargs)
        raise OSError("test_paper_configs: no network (a paper config tried to connect)")
    from dusss_kit.train import Stage2
    from dusss_kit.vlm import VLM
    from dusss_kit.unet import build_segmenter
    with pytest.MonkeyPatch.context() as mp:
        for k in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'): mp.setenv(k, '1')
        mp.setattr(socket.socket, 'connect', refuse); mp.setattr(socket, 'create_connection', refuse)
        mp.setattr(gpu_check, '_cached', lambda hub_id: False)      # the stand-ins even where the hub weights are in the cache
        p = gpu_check.make_plan(tmp_path_factory.mktemp('paper'), dry=False)
        sets = gpu_check.paper_models(p)                             # writes the BERT-base-shaped folder
        cfgs = {n: load_config(config_path(n), [*sets, 'train.device=cpu']) for n in PAPER}
        torch.manual_seed(0)
        vlms, unets, stage2 = {}, {}, {}
        for n, c in cfgs.items():
            key = (repr(asdict(c.vlm)), c.data.image_size)
            if key not in vlms:
                m = VLM(c.vlm, image_size=c.data.image_size)
                vlms[key] = dict(model=m, params=_n(m), image=_n(m.image_encoder), text=_n(m.text_encoder), momentum=_n(m.momentum),
                                 online=sum(_n(getattr(m, k)) for k in m.m_names), trainable=sum(q.numel() for q in m.parameters() if q.requires_grad),
                                 momentum_frozen=not any(q.requires_grad for q in m.momentum.parameters()))
            ukey = (c.seg.network, c.seg.size, c.data.channels)
            if n != 'pretrain_paper' and ukey not in unets: unets[ukey] = _n(build_segmenter(c.seg.network, c.seg.size, in_channels=c.data.channels))
            if n != 'pretrain_paper' and c.semi.method not in stage2:     # one stage-2 set-up per method, as `train` builds it
                vlm = VLM(c.vlm, image_size=c.data.image_size) if c.semi.method == 'dusss' else None
                stage2[c.semi.method] = (n, Stage2(c, vlm, 'cpu'))
    return dict(p=p, sets=sets, cfgs=cfgs, vlms=vlms, unets=unets, stage2=stage2, attempts=attempts)


def test_the_paper_configs_are_found():
    assert 'pretrain_paper' in PAPER and len([n for n in PAPER if n != 'pretrain_paper']) == 12, PAPER


def test_the_stand_ins_replace_the_hub_models(built):
    sets = dict(s.split('=', 1) for s in built['sets'])
    assert sets == {'vlm.image_encoder': 'paper', 'vlm.text_model': built['p']['text_model_dir'], 'vlm.text_pretrained': 'false'}
    for n, c in built['cfgs'].items():
        assert c.vlm.text_model == built['p']['text_model_dir'] and c.vlm.image_pretrained is None, n
        assert (c.data.image_size, c.vlm.image_encoder, c.vlm.patch_size) == (224, 'paper', 16), n


def test_nothing_is_downloaded(built):
    assert built['attempts'] == [], f"network connections attempted: {built['attempts']}"


def test_one_vlm_for_every_paper_config(built):
    assert len(built['vlms']) == 1, "stage 1 and the stage-2 configs describe the same VLM (the papers'); a config differs"


def test_vlm_has_the_papers_sizes(built):
    (v,) = built['vlms'].values()
    m, c = v['model'], built['cfgs']['pretrain_paper'].vlm
    assert v['image'] == VIT_B16 and m.image_encoder.dim == 768                  # ViT-B/16: about 86 M
    assert m.text_encoder.dim == 768 and len(m.text_encoder.model.encoder.layer) == c.text_layers == 6   # BERT-base cut to 6 layers
    assert m.text_encoder.max_tokens == c.max_tokens == 20
    for head in (m.img_global, m.txt_global):                                    # AMVLM's 768 → 2048 → 128 heads
        lin = [l for l in head.modules() if isinstance(l, torch.nn.Linear)]
        assert (lin[0].in_features, lin[0].out_features, lin[-1].out_features) == (768, c.head_hidden, c.embed_dim) == (768, 2048, 128)
    assert v['momentum'] == v['online'] and v['momentum_frozen']                # the momentum copies: as large as the branches, not trained
    assert 300e6 < v['params'] < 320e6 and v['trainable'] == v['params'] - v['momentum'], v   # 313 M in all, half of it trained


def test_vlm_embeds_at_embed_dim(built):
    (v,) = built['vlms'].values()
    m, E = v['model'].eval(), built['cfgs']['pretrain_paper'].vlm.embed_dim
    with torch.no_grad():
        img, txt = m.encode_image(torch.zeros(1, 3, 224, 224)), m.encode_text(["Bilateral pulmonary infection, two infected areas."])
    assert img['global'].shape == (1, E) and txt['global'].shape == (1, E)
    assert img['local'].shape[-2:] == (14 * 14, E)                               # one local embedding per 16-px patch


def test_unet_has_the_papers_size(built):
    assert built['unets'] == {('lvit_unet', 'paper', 3): UNET_PAPER}


def test_stage2_builds_as_train_does(built):
    assert set(built['stage2']) == {'dusss', 'full'}
    _, st = built['stage2']['dusss']
    assert _n(st.student) == _n(st.teacher) == UNET_PAPER and not any(q.requires_grad for q in st.teacher.parameters())
    assert st.generator is not None and st.tg_opt is not None
    assert not any(q.requires_grad for q in st.generator.vlm.parameters())       # the stage-1 VLM is frozen in stage 2
    _, full = built['stage2']['full']
    assert full.teacher is None and full.generator is None and _n(full.student) == UNET_PAPER
