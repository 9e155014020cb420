"""`dusss lab grade` on a small class, as an instructor runs it: a worked solution, a notebook as shipped, one with a planted
mistake, one whose code raises, and a file that is not a notebook. Lab 3 (the text-mask generator) is the fastest lab to
run (about 6 s a notebook on 2 CPU cores, most of it importing torch), so the whole test takes about half a minute."""
import csv, json, shutil, subprocess, time
from pathlib import Path
import pytest
from dusss_kit.test_utils import DUSSS

REPO = Path(__file__).resolve().parents[1]
LABS = REPO / 'nbs' / 'labs'
LAB = '03_text_mask.ipynb'
EXERCISES = ['similarity_map', 'soft_mask', 'mask_logit', 'text_mask_logits']


def edited(nb: dict, func: str, old: str, new: str) -> dict:
    "The notebook with `old` replaced by `new` in the code cell that defines `func` (exactly one such cell, `old` in it)."
    cells = [c for c in nb['cells'] if c['cell_type'] == 'code' and f'def {func}(' in ''.join(c['source'])]
    assert len(cells) == 1, f'{func}: {len(cells)} cells define it'
    src = ''.join(cells[0]['source'])
    assert old in src, f'{func}: {old!r} not in its cell'
    cells[0]['source'] = src.replace(old, new)
    return nb


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    "Grade the class once: (rows of grades.csv, the summary, what dusss printed, seconds)."
    top = tmp_path_factory.mktemp('grade')
    subs = top / 'subs'
    for who in ('ann', 'ben'): (subs / who).mkdir(parents=True)
    shutil.copy(LABS / 'solutions' / LAB, subs / 'ann' / LAB)           # a worked solution
    shutil.copy(LABS / LAB, subs / 'ben' / LAB)                          # the notebook as shipped
    sol = json.loads((LABS / 'solutions' / LAB).read_text())
    planted = edited(json.loads(json.dumps(sol)), 'text_mask_logits', "mode='bilinear', align_corners=False", "mode='nearest'")
    (subs / f'cat_{LAB}').write_text(json.dumps(planted))              # a known wrong variant: nearest upsampling
    raising = edited(sol, 'similarity_map', 'def similarity_map(patches, reports, h, w):\n',
                     'def similarity_map(patches, reports, h, w):\n    raise ValueError("I give up")\n')
    (subs / f'dan_{LAB}').write_text(json.dumps(raising))              # the student's code raises
    (top / 'eve.txt').write_text('my answers: see the notebook')
    t0 = time.time()
    r = subprocess.run([DUSSS, 'lab', 'grade', subs, top / 'eve.txt', '--out', top / 'grades.csv', '--timeout', '120'],
                       capture_output=True, text=True, timeout=600)
    secs = time.time() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    with open(top / 'grades.csv', newline='', encoding='utf-8') as f: rows = list(csv.DictReader(f))
    return rows, (top / 'grades.md').read_text(), r.stdout + r.stderr, secs


def rows_of(rows, student):
    return [(r['exercise'], r['status'], r['detail']) for r in rows if r['student'] == student]


def test_columns_and_students(graded):
    rows = graded[0]
    assert list(rows[0]) == ['student', 'notebook', 'exercise', 'status', 'detail']
    assert list(dict.fromkeys(r['student'] for r in rows)) == ['ann', 'ben', 'cat', 'dan', 'eve']


def test_solution_passes_everything(graded):
    assert rows_of(graded[0], 'ann') == [(e, 'passed', '') for e in EXERCISES]


def test_shipped_notebook_is_not_attempted(graded):
    got = rows_of(graded[0], 'ben')
    assert [(e, s) for e, s, _ in got] == [(e, 'not attempted') for e in EXERCISES]
    assert all('not written yet' in d for _, _, d in got)


def test_planted_mistake_fails_that_exercise_only_with_its_hint(graded):
    got = rows_of(graded[0], 'cat')
    assert [(e, s) for e, s, _ in got] == [(e, 'passed') for e in EXERCISES[:3]] + [('text_mask_logits', 'failed')]
    assert got[3][2].startswith('text_mask_logits: ') and 'nearest' in got[3][2], got[3][2]
    assert '\n' not in got[3][2]


def test_raising_code_is_an_error_and_later_exercises_still_run(graded):
    got = rows_of(graded[0], 'dan')
    assert [(e, s) for e, s, _ in got] == [('similarity_map', 'error'), ('soft_mask', 'passed'), ('mask_logit', 'passed'),
                                           ('text_mask_logits', 'error')]
    assert got[0][2] == 'similarity_map raised ValueError: I give up'


def test_not_a_notebook_gets_one_row(graded):
    [(exercise, status, detail)] = rows_of(graded[0], 'eve')
    assert (exercise, status) == ('(notebook)', 'not a notebook')
    assert detail.endswith('eve.txt: not a notebook: expected a Jupyter notebook (.ipynb), got a .txt'), detail


def test_summary_counts_and_names_the_mistake(graded):
    _, md, printed, _ = graded
    assert md in printed                                              # the summary is printed too
    assert '| ann | 4/4 | 0 | 0 | 0 | 0 |  |' in md
    assert '| ben | 0/4 | 0 | 0 | 4 | 0 |  |' in md
    assert '| cat | 3/4 | 1 | 0 | 0 | 0 |  |' in md
    assert '| dan | 2/4 | 0 | 2 | 0 | 0 |  |' in md
    assert '| eve | 0/0 | 0 | 0 | 0 | 0 | eve.txt: not a notebook |' in md
    assert '| text_mask_logits | 1/4 | text_mask_logits: ' in md and 'nearest' in md.split('| text_mask_logits | 1/4 |')[1].splitlines()[0]
    assert '| soft_mask | 3/4 |  |' in md


def test_new_class_copies_the_student_notebooks_once(tmp_path):
    r = subprocess.run([DUSSS, 'lab', 'new', tmp_path / 'class'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(f.name for f in (tmp_path / 'class').iterdir()) == sorted(f.name for f in LABS.glob('*.ipynb'))
    r = subprocess.run([DUSSS, 'lab', 'new', tmp_path / 'class'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr == f"dusss lab: error: {tmp_path / 'class'} is not empty: give a new or empty folder for the class (nothing was copied)\n"
