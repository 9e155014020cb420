"""Build the wheel and install it as a user would: a fresh virtual environment that sees nothing of this one (no
system site-packages, no .pth pointing back), `pip install torch==2.13.0` first (the README's pinned CPU build), then the
wheel with its dependencies from the package index. Then, from outside the repository, import every module of dusss_kit,
run `dusss --help` and a small real command. A run-time requirement that only the dev extra brings (issue 25: fastcore)
fails here. One install, about a minute or two; pip needs its package index (its normal config)."""
import os, subprocess, sys, venv, zipfile
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (REPO / 'dusss_kit').glob('*.py') if p.stem != '__init__')


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def user_env(env_dir: Path) -> dict:
    "A shell environment like a user's in the activated fresh venv: nothing of the dev venv on PATH or PYTHONPATH."
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME')}
    dev_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get('PATH', '').split(os.pathsep) if p and Path(p) != Path(dev_bin)]
    return {**env, 'PATH': os.pathsep.join([str(env_dir / 'bin'), *path]), 'VIRTUAL_ENV': str(env_dir), 'HF_HUB_OFFLINE': '1'}


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', out, REPO])
    whls = list(out.glob('dusss_kit-*.whl'))
    assert len(whls) == 1, whls
    return whls[0]


def test_wheel_holds_every_module_and_data_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for m in MODULES: assert f'dusss_kit/{m}.py' in names, f'dusss_kit/{m}.py is not in the wheel'
    data = [f'dusss_kit/configs/{p.name}' for p in (REPO / 'dusss_kit' / 'configs').glob('*.yaml')] + ['dusss_kit/paper_results.json']
    for f in data: assert f in names, f'{f} is not in the wheel'


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory):
    "A fresh venv (its own pip, no system site-packages) with torch==2.13.0, then the wheel and its dependencies."
    top = tmp_path_factory.mktemp('user')
    env_dir = top / 'venv'
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    env = user_env(env_dir)
    pip = [env_dir / 'bin' / 'python', '-m', 'pip', 'install', '-q']
    run([*pip, 'torch==2.13.0'], cwd=top, env=env, timeout=900)
    run([*pip, wheel], cwd=top, env=env, timeout=900)
    return env_dir, env, top


def test_fresh_venv_sees_nothing_of_the_dev_environment(installed):
    "The isolation the other checks rely on: the dev extra's packages (nbdev, pytest) are not importable in the fresh venv."
    env_dir, env, top = installed
    r = subprocess.run([env_dir / 'bin' / 'python', '-c', 'import nbdev'], capture_output=True, text=True, cwd=top, env=env)
    assert r.returncode != 0 and 'nbdev' in r.stderr, 'the fresh venv imports nbdev, a dev-only package: it is not isolated'
    r = subprocess.run([env_dir / 'bin' / 'python', '-c', 'import pytest'], capture_output=True, text=True, cwd=top, env=env)
    assert r.returncode != 0, 'the fresh venv imports pytest, a dev-only package: it is not isolated'


def test_installed_wheel_imports_every_module(installed):
    env_dir, env, top = installed
    code = ("import importlib, dusss_kit, sys; mods = sys.argv[1:]\n"
            "for m in mods: importlib.import_module('dusss_kit.' + m)\n"
            "from dusss_kit.report import paper_results; from dusss_kit.config import load_config, config_path\n"
            "assert len(paper_results()) > 0 and load_config(config_path('demo_cpu')).semi.method == 'dusss'\n"
            "import torch; print(dusss_kit.__file__); print(torch.__version__)")
    out = run([env_dir / 'bin' / 'python', '-c', code, *MODULES], cwd=top, env=env).stdout.split()
    assert Path(out[0]).is_relative_to(env_dir), f'imported {out[0]}, not the installed wheel'
    assert not Path(out[0]).is_relative_to(REPO)
    assert out[1].startswith('2.13.0'), f'the wheel replaced the pinned torch 2.13.0 by {out[1]}'


def test_installed_command_runs_from_outside_the_repo(installed):
    "`dusss --help`, then a real job: a few synthetic images written and read back by `dusss check-data`."
    env_dir, env, top = installed
    helptext = run([env_dir / 'bin' / 'dusss', '--help'], cwd=top, env=env).stdout
    assert 'check-data' in helptext and 'synth' in helptext and 'demo' in helptext and 'report' in helptext
    r = run([env_dir / 'bin' / 'dusss', 'synth', 'synth', '--n-train', 4, '--n-val', 2, '--n-test', 2, '--size', 32, '-q'], cwd=top, env=env)
    assert 'wrote 4 train / 2 val / 2 test images (32×32)' in r.stdout, r.stdout
    r = run([env_dir / 'bin' / 'dusss', 'check-data', 'synth', '-q'], cwd=top, env=env)
    assert r.stdout.rstrip().endswith('no problems found') and 'train: 4 images, 4 masks, 4 reports' in r.stdout, r.stdout
