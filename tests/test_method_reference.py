"""docs/method.md is the kit's own method reference (issue 27): every link into it lands on an anchor it has, every
defect and equation number the notebooks mention is in it, every option it names exists, and nothing cites the
METHOD.md that users never get."""
import importlib, json, re
from dataclasses import fields
from pathlib import Path
import pytest
import dusss_kit, dusss_kit.config as C

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT/'docs'/'method.md'
OLD = 'METHOD.md'        # the maintainers' notes outside the repository

def _text(p:Path) -> str:
    "A notebook's cell sources joined (outputs left out), or a text file as it is."
    if p.suffix != '.ipynb': return p.read_text(encoding='utf-8')
    return '\n'.join(''.join(c['source']) for c in json.loads(p.read_text(encoding='utf-8'))['cells'])

def _rel(p:Path) -> str: return p.relative_to(ROOT).as_posix()

NOTEBOOKS = sorted((ROOT/'nbs').rglob('*.ipynb'))
NBS_MD = sorted((ROOT/'nbs').rglob('*.md'))
PACKAGE = sorted(p for p in (ROOT/'dusss_kit').rglob('*') if p.is_file() and p.suffix in ('.py', '.yaml', '.md', '.json', '.txt'))
README_NB = ROOT/'nbs'/'index.ipynb'     # settings.ini: readme_nb; its links are written for README.md at the root
EVERYTHING = NOTEBOOKS + NBS_MD + PACKAGE + [ROOT/'README.md', REF]

def _anchors(md:str) -> set:
    "Explicit `<a id=...>` anchors and GitHub's slugs of the headings."
    ids = set(re.findall(r'<a id="([^"]+)"></a>', md))
    for h in re.findall(r'^#+ (.+)$', md, flags=re.M):
        ids.add(re.sub(r'\s', '-', re.sub(r'[^\w\s-]', '', h.strip().lower())))
    return ids

ANCHORS = _anchors(REF.read_text(encoding='utf-8'))

def test_reference_has_every_defect_and_equation_anchor():
    for n in range(1, 11):
        assert f'defect-{n}' in ANCHORS, f"docs/method.md: no anchor defect-{n}"
        assert re.search(rf'^### Defect {n}: ', REF.read_text(encoding='utf-8'), flags=re.M), f"docs/method.md: no heading '### Defect {n}: ...'"
    for n in (1, 2, 3, 4, 5, 6, 11, 12, 16): assert f'eq-{n}' in ANCHORS, f"docs/method.md: no anchor eq-{n}"

def test_links_into_the_reference_resolve():
    "Every `method.md#anchor` names an anchor the reference has; every markdown link to method.md finds the file from where it is written."
    bad = []
    for p in EVERYTHING:
        s = _text(p)
        bad += [f"{_rel(p)}: #{a} is not an anchor of docs/method.md" for a in re.findall(r'method\.md#([\w-]+)', s) if a not in ANCHORS]
        for target in re.findall(r'\]\(([^)\s#]*method\.md)(?:#[^)\s]*)?\)', s):
            base = ROOT if p == README_NB else p.parent          # the README's source notebook links as README.md does
            if (base/target).resolve() != REF: bad.append(f"{_rel(p)}: the link {target} does not lead to docs/method.md")
    assert not bad, '\n'.join(bad)

def _numbers(s:str, word:str) -> set:
    "Numbers after `word` (e.g. 'defect'/'defects', 'Eq.'/'Eqs.'): single ones, lists ('1, 2 and 7') and range ends ('11-16')."
    s = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', s)      # a link counts as its text
    out = set()
    for run in re.findall(rf'\b{word}s?\.? (\d+(?:(?:, | and | or |-)\d+)*)', s, flags=re.I):
        out |= {int(n) for n in re.findall(r'\d+', run)}
    return out

def test_defect_numbers_mentioned_exist():
    bad = [f"{_rel(p)}: defect {n}" for p in NOTEBOOKS + NBS_MD + PACKAGE + [ROOT/'README.md']
           for n in sorted(_numbers(_text(p), 'defect')) if f'defect-{n}' not in ANCHORS]
    assert not bad, "defects that docs/method.md does not list:\n" + '\n'.join(bad)

def test_numbers_parsed():
    "The parser the two checks above rely on."
    assert _numbers("Defects 1, 2, 3 and 7 need images; (defects [5](x.md#defect-5) and [6](y)); defect 10.", 'defect') == {1, 2, 3, 5, 6, 7, 10}
    assert _numbers("DuSSS Eqs. 11-16 and Eq. 4", 'eq') == {4, 11, 16}

def test_duss_equation_numbers_mentioned_exist():
    "A DuSSS equation number a notebook cites (single, or the ends of a range) has an anchor; AMVLM's equations are not numbered in the kit."
    bad = [f"{_rel(p)}: Eq. {n}" for p in NOTEBOOKS for n in sorted(_numbers(_text(p), 'eq')) if f'eq-{n}' not in ANCHORS]
    assert not bad, "equations that docs/method.md does not anchor:\n" + '\n'.join(bad)

SECTIONS = {f.name: f.type for f in fields(C.Config)}

