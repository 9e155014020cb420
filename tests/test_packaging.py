"""Build the wheel, install it into a fresh virtual environment that sees the already-installed
dependencies (but not the repository), and import every module of dusss_kit from outside the repo."""
import os, subprocess, sys, sysconfig, venv
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(out), str(REPO)])
    whls = list(out.glob('dusss_kit-*.whl'))
    assert len(whls) == 1, whls
    return whls[0]


def test_wheel_installs_and_imports_every_module(wheel, tmp_path):
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(p.stem for p in (REPO / 'dusss_kit').glob('*.py') if p.stem != '__init__')
    for m in modules: assert f'dusss_kit/{m}.py' in names, f'dusss_kit/{m}.py is not in the wheel'
    data = [f'dusss_kit/configs/{p.name}' for p in (REPO / 'dusss_kit' / 'configs').glob('*.yaml')] + ['dusss_kit/paper_results.json']
    for f in data: assert f in names, f'{f} is not in the wheel'

    env_dir = tmp_path / 'venv'
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / 'bin' / 'python'
    # let the fresh environment see this environment's installed dependencies (a .pth adds the path
    # without processing its .pth files, so the editable install of the repo stays invisible)
    site = run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).stdout.strip()
    Path(site, 'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run([sys.executable, '-m', 'pip', '--python', str(py), 'install', '--no-deps', '-q', str(wheel)])

    code = ("import importlib, dusss_kit, sys; mods = sys.argv[1:]\n"
            "for m in mods: importlib.import_module('dusss_kit.' + m)\n"
            "from dusss_kit.report import paper_results; from dusss_kit.config import load_config, config_path\n"
            "assert len(paper_results()) > 0 and load_config(config_path('demo_cpu')).semi.method == 'dusss'\n"
            "print(dusss_kit.__file__); print(dusss_kit.__version__)")
    out = run([str(py), '-c', code, *modules], cwd=tmp_path, env={**os.environ, 'PYTHONPATH': ''}).stdout.split()
    assert Path(out[0]).is_relative_to(env_dir), f'imported {out[0]}, not the installed wheel'
    assert not Path(out[0]).is_relative_to(REPO)

    helptext = run([str(env_dir / 'bin' / 'dusss'), '--help'], cwd=tmp_path).stdout
    assert 'check-data' in helptext and 'synth' in helptext and 'demo' in helptext and 'report' in helptext
