#!/usr/bin/env python
"""Run the tutorials at their full sizes and store small outputs, so they can be read without running them.

Usage: python tools/run_tutorials.py [NAME_OR_PATH ...]   (default: every CPU tutorial, i.e. all of
nbs/tutorials but gpu_reproduction; `gpu_reproduction` may be named: only its non-cuda cells run).

Each notebook is executed with execnb in its own folder (cwd nbs/tutorials, as nbdev_test does) but with
IN_TEST unset, so the params cells keep their full sizes; DUSSS_DATA, DUSSS_RUNS and DUSSS_DATASET are unset
too, so the stored outputs are those of the synthetic data in a temporary folder. Cells flagged `#| cuda`
(or `#| eval: false`) are not run and keep no outputs. A cell that raises stops the run and the notebook
is left as it was. The outputs are then made small before the notebook is written back:
- every image/png is re-encoded: a 256-colour palette PNG, or a JPEG (quality 80) where that is clearly
  smaller (photographs), whichever is smaller; image/jpeg outputs (viz.as_jpeg) are re-encoded (optimised,
  progressive) where that is smaller; an image still over MAX_IMAGE_KB is re-encoded as JPEG at a lower
  quality, then scaled down; a notebook still over NB_BUDGET_KB has its JPEGs re-encoded at qualities
  70, 60, 50 until it fits;
- stream outputs keep what a terminal would show (a `\\r` progress update overwrites its line) and only
  their last KEEP_LINES lines, with a note saying how many were left out; paths inside the repository
  are written relative to it;
- text/html over MAX_HTML_KB is dropped (its text/plain stays), widget views are dropped (they need a
  live kernel), and execution timing metadata is removed.
`--compress-only` redoes this last step on the outputs a notebook already stores, without running it.
Finally `nbdev_clean --fname NB` (settings.ini: clear_all = False, so outputs stay) normalises the file.
Prints, per tutorial, the seconds taken and the size stored in KB."""
import argparse, base64, io, json, os, re, subprocess, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUT = ROOT/'nbs'/'tutorials'
GPU_ONLY = {'gpu_reproduction'}           # its training cells need a CUDA GPU: not run by default
KEEP_LINES = 40                           # last lines kept of each stream output
MAX_IMAGE_KB = 150                        # no stored image above this
MAX_HTML_KB = 64                          # text/html above this is dropped (text/plain stays)
JPEG_QUALITY = 80
LOWER_QUALITIES = (70, 60, 50)            # tried in turn while a notebook is over NB_BUDGET_KB
NB_BUDGET_KB = 390                        # tests/test_tutorials.py allows 400 KB a notebook
JPEG_WIN = 0.75                           # JPEG replaces the palette PNG only below this fraction of its size
UNSET = ('IN_TEST', 'DUSSS_DATA', 'DUSSS_RUNS', 'DUSSS_DATASET')


def flags(src: str) -> set:
    "The nbdev directives of a cell's first comment lines, e.g. {'cuda', 'eval: false'}."
    out = set()
    for line in src.splitlines():
        if not line.strip(): continue
        m = re.match(r'\s*#\|\s*(.*)', line)
        if not m: break
        out.add(re.sub(r'\s+', ' ', m.group(1).strip().lower()))
    return out


def skipped(src: str) -> bool:
    "True for cells this tool does not run: flagged `cuda`, or `eval: false`."
    f = flags(src)
    return 'cuda' in f or 'eval: false' in f or any(x.split()[:1] == ['cuda'] for x in f)


# ----------------------------------------------------------------------------------------- images
def _img(b64) -> bytes:
    return base64.b64decode(''.join(b64) if isinstance(b64, list) else b64)


def _b64(data: bytes) -> str: return base64.b64encode(data).decode() + '\n'


def _rgb(im):
    from PIL import Image
    if im.mode in ('RGBA', 'LA', 'P'):
        im = im.convert('RGBA'); bg = Image.new('RGB', im.size, 'white'); bg.paste(im, mask=im.getchannel('A')); return bg
    return im.convert('RGB')


