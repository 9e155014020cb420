"""The three explorers in a real browser, as a student meets them: JupyterLab started on 127.0.0.1 with a fresh token in
a temporary folder, Debian's Chromium driven headless by Selenium through Debian's chromedriver (its path given, so
Selenium Manager downloads nothing), a notebook that trains a tiny 'dusss' run and shows `browse_dataset`,
`refinement_explorer` and `report_explorer` on it. Run all, then per explorer: its widgets are in the page, its figure
is an image, and changing a control (slider, menu, text box) redraws that image. Screenshots of each explorer go to
$DUSSS_BROWSER_SHOTS (default build/browser_shots; docs/images/browser holds the ones the instructor notes show).
Skips, saying why, where Chromium, chromedriver, selenium or JupyterLab is missing.
(CI: .ci/run installs chromium and chromium-driver with apt-get where it can.)"""
import hashlib, importlib.util, io, json, os, secrets, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get('DUSSS_BROWSER_SHOTS') or REPO / 'build' / 'browser_shots')
RUN_TIMEOUT = 420   # s for the notebook's cells (the tiny run's training takes most of it: ~30-60 s on 2 loaded cores)


def _missing() -> str | None:
    "Why the browser test cannot run here, or None."
    if shutil.which('chromium') is None and shutil.which('chromium-browser') is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    if shutil.which('chromedriver') is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    for mod, pkg in (('selenium', 'selenium'), ('jupyterlab', 'jupyterlab'), ('nbformat', 'nbformat')):
        if importlib.util.find_spec(mod) is None: return f"the Python package {pkg} is not installed (pip install -e '.[dev]')"
    return None


NOTEBOOK_CELLS = [
    # the tiny run, made in the kernel itself (one import of torch, not two): 16 synthetic 32-pixel images, two epochs
    "from pathlib import Path\n"
    "from dusss_kit.config import load_config\n"
    "from dusss_kit.train import train\n"
    "from dusss_kit.test_utils import tiny_sets\n"
    "from dusss_kit.explore import browse_dataset, refinement_explorer, report_explorer, frontend_missing\n"
    "run = Path('run')   # beside the notebook: the explorers' titles read run, run/synth\n"
    "_ = train(load_config(overrides=[*tiny_sets('data.synth_n=16', 'train.lr=1e-3', 'train.epochs=2'), f'train.out={run}']))\n"
    "print('front-end missing:', frontend_missing())",
    "browse_dataset(run/'synth')",
    "refinement_explorer(run)",
    "report_explorer(run)",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _write_notebook(path: Path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, path)


def _settings(d: Path):
    "JupyterLab user settings for the test: every cell in the DOM (no windowing), no news or update check."
    for ext, name, val in (('@jupyterlab/notebook-extension', 'tracker', {'windowingMode': 'none'}),
                           ('@jupyterlab/apputils-extension', 'notification', {'fetchNews': 'false', 'checkForUpdates': False})):
        (d / ext).mkdir(parents=True, exist_ok=True)
        (d / ext / f'{name}.jupyterlab-settings').write_text(json.dumps(val))


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "JupyterLab on 127.0.0.1, a free port and a fresh token, serving a temporary folder that holds explore.ipynb: (url, token, folder)."
    why = _missing()
    if why: pytest.skip(why)
    root = tmp_path_factory.mktemp('lab')
    _write_notebook(root / 'explore.ipynb')
    home = root.parent / (root.name + '_jupyter')
    _settings(home / 'settings')
    port, token = _free_port(), secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if k not in ('IN_TEST', 'JUPYTER_TOKEN', 'MPLBACKEND')}   # a student's kernel: widgets on
    env.update(JUPYTER_CONFIG_DIR=str(home / 'config'), JUPYTER_RUNTIME_DIR=str(home / 'runtime'),
               JUPYTERLAB_SETTINGS_DIR=str(home / 'settings'), JUPYTERLAB_WORKSPACES_DIR=str(home / 'workspaces'),
               IPYTHONDIR=str(home / 'ipython'), PYTHONUNBUFFERED='1')
    log = open(home / 'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                             '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}',
                             '--LabApp.expose_app_in_browser=True', '--LabApp.extension_manager=readonly', '--ServerApp.terminals_enabled=False',
                             *(['--allow-root'] if os.geteuid() == 0 else [])],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}'
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None: pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{(home / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=5) as r:
                    if r.status == 200: break
            except OSError: pass
            if time.time() - t0 > 120: pytest.fail(f"JupyterLab did not answer on {url} within 120 s:\n{(home / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        print(f'JupyterLab answered in {time.time() - t0:.0f} s')
        yield url, token, root
    finally:
        proc.terminate()                                   # the server shuts its kernel down
        try: proc.wait(20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, 9); proc.wait()
        log.close()


@pytest.fixture(scope='module')
def browser(lab, tmp_path_factory):
    "Headless Chromium through Debian's chromedriver (Selenium Manager is skipped: the driver's path is given)."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    opts.binary_location = shutil.which('chromium') or shutil.which('chromium-browser')
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--window-size=1280,1400',
              '--no-first-run', '--disable-extensions', '--force-device-scale-factor=1',
              f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(a)
    t0 = time.time()
    drv = webdriver.Chrome(service=Service(executable_path=shutil.which('chromedriver')), options=opts)
    print(f'Chromium started in {time.time() - t0:.0f} s')
    try: yield drv
    finally: drv.quit()


def _wait(drv, cond, timeout: float, what: str, every: float = 0.5):
    "Poll `cond(drv)` until it is truthy (returned); fail naming `what` after `timeout` s."
    t0, last = time.time(), None
    while time.time() - t0 < timeout:
        try:
            v = cond(drv)
            if v: return v
        except Exception as ex: last = ex                      # a node replaced while it was read: try again
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last!r})" if last else ''))