def _option_ok(key:str, value:str|None) -> bool:
    "`section.field` is a config key (and `value`, if given, one it accepts), or `module.name` an attribute of a kit module."
    sec, name = key.split('.', 1)
    if sec == 'dusss_kit': sec, name = (name.split('.', 1) + [''])[:2]
    if sec in SECTIONS:
        cls = {f.name: f for f in fields(C.Config)}[sec].default_factory
        known = {f.name: f for f in fields(cls)}
        if name in known:
            if value is None: return True
            v = C.yaml.safe_load(value)
            if key in C.CHOICES: return v in C.CHOICES[key] or value in C.CHOICES[key]   # YAML 1.1 reads `off` as false
            try: C.validate(C.from_dict(C.Config, {sec: {name: v}}))
            except C.ConfigError: return False
            return True
    try:
        obj = importlib.import_module(f'dusss_kit.{sec}')
        for part in filter(None, name.split('.')): obj = getattr(obj, part)
        return True
    except (ImportError, AttributeError): return False

def test_options_named_in_the_reference_exist():
    "Each `section.key`, `section.key: value` or `module.name` in backticks is a real config key and value, or a real kit attribute."
    md = REF.read_text(encoding='utf-8')
    found = re.findall(r'`([a-z_0-9]+\.[A-Za-z_0-9.]+)(?:: ([^`|]+))?`', md)
    assert len(found) > 30
    bad = [f"{k}{': ' + v if v else ''}" for k, v in found if not k.endswith('.md') and not k.endswith('.json') and not _option_ok(k, v.strip() if v else None)]
    assert not bad, "docs/method.md names options or functions the kit does not have: " + ', '.join(bad)

def test_option_check_can_fail():
    assert _option_ok('semi.fusion', 'authors_probs') and _option_ok('vlm.sss', 'code') and _option_ok('semi.pamr', 'true')
    assert _option_ok('text_mask.batch_mean_text', None) and _option_ok('sss.SSS_KIT', None) and _option_ok('dusss_kit.semisup', None)
    assert not _option_ok('semi.fusion', 'probs') and not _option_ok('vlm.no_such_key', None) and not _option_ok('sss.no_such_name', None)
    assert not _option_ok('vlm.sss', 'on') and not _option_ok('semi.ema_max', '2') and not _option_ok('dusss_kit.no_such_module', None)

def _citations(files) -> list:
    "Each line that cites METHOD.md, as `file:line: text` (a notebook's cell sources have no file line: `file: text`)."
    return [f"{_rel(p)}{'' if p.suffix == '.ipynb' else f':{i}'}: {line.strip()[:120]}"
            for p in files for i, line in enumerate(_text(p).splitlines(), 1) if OLD in line]

# The notebooks whose markdown and METHOD.md citations moved to docs/method.md with it (issue 27, item 3).
REFERENCE_NBS = [ROOT/'nbs'/f for f in ('00a_config.ipynb', '01_data.ipynb', '04_distributions.ipynb', '05_sss.ipynb', '06_dcl.ipynb',
                 '07_amvlm.ipynb', '08_vlm.ipynb', '08b_pretrain.ipynb', '09_text_mask.ipynb', '10_unet.ipynb', '10a_seg_losses.ipynb',
                 '11_semisup.ipynb', '11a_metrics.ipynb', '18_labs.ipynb', '18a_labs_seg.ipynb', 'tutorials/code_vs_paper.ipynb')] + \
                sorted((ROOT/'nbs'/'labs').glob('*.ipynb'))
REFERENCE_MODULES = [ROOT/'dusss_kit'/f for f in ('config.py', 'data.py', 'distributions.py', 'sss.py', 'dcl.py', 'amvlm.py', 'vlm.py',
                     'pretrain.py', 'text_mask.py', 'unet.py', 'seg_losses.py', 'semisup.py', 'metrics.py', 'labs.py', 'labs_seg.py')]

def test_no_method_md_citation_in_lessons_labs_and_modules():
    cites = _citations(REFERENCE_NBS + REFERENCE_MODULES + [REF, ROOT/'README.md'])
    assert not cites, "cite docs/method.md instead of METHOD.md:\n" + '\n'.join(cites)

OTHERS = {'index-train-refinement': [ROOT/'nbs'/f for f in ('index.ipynb', '11b_train.ipynb', 'tutorials/refinement.ipynb')],
          'lab-solutions-and-notes': sorted((ROOT/'nbs'/'labs'/'solutions').glob('*.ipynb')) + [ROOT/'nbs'/'labs'/'README.md'],
          'configs': sorted((ROOT/'dusss_kit'/'configs').glob('*'))}
_listed = {p for fs in OTHERS.values() for p in fs} | set(REFERENCE_NBS) | set(REFERENCE_MODULES)
OTHERS['everything-else'] = [p for p in NOTEBOOKS + NBS_MD + PACKAGE if p not in _listed]

@pytest.mark.parametrize('group', list(OTHERS))
def test_no_method_md_citation_elsewhere(group):
    "The same for the files edited by others, one group per case, so that each can be seen to fail and then pass."
    cites = _citations(OTHERS[group])
    if cites: pytest.fail(f"{len(cites)} citation(s) of METHOD.md; cite docs/method.md (a link from a notebook: ../docs/method.md#defect-N):\n" + '\n'.join(cites), pytrace=False)