def _png_palette(im) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    _rgb(im).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, 'PNG', optimize=True)
    return buf.getvalue()


def _jpeg(im, quality=JPEG_QUALITY) -> bytes:
    buf = io.BytesIO(); _rgb(im).save(buf, 'JPEG', quality=quality, optimize=True, progressive=True); return buf.getvalue()


def _fit(im, data: bytes, fmt: str, quality=JPEG_QUALITY) -> tuple:
    "(bytes, format) no larger than MAX_IMAGE_KB: lower JPEG qualities, then smaller scales."
    from PIL import Image
    q, scale = quality, 1.0
    while len(data) > MAX_IMAGE_KB * 1024:
        if q > 50: q -= 10
        else: scale *= 0.8
        small = im if scale == 1.0 else im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))), Image.LANCZOS)
        data, fmt = _jpeg(small, q), 'jpeg'
    return data, fmt


def compress_image(data: bytes, fmt: str, quality=JPEG_QUALITY) -> tuple:
    "The smallest legible encoding of one image output, JPEGs at `quality` at the most: (bytes, 'png' or 'jpeg')."
    from PIL import Image
    im = Image.open(io.BytesIO(data)); im.load()
    if fmt == 'png':
        cands = [(data, 'png'), (_png_palette(im), 'png')]
        data, fmt = min(cands, key=lambda c: len(c[0]))
        j = _jpeg(im, quality)
        if len(j) < JPEG_WIN * len(data): data, fmt = j, 'jpeg'
    else:
        j = _jpeg(im, quality)
        if quality < JPEG_QUALITY or len(j) < len(data): data = j
    return _fit(im, data, fmt, quality)


# ----------------------------------------------------------------------------------------- text
def terminal(text: str) -> list:
    "Lines as a terminal shows them: within a line, what follows the last carriage return (a line a progress bar cleared is left out)."
    out = []
    for l in text.split('\n'):
        vis = l.rstrip('\r').rsplit('\r', 1)[-1] if '\r' in l.rstrip('\r') else l.rstrip('\r')
        if '\r' in l and not vis.strip(): continue
        out.append(vis)
    return out


def shorten_stream(text: str, keep=KEEP_LINES) -> str:
    lines = terminal(text.replace(f'{ROOT}/', ''))      # warnings name files relative to the repository
    end = lines[-1] == ''                       # text ended with a newline
    body = lines[:-1] if end else lines
    if len(body) > keep:
        body = [f'[... {len(body) - keep} earlier lines not stored (tools/run_tutorials.py) ...]'] + body[-keep:]
    return '\n'.join(body) + ('\n' if end else '')


# ----------------------------------------------------------------------------------------- outputs
def small_outputs(outputs: list, quality=JPEG_QUALITY) -> list:
    "The outputs of one cell made small (see the module's docstring), JPEGs at `quality` at the most."
    res = []
    for o in outputs:
        o = dict(o)
        if o.get('output_type') == 'stream':
            text = ''.join(o['text']) if isinstance(o['text'], list) else o['text']
            text = shorten_stream(text)
            if not text: continue
            o['text'] = text.splitlines(True)
        elif 'data' in o:
            data, meta = dict(o['data']), dict(o.get('metadata') or {})
            data.pop('application/vnd.jupyter.widget-view+json', None)
            if 'text/html' in data and len(''.join(data['text/html'])) > MAX_HTML_KB * 1024 and 'text/plain' in data:
                data.pop('text/html')
            for k in [k for k in data if k in ('image/png', 'image/jpeg')]:
                new, fmt = compress_image(_img(data.pop(k)), k.split('/')[1], quality)
                data[f'image/{fmt}'] = _b64(new)
                if k in meta: meta[f'image/{fmt}'] = meta.pop(k)
            if not data: continue
            o['data'], o['metadata'] = data, meta
        res.append(o)
    return res


def image_sizes_kb(nb: dict) -> list:
    return [len(_img(v)) / 1024 for c in nb['cells'] for o in c.get('outputs', [])
            for k, v in o.get('data', {}).items() if k.startswith('image/') and 'svg' not in k]