CELLS_JS = """
const nb = window.jupyterapp.shell.currentWidget;
if (!nb || !nb.content || !nb.sessionContext || !nb.sessionContext.session) return null;
const cells = [];
for (const c of nb.content.model.cells) {
  const outs = c.outputs ? c.outputs.toJSON() : [];
  cells.push({n: c.executionCount, errors: outs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n')),
              stderr: outs.filter(o => o.output_type === 'stream' && o.name === 'stderr').map(o => Array.isArray(o.text) ? o.text.join('') : o.text).join('')});
}
return {status: nb.sessionContext.session.kernel ? nb.sessionContext.session.kernel.status : 'none', cells: cells};
"""


def _cells(drv): return drv.execute_script(CELLS_JS)


def _outputs(drv):
    "The output areas of the notebook's code cells, in order."
    return drv.find_elements('css selector', '.jp-Notebook .jp-CodeCell .jp-Cell-outputArea')


def _img_hash(area) -> str | None:
    "A hash of the PNG bytes of the figure inside an explorer's output widget, None while there is none."
    imgs = area.find_elements('css selector', '.widget-output img')
    if not imgs: return None
    src = imgs[0].get_attribute('src') or ''
    return hashlib.sha1(src.encode()).hexdigest() if src.startswith('data:image/png;base64,') and len(src) > 200 else None


def _redraws(drv, area, act, what: str, timeout: float = 60) -> str:
    "Do `act()`, then wait until the explorer's figure in `area` is a different image; returns the new hash."
    before = _wait(drv, lambda d: _img_hash(area), 30, f"the figure of {what} before the change")
    act()
    return _wait(drv, lambda d: (h := _img_hash(area)) and h != before and h, timeout, f"{what}: the figure to redraw")


def _shot(area, name: str):
    "A small screenshot of an explorer (its output area; `area` the driver: the whole window), as a 64-colour PNG."
    from PIL import Image
    SHOTS.mkdir(parents=True, exist_ok=True)
    if hasattr(area, 'parent'): area.parent.execute_script("arguments[0].scrollIntoView({block: 'start'});", area); time.sleep(0.3)
    img = Image.open(io.BytesIO(area.get_screenshot_as_png() if not hasattr(area, 'parent') else area.screenshot_as_png)).convert('RGB')
    img.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(SHOTS / f'{name}.png', optimize=True)


def _page_errors(area) -> list:
    "Signs of a front-end that did not draw the widget (JupyterLab's placeholder texts, the static fallback)."
    t = area.text
    return [s for s in ('Error displaying widget', 'Loading widget', 'No widget front-end', 'model not found') if s in t]


