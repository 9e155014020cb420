"""`dusss report` (issue 25's probe): a figure whose labels and legend fit, runs pooled only on the same data and never as repeated seeds,
and a clear one-line error naming an empty or garbled run file."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest, yaml
from PIL import Image
from dusss_kit.cli import main
from dusss_kit.report import load_runs, aggregate_runs, report_table, plot_report, write_report


def fake_run(path, method='dusss', dice=0.75, seed=0, ratio=0.25, data='/data/MoNuSeg', objective='dusss', split_seed=0, semi=None):
    "A stage-2 run folder holding only `results.json` and `config.yaml`, as `dusss train` writes them."
    p = Path(path); p.mkdir(parents=True)
    (p/'results.json').write_text(json.dumps({'method': method, 'split': 'test', 'n': 14, 'dice_mean': dice, 'dice_sd': 0.05, 'iou_mean': 0.6,
        'iou_sd': 0.06, 'hd95_mean': 12.5, 'hd95_sd': 3., 'best_epoch': 9, 'best_val_dice': 0.8, 'label_ratio': ratio}))
    (p/'config.yaml').write_text(yaml.safe_dump({'data': {'path': data, 'label_ratio': ratio, 'split_seed': split_seed}, 'vlm': {'objective': objective},
                                                 'semi': {'method': method, **(semi or {})}, 'train': {'seed': seed}}))
    return p


def many_runs(t: Path, long_path=False):
    "Every label the kit writes on the axis, on MoNuSeg (9 x labels: variants, the AMVLM objective, three ratios), and two more datasets."
    far = '/data/' + '/'.join(['a_rather_long_folder_name'] * 12) + '/MoNuSeg' if long_path else '/data/MoNuSeg'
    return [fake_run(t/'sup', method='supervised', dice=.70), fake_run(t/'mt', method='mean_teacher', dice=.72),
            fake_run(t/'d1', seed=1, data=far), fake_run(t/'d2', seed=2, dice=.77),
            fake_run(t/'dnt', dice=.6, semi={'text_loss': False, 'text_oracle': True}),
            fake_run(t/'am', objective='amvlm', seed=3, semi={'text_loss': False}), fake_run(t/'am2', objective='amvlm', seed=3),
            fake_run(t/'full', method='full', dice=.78), fake_run(t/'mt50', method='mean_teacher', ratio=0.5), fake_run(t/'d50', ratio=0.5),
            fake_run(t/'bm', ratio=0.5, data='/d/BM-Seg'), fake_run(t/'syn', data=None, seed=666, method='mean_teacher')]


def check_layout(fig):
    "No two x labels overlap; labels, titles, legend and key lie inside the figure; the legend overlaps no label and not the key."
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box = lambda a: a.get_window_extent(r)
    inside = lambda b: b.x0 >= fig.bbox.x0 - 0.5 and b.y0 >= fig.bbox.y0 - 0.5 and b.x1 <= fig.bbox.x1 + 0.5 and b.y1 <= fig.bbox.y1 + 0.5
    ticks = [(ax.get_title(), t.get_text(), box(t)) for ax in fig.axes for t in ax.get_xticklabels() if t.get_text()]
    assert len(ticks) >= 7
    for i, (ta, a, ba) in enumerate(ticks):
        assert inside(ba), f"x label {a!r} of {ta} leaves the figure: {ba} vs {fig.bbox}"
        for tb, b, bb in ticks[i + 1:]: assert not ba.overlaps(bb), f"x labels {a!r} ({ta}) and {b!r} ({tb}) overlap"
    for ax in fig.axes:
        for t in (ax.title, ax.yaxis.label, *ax.get_yticklabels()):
            if t.get_text(): assert inside(box(t)), f"{t.get_text()!r} leaves the figure"
    leg, texts = fig.legends[0], [t for t in fig.texts if t.get_text()]
    assert inside(box(leg)), f"legend {box(leg)} leaves the figure {fig.bbox}"
    for t in texts: assert inside(box(t)), f"key {box(t)} leaves the figure {fig.bbox}"
    for _, a, b in ticks: assert not box(leg).overlaps(b), f"legend overlaps x label {a!r}"
    for t in texts: assert not box(leg).overlaps(box(t)), "legend overlaps the key"
    for ax in fig.axes:
        for _, a, b in ticks: assert not box(ax.title).overlaps(b), f"title {ax.get_title()!r} overlaps x label {a!r}"


def test_figure_fits_its_labels(tmp_path):
    runs = load_runs(many_runs(tmp_path))
    fig = plot_report(runs)
    mo = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert fig.axes[1].get_title() == 'MoNuSeg' and len(mo) == 9 and 'dusss (C)\n(vlm.objective=amvlm)\n25%' in mo
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == 'kit (± sd over seeds)'
    assert 'LViT (TMI 2023), repository README' in [t.get_text() for t in fig.legends[0].get_texts()]
    check_layout(fig)
    plt.close(fig)


def test_figure_wraps_a_long_key_and_a_single_panel(tmp_path):
    fig = plot_report(load_runs(many_runs(tmp_path, long_path=True)))
    key = fig.texts[0].get_text()
    assert '\n    ' in key and key.replace('\n    ', '').count('a_rather_long_folder_name') == 12     # the long line wrapped (indented), the figure not widened for it
    check_layout(fig); plt.close(fig)
    one = load_runs([p for p in many_runs(tmp_path/'one') if p.name not in ('bm', 'syn')])   # the probe's case: one dataset, many labels
    fig = plot_report(one)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_xticklabels()) == 9
    check_layout(fig); plt.close(fig)


def test_saved_png_is_the_checked_figure(tmp_path):
    paths = many_runs(tmp_path/'runs')
    fig = plot_report(load_runs(paths)); w, h = fig.get_size_inches() * 110; plt.close(fig)
    write_report(paths, tmp_path/'rep')
    size = Image.open(tmp_path/'rep'/'report.png').size
    assert abs(size[0] - w) <= 1 and abs(size[1] - h) <= 1 and size[0] > 1000     # everything check_layout saw, nothing cut off


def test_two_folders_of_one_name_are_not_pooled(tmp_path):
    runs = load_runs([fake_run(tmp_path/'a', seed=666, data='/data/one/MoNuSeg', dice=.70),
                      fake_run(tmp_path/'b', seed=666, data='/data/two/MoNuSeg', dice=.72)])
    assert runs.dataset.tolist() == ['MoNuSeg'] * 2
    agg = aggregate_runs(runs)
    assert agg.n_runs.tolist() == [1, 1] and agg.variant.tolist() == ['data.path=/data/one/MoNuSeg', 'data.path=/data/two/MoNuSeg']
    tab = report_table(runs)
    assert '666, 666' not in tab and '| dusss [data.path=/data/one/MoNuSeg] | kit (seed 666) | 1 | 70.00 |' in tab
    assert '| dusss [data.path=/data/two/MoNuSeg] | kit (seed 666) | 1 | 72.00 |' in tab


def synth_folder(path, size=32):
    "A dataset folder as `dusss synth` leaves it, as far as the report looks: its dataset.json."
    path.mkdir(parents=True)
    (path/'dataset.json').write_text(json.dumps({'generator': 'dusss_kit.synth.synth_chest', 'version': 3, 'seed': 0, 'size': size}))
    return path


def test_synthetic_sets_pool_by_content(tmp_path):
    same_a, same_b, other = synth_folder(tmp_path/'d1'/'synth'), synth_folder(tmp_path/'d2'/'synth'), synth_folder(tmp_path/'d3'/'synth', size=64)
    # two demos' identical sets, seeds 1 and 2: one setting, pooled
    runs = load_runs([fake_run(tmp_path/'d1'/'dusss', seed=1, data=str(same_a)), fake_run(tmp_path/'d2'/'dusss', seed=2, data=str(same_b))])
    assert runs.dataset.tolist() == ['synthetic'] * 2 and aggregate_runs(runs).seeds.tolist() == [[1, 2]]
    # another set under the same name, same seed: a row each, named by its folder
    runs = load_runs([tmp_path/'d1'/'dusss', fake_run(tmp_path/'d3'/'dusss', seed=1, data=str(other))])
    agg = aggregate_runs(runs)
    assert agg.n_runs.tolist() == [1, 1] and agg.variant.tolist() == [f"data.path={same_a}", f"data.path={other}"]
    assert '1, 1' not in report_table(runs)


def test_repeated_seeds_are_never_two_seeds(tmp_path):
    a, b, c = fake_run(tmp_path/'a', seed=666), fake_run(tmp_path/'b', seed=666, dice=.7), fake_run(tmp_path/'c', seed=1)
    runs = load_runs([a, b, c])
    agg = aggregate_runs(runs)
    assert agg.n_runs.tolist() == [1, 1, 1] and agg.variant.tolist() == [f"run={a}", f"run={b}", f"run={c}"]
    tab = report_table(runs)
    assert '666, 666' not in tab and tab.count('kit (seed 666) | 1 |') == 2
    # the same folder named twice (a demo folder and its run, or a typo): read once, so seeds 666 and 1 pool
    demo = tmp_path/'demo'; fake_run(demo/'dusss', seed=666)
    once = load_runs([demo, demo/'dusss', c])
    assert len(once) == 2 and aggregate_runs(once).seeds.tolist() == [[1, 666]]
    # rows built by hand pool the same way
    hand = runs.drop(columns=['variant', 'config'])
    assert aggregate_runs(hand).n_runs.tolist() == [1, 1, 1] and aggregate_runs(hand.iloc[1:]).seeds.tolist() == [[1, 666]]


def test_one_seed_on_two_splits_shows_both(tmp_path):
    runs = load_runs([fake_run(tmp_path/'s0', seed=1), fake_run(tmp_path/'s1', seed=1, split_seed=1)])
    assert '| dusss | kit (seeds 1 (split 0), 1 (split 1)) | 2 |' in report_table(runs)


BAD = {  # file, content, what the one-line error must say
    'empty_results': ('results.json', '', 'results.json: empty (0 bytes); expected a JSON object of test metrics'),
    'blank_results': ('results.json', '  \n', 'results.json: empty (3 bytes)'),
    'cut_results': ('results.json', '{"method": "dusss",\n "dice_mean": 0.7', "results.json: not valid JSON at line 2 column 18 (Expecting ',' delimiter)"),
    'binary_results': ('results.json', b'\xff\xfe{}', 'results.json: not UTF-8 text (byte 0)'),
    'list_results': ('results.json', '[0.7, 0.6]', 'results.json: holds a list, not a JSON object of test metrics'),
    'text_dice': ('results.json', '{"method": "dusss", "dice_mean": "high", "label_ratio": 0.25}', "results.json: dice_mean is 'high'; expected a number"),
    'empty_config': ('config.yaml', '', 'config.yaml: empty (0 bytes); expected a mapping of config sections'),
    'cut_config': ('config.yaml', 'data:\n  path: [unclosed\nsemi: {', "config.yaml: not valid YAML at line 3 column 5 (expected ',' or ']', but got ':')"),
    'scalar_config': ('config.yaml', 'oops', 'config.yaml: holds a str, not a mapping of config sections'),
    'bad_section': ('config.yaml', 'data: 3\n', "config.yaml: section data is 3; expected a mapping of its settings"),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_run_file_is_one_clear_line(tmp_path, capsys, case):
    name, content, says = BAD[case]
    run = fake_run(tmp_path/'run')
    f = run/name
    (f.write_bytes if isinstance(content, bytes) else f.write_text)(content)
    before = f.read_bytes()
    assert main(['report', str(run), '--out', str(tmp_path/'rep')]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(f"dusss report: error: {f}: "), err   # one line, naming the file
    assert says in err, err
    hint = (f"re-run the evaluation (delete it, then `dusss train --config {run/'config.yaml'} --out {run} --resume`" if name == 'results.json'
            else "write the settings the run used there again")
    assert hint in err and f"or leave {run} out of the list" in err
    assert f.read_bytes() == before and not (tmp_path/'rep').exists()          # nothing touched, nothing written


def test_bad_run_file_from_the_command_line(tmp_path):
    run = fake_run(tmp_path/'run'); (run/'results.json').write_text('')
    dusss = shutil.which('dusss') or str(Path(sys.executable).parent/'dusss')
    p = subprocess.run([dusss, 'report', str(run), '--out', str(tmp_path/'rep')], capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1'})
    assert p.returncode == 1 and 'Traceback' not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and f"{run/'results.json'}: empty (0 bytes)" in p.stderr
