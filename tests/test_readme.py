"README.md is generated from nbs/index.ipynb and shows the two set-up commands CI runs (each after its marker)."
import subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_matches_index_notebook():
    r = subprocess.run([sys.executable, str(REPO / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_has_the_two_commands():
    text = (REPO / 'README.md').read_text()
    after = text.split('<!-- test-command -->', 1)[1].split('```bash\n', 1)[1].split('\n', 1)[0]
    assert 'pip install torch==2.13.0' in after and 'nbdev_test' in after and 'pytest tests' in after
    main = text.split('<!-- main-command -->', 1)[1].split('```bash\n', 1)[1].split('\n', 1)[0]   # .ci/run runs this line
    assert main == ('python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e . '
                    '&& dusss demo --out runs/demo --resume'), main                  # the main job, no dev extra
    for img in [l.split('](', 1)[1].split(')')[0] for l in text.splitlines() if l.startswith('![')]:
        assert (REPO / img).is_file(), f'README shows {img}, which does not exist'