def test_explorers_in_browser(lab, browser):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    url, token, root = lab
    drv = browser
    t0 = time.time()
    drv.get(f'{url}/lab/tree/explore.ipynb?token={token}')
    _wait(drv, lambda d: (c := _cells(d)) and c['status'] == 'idle' and len(c['cells']) == len(NOTEBOOK_CELLS), 120,
          "JupyterLab to open explore.ipynb with an idle kernel")
    drv.execute_script("window.jupyterapp.shell.collapseLeft();"           # the file browser closed: the notebook's full width
                       "window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def done(d):
        c = _cells(d)
        errs = [e for x in c['cells'] for e in x['errors']]
        if errs: pytest.fail("a notebook cell raised:\n" + '\n'.join(errs)[-4000:])
        return c['status'] == 'idle' and all(x['n'] for x in c['cells'])
    _wait(drv, done, RUN_TIMEOUT, "the notebook's cells to run (the tiny run trains in the first)", every=1)
    t_run = time.time() - t0
    stderr = [x['stderr'] for x in _cells(drv)['cells']]
    if stderr[0]: print("the tiny run's stderr:", stderr[0][-1500:])
    assert not any(stderr[1:]), f"an explorer's cell wrote to stderr (a red box under it): {stderr[1:]}"
    areas = _outputs(drv)
    assert len(areas) == len(NOTEBOOK_CELLS)
    assert 'front-end missing: None' in areas[0].text, f"the kernel sees no widget front-end: {areas[0].text[-500:]}"

    # every explorer is a live widget with its figure drawn as an image, no fallback or widget error on the page
    names = ('browse_dataset', 'refinement_explorer', 'report_explorer')
    for area, name in zip(areas[1:], names):
        _wait(drv, lambda d: area.find_elements('css selector', '.jupyter-widgets.widget-vbox') and _img_hash(area), 60,
              f"{name}'s widgets and figure in the page")
        assert not _page_errors(area), f"{name}: {_page_errors(area)}\n{area.text[:1000]}"
    browse, refine, report = areas[1:]

    # browse_dataset: the index slider (keyboard on its handle, as a user does) and the split menu
    assert browse.find_elements('css selector', '.widget-slider') and browse.find_elements('css selector', '.widget-dropdown select')
    readout = lambda: browse.find_element('css selector', '.widget-readout').text.strip()
    assert readout() == '0'
    handle = browse.find_element('css selector', '.widget-slider .noUi-handle')
    _redraws(drv, browse, lambda: handle.send_keys(Keys.ARROW_RIGHT), "browse_dataset's index slider moved to 1")
    assert readout() == '1'
    _shot(browse, 'browse_dataset')
    split = Select(browse.find_element('css selector', '.widget-dropdown select'))
    if len(split.options) > 1:                                  # the tiny run's data: train, val and test
        _redraws(drv, browse, lambda: split.select_by_index(1), "browse_dataset's split menu changed")

    # refinement_explorer: the epoch slider back to epoch 1, then the image menu
    assert refine.find_elements('css selector', '.widget-slider .noUi-handle')
    ep_readout = lambda: refine.find_element('css selector', '.widget-readout').text.strip()
    assert ep_readout() == '2'
    _redraws(drv, refine, lambda: refine.find_element('css selector', '.widget-slider .noUi-handle').send_keys(Keys.ARROW_LEFT),
             "refinement_explorer's epoch slider moved to epoch 1")
    assert ep_readout() == '1'
    _redraws(drv, refine, lambda: Select(refine.find_element('css selector', '.widget-dropdown select')).select_by_index(1),
             "refinement_explorer's image menu changed")
    _shot(refine, 'refinement_explorer')

    # report_explorer: type another report (the figure follows once the box loses focus), then another image
    box = report.find_element('css selector', '.widget-textarea textarea')
    assert box.get_attribute('value').strip(), "report_explorer's text box starts empty, not with the image's report"
    assert drv.execute_script("return arguments[0].scrollHeight <= arguments[0].clientHeight + 2", box), \
        "report_explorer's text box hides part of the report behind a scroll bar"

    def retype():
        box.click(); box.send_keys(Keys.CONTROL, 'a'); box.send_keys('A large lesion in the lower right lung.', Keys.TAB)
    _redraws(drv, report, retype, "report_explorer's report typed")
    _shot(report, 'report_explorer')
    menu = Select(report.find_element('css selector', '.widget-dropdown select'))
    _redraws(drv, report, lambda: menu.select_by_index(1), "report_explorer's image menu changed")
    assert box.get_attribute('value') != 'A large lesion in the lower right lung.', "the image menu did not load that image's report"
    for area, name in zip((browse, refine, report), names):
        assert not _page_errors(area), f"{name} after the changes: {_page_errors(area)}"
    drv.execute_script("arguments[0].scrollIntoView({block: 'start'});", refine); time.sleep(0.3)
    _shot(drv, 'page')                                         # the whole window: JupyterLab around the last two explorers
    severe = [l for l in drv.get_log('browser') if l.get('level') == 'SEVERE']
    print('browser console errors:', *[l['message'][:300] for l in severe], sep='\n  ')
    assert not [l for l in severe if 'widget' in l['message'].lower()], "the widget front-end logged errors (above)"
    print(f"browser test: notebook ran in {t_run:.0f} s, the whole test in {time.time() - t0:.0f} s; screenshots in {SHOTS}")
