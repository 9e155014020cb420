"""Every command README.md and the command reference (docs/commands.md) show runs as written, in a fresh clone with
../shared beside it, as a reader would run it.

The commands are read from README.md and then docs/commands.md: each line of a ```bash block and each `$ `-prefixed line of a plain ```
block, in the README's order (later examples use the run folders of earlier ones). The long ones run at a tiny size:
`TINY` says what is appended to which command, and nothing else is changed. Where the README shows a command's
output, its first lines (up to a `...` line) and its last line must match what the command prints. The steps that
make a virtual environment and install the kit are run as written by .ci/run in a fresh venv (the user's path);
here the dev venv's `dusss` stands in for them. Commands not run here are listed in `NOT_RUN` with the reason, and
`test_what_is_not_run_is_still_in_the_readme` fails when either list names a step the README no longer has.

`python tests/test_readme_blocks.py --tiny-demo` prints the tiny `--set` arguments (.ci/run appends them to the
README's main command)."""
import os, re, shlex, shutil, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
DOCS = (README, REPO / 'docs' / 'commands.md')        # read in this order: later examples use earlier run folders


def doc_text() -> str:
    return '\n\n'.join(p.read_text(encoding='utf-8') for p in DOCS)

# The tiny size: a 32 px synthetic set of 32 training images, a tiny ViT and U-Net, one epoch of each stage. The real
# text model (all-MiniLM-L6-v2 from its package) stays, so the fresh install's text side is exercised too.
TINY_SETS = ['data.synth_n=32', 'data.image_size=32', 'vlm.image_encoder=tiny', 'vlm.embed_dim=32', 'vlm.head_hidden=64',
             'seg.size=tiny', 'train.batch_size=4', 'train.epochs=1', 'train.restart_epochs=1', 'semi.pretrain_epochs=1',
             'train.progress=false']
TINY_ARGS = ' '.join(f'--set {kv}' for kv in TINY_SETS)
# What makes each long command tiny (appended to it; the first prefix that matches); every other command runs exactly as written.
# `dusss bench`: tiny models (--quick); each case runs in a process of its own, whose start-up is most of its cost, so the scaling
# sweep runs one batch size, two cases instead of four (the sweep over several batches, its OOM rule and the plot of several lines
# are tested in nbs/17_bench.ipynb).
TINY = {'dusss demo': TINY_ARGS, 'dusss pretrain': TINY_ARGS, 'dusss train': TINY_ARGS,
        'torchrun': TINY_ARGS, 'dusss bench --stage scaling': '--quick --batches 2', 'dusss bench': '--quick'}
# The install steps of the README's two set-up commands: .ci/run runs both commands as written in fresh venvs
# (the test command after the dev install, the main command in a venv that has no dev extra and no dev package).
VENV_STEPS = ('python3 -m venv .venv', '. .venv/bin/activate', 'pip install torch==2.13.0', 'pip install -e .',
              'pip install -e ".[dev]"')
# README commands this test does not run, with the reason. Only `dusss gpu-check` needs a GPU: `dusss bench` measures
# the CPU size on a CPU and `torchrun` runs gloo processes.
NOT_RUN = {
    'nbdev_test': "the whole notebook suite: .ci/run runs the README's test command as written",
    'pytest tests': "the whole pytest suite, this file included: .ci/run runs the README's test command as written",
    'dusss gpu-check --out runs/gpu_check --monuseg ../shared/data/MoNuSeg': "needs a CUDA GPU (without one it exits 1 by design); "
        "tests/test_gpu_check.py runs the same sequence with --dry on the CPU",
}


def _strip_comment(line: str) -> str:
    "A shell line without its trailing `# comment` (a # at the start or after whitespace, outside quotes)."
    quote = None
    for i, ch in enumerate(line):
        if quote: quote = None if ch == quote else quote
        elif ch in '"\'': quote = ch
        elif ch == '#' and (i == 0 or line[i - 1].isspace()): return line[:i].rstrip()
    return line.rstrip()


