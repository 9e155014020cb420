"""The package is read in the order of its notebooks: a module may import only modules taught before it (a lower
notebook number) and only their public names. A lesson that used a later one, or a face that reached into another's
private helper, would break the order a reader follows and the seams a maintainer relies on."""
import json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r'^\s*from (?:\.|dusss_kit\.)(\w+) import \(?([^\n#)]+)', re.M)


def notebook_of_module():
    "Each exported module's notebook stem (`#| default_exp`), e.g. {'train': '11b_train'}."
    out = {}
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            m = re.search(r'#\|\s*default_exp\s+(\S+)', ''.join(c['source']))
            if m: out[m.group(1)] = nb.stem; break
    return out


ORDER = notebook_of_module()


def imports(module):
    "(imported module, [names]) for every `from .x import ...` / `from dusss_kit.x import ...` of `module`, at any depth."
    src = (ROOT / 'dusss_kit' / f'{module}.py').read_text()
    return [(m.group(1), [n.strip() for n in m.group(2).split(',') if n.strip()]) for m in IMPORT.finditer(src)]


def test_every_module_has_a_notebook():
    mods = {p.stem for p in (ROOT / 'dusss_kit').glob('*.py') if not p.stem.startswith('_')}
    assert mods == set(ORDER), f"modules without a notebook: {mods - set(ORDER)}; notebooks without a module: {set(ORDER) - mods}"


@pytest.mark.parametrize('module', sorted(ORDER))
def test_imports_only_earlier_public_names(module):
    for other, names in imports(module):
        if other not in ORDER: continue
        assert ORDER[other] < ORDER[module], f"{module} ({ORDER[module]}) imports {other} ({ORDER[other]}), a later notebook"
        private = [n for n in names if n.startswith('_')]
        assert other == module or not private, f"{module} imports private {private} from {other}"


def test_the_check_sees_a_violation():
    "The pattern finds both kinds of import it guards against, so a clean result means something."
    src = "from .train import Stage2, _helper\n    from dusss_kit.cli import (main)\n"
    found = [(m.group(1), [n.strip() for n in m.group(2).split(',')]) for m in IMPORT.finditer(src)]
    assert found == [('train', ['Stage2', '_helper']), ('cli', ['main'])]