def store(nb, path: Path):
    "Write `nb` (read with execnb) to `path` with small outputs, within NB_BUDGET_KB if lower JPEG qualities get it there; nbdev_clean it."
    from execnb.nbio import write_nb, nb2str
    raw = {i: json.loads(json.dumps(c.outputs)) for i, c in enumerate(nb.cells) if c.cell_type == 'code'}
    for q in (JPEG_QUALITY, *LOWER_QUALITIES):
        for i, outs in raw.items():
            nb.cells[i].outputs = small_outputs(outs, q)
            nb.cells[i].metadata.pop('execution', None)
        if len(nb2str(nb).encode()) <= NB_BUDGET_KB * 1024: break
    write_nb(nb, path)
    subprocess.run(['nbdev_clean', '--fname', str(path)], check=True, cwd=ROOT)
    return q


# ----------------------------------------------------------------------------------------- running
def run(path: Path, verbose=False) -> dict:
    "Execute `path` at its full sizes, store its small outputs, nbdev_clean it; the timings and sizes."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    for k in UNSET: os.environ.pop(k, None)
    cwd, t0 = os.getcwd(), time.time()
    os.chdir(path.parent)
    try:
        nb = read_nb(path)
        sh = CaptureShell(mpl_format='png')   # not retina: half the pixels of every figure
        sh.set_path(path.parent)
        cell_s = []
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code': continue
            cell.outputs, cell.execution_count = [], None
            if skipped(cell.source): continue
            tc = time.time()
            sh.cell(cell, verbose=verbose)
            cell_s.append((time.time() - tc, i))
            if sh.exc:
                print(f"{path.name}: cell {i} raised; the notebook is left as it was.\n--- cell {i}:\n{cell.source}\n---", file=sys.stderr)
                traceback.print_exception(type(sh.exc), sh.exc, sh.exc.__traceback__)
                raise SystemExit(1)
        quality = store(nb, path)
    finally:
        os.chdir(cwd)
        import matplotlib.pyplot as plt; plt.close('all')
    secs = time.time() - t0
    stored = json.loads(path.read_text())
    imgs = image_sizes_kb(stored)
    return dict(name=path.stem, seconds=round(secs), kb=round(path.stat().st_size / 1024), images=len(imgs), quality=quality,
                largest_image_kb=round(max(imgs, default=0)), slowest_cells=sorted(cell_s, reverse=True)[:3])


def resolve(arg: str) -> Path:
    p = Path(arg)
    if p.suffix != '.ipynb': p = TUT/f'{arg}.ipynb'
    if not p.is_file(): raise SystemExit(f'no tutorial {arg!r} ({p})')
    return p.resolve()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('notebooks', nargs='*', help='tutorial names (quickstart) or paths; default: every CPU tutorial')
    ap.add_argument('--verbose', action='store_true', help="show the cells' output while they run")
    ap.add_argument('--compress-only', action='store_true', help='only make the outputs already stored small (no run)')
    a = ap.parse_args(argv)
    nbs = [resolve(n) for n in a.notebooks] or sorted(p for p in TUT.glob('*.ipynb') if not p.name.startswith('_') and p.stem not in GPU_ONLY)
    for p in nbs:
        if a.compress_only:
            from execnb.nbio import read_nb
            q = store(read_nb(p), p)
            imgs = image_sizes_kb(json.loads(p.read_text()))
            print(f"{p.stem}: {p.stat().st_size / 1024:.0f} KB stored, {len(imgs)} images (largest {max(imgs, default=0):.0f} KB), JPEG quality {q} at the most", flush=True)
            continue
        print(f"{p.stem}: running (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})", flush=True)
        r = run(p, verbose=a.verbose)
        slow = ', '.join(f"cell {i}: {s:.0f} s" for s, i in r['slowest_cells'])
        print(f"{r['name']}: {r['seconds']} s, {r['kb']} KB stored, {r['images']} images (largest {r['largest_image_kb']} KB, JPEG quality {r['quality']} at the most); slowest {slow}", flush=True)


if __name__ == '__main__':
    main()