def readme_commands(text: str) -> list:
    """(command, shown output or None, block kind) for every command in `text`, in order: each line of a ```bash block
    (lines ending in `\\` continued, comments dropped) and each `$ ` line of a plain ``` block with the lines after it."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = lines[i].strip()
        if not fence.startswith('```'): i += 1; continue
        lang, j, body = fence[3:].strip(), i + 1, []
        while j < len(lines) and lines[j].strip() != '```': body.append(lines[j]); j += 1
        i = j + 1
        if lang == 'bash':
            cmd = ''
            for l in body:
                if cmd: l = l.lstrip()
                cmd += l[:-1].rstrip() + ' ' if l.endswith('\\') else l
                if l.endswith('\\'): continue
                c = _strip_comment(cmd).strip(); cmd = ''
                if c and not c.startswith('#'): out.append((c, None, 'bash'))
        elif lang == '':
            k = 0
            while k < len(body):
                if body[k].startswith('$ '):
                    shown = []
                    for l in body[k + 1:]:
                        if l.startswith('$ '): break
                        shown.append(l)
                    out.append((body[k][2:].strip(), shown, '$')); k += 1 + len(shown)
                else: k += 1
    return out


def split_steps(cmd: str) -> list:
    "The steps of a `&&` chain (outside quotes)."
    return [s.strip() for s in re.split(r'\s&&\s', cmd)]


def tiny(step: str) -> str:
    "The step as run here: with its tiny-size arguments appended (see TINY)."
    for prefix, extra in TINY.items():
        if step.startswith(prefix + ' ') or step == prefix: return f'{step} {extra}'
    return step


def plan(text: str) -> list:
    "(id, step as written, step as run or None, reason not run, shown output) for every step of every README command."
    rows = []
    for cmd, shown, _ in readme_commands(text):
        steps = split_steps(cmd)
        for n, s in enumerate(steps):
            name = ' '.join(s.split()[:3])
            if s in VENV_STEPS: rows.append((name, s, None, 'a venv/install step: .ci/run runs it as written', None))
            elif s in NOT_RUN: rows.append((name, s, None, NOT_RUN[s], None))
            else: rows.append((name, s, tiny(s), None, shown if n == len(steps) - 1 else None))
    return rows


PLAN = plan(doc_text())
RUN = [r for r in PLAN if r[2] is not None]


def test_readme_parser_finds_the_commands():
    "The parser sees what a reader sees (a guard against a parser that finds nothing and so tests nothing)."
    cmds = [c for c, _, _ in readme_commands(doc_text())]
    assert any(c.startswith('python3 -m venv .venv') and 'dusss demo --out runs/demo --resume' in c for c in cmds)
    assert any(c.startswith('python3 -m venv .venv') and 'nbdev_test' in c for c in cmds)
    assert 'dusss check-data ../shared/data/MoNuSeg' in cmds
    assert any(c.startswith('torchrun ') for c in cmds)
    assert len(RUN) >= 12, [r[1] for r in RUN]
    sample = "```bash\na --x 1   # note\nb \\\n  --y 2\n```\n\n```\n$ c d\nout 1\n  ...\nlast\n```\n```python\nprint(1)\n```\n"
    assert readme_commands(sample) == [('a --x 1', None, 'bash'), ('b --y 2', None, 'bash'), ('c d', ['out 1', '  ...', 'last'], '$')]


def test_what_is_not_run_is_still_in_the_readme():
    "Every step of every README command runs below unless it is an install step (.ci/run runs those) or in NOT_RUN; both lists name real steps."
    for k in NOT_RUN: assert any(s == k for _, s, _, _, _ in PLAN), f'NOT_RUN lists {k!r}, which README.md no longer has'
    for k in VENV_STEPS[:4]: assert any(s == k for _, s, _, _, _ in PLAN), f'README.md no longer has the install step {k!r}'


@pytest.fixture(scope='module')
def clone(tmp_path_factory):
    "A fresh clone of the committed tree, with ../shared beside it (a link to the shared folder beside this repo)."
    top = tmp_path_factory.mktemp('readme')
    r = subprocess.run(['git', 'clone', '-q', str(REPO), str(top / 'clone')], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    shared = REPO.parent / 'shared'
    if shared.is_dir(): (top / 'shared').symlink_to(shared.resolve())
    return top / 'clone'


def _check_shown(shown: list, printed: str, step: str):
    "The README's shown output: its lines up to a `...` line must be the first lines printed, and its last line the last."
    got = [l.rstrip() for l in printed.rstrip('\n').splitlines()]
    head = []
    for l in shown:
        if l.strip() == '...': break
        head.append(l.rstrip())
    assert got[:len(head)] == head, f'{step}: the README shows\n' + '\n'.join(head) + '\nbut it prints\n' + '\n'.join(got[:len(head)])
    if len(head) < len(shown): assert got[-1] == shown[-1].rstrip(), f'{step}: the README ends with {shown[-1]!r}, it prints {got[-1]!r}'


def test_shown_output_check():
    "The check of a command's shown output: the lines before `...` open the output, the last line ends it."
    _check_shown(['a', '  b', '    ...', 'z'], 'a\n  b\nc\nz\n', 'cmd')
    with pytest.raises(AssertionError, match='the README shows'): _check_shown(['a', '  b', '    ...', 'z'], 'a\n  B\nz\n', 'cmd')
    with pytest.raises(AssertionError, match='the README ends with'): _check_shown(['a', '...', 'z'], 'a\nz\ny\n', 'cmd')
    with pytest.raises(AssertionError): _check_shown(['a', 'b'], 'a\n', 'cmd')


@pytest.mark.parametrize('name, step, run, why, shown', RUN, ids=[f'{i:02d} {r[0]}' for i, r in enumerate(RUN)])
def test_readme_command_runs(clone, name, step, run, why, shown):
    if '../shared/' in step and not (clone.parent / 'shared').is_dir():
        pytest.fail(f'{step!r} needs ../shared beside the repository ({REPO.parent / "shared"} does not exist)')
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}', 'HF_HUB_OFFLINE': '1'}
    r = subprocess.run(['bash', '-c', f'set -eo pipefail; {run}'], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'{run}\nexit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    if shown: _check_shown(shown, r.stdout, step)


if __name__ == '__main__':
    if sys.argv[1:] == ['--tiny-demo']: print(TINY['dusss demo'])
    else: sys.exit(f'usage: python {sys.argv[0]} --tiny-demo   (or run it with pytest)')
