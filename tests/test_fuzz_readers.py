"""Fuzz-style tests of the readers with damaged files: truncated PNG and TIFF, empty files, random bytes,
one format under another's extension, unusual modes, headers claiming enormous images, and broken
text tables. Every case either reads correctly or raises a `DataError` that names the file and says
what was expected; none may hang, leak a decoder's own exception, or crash the interpreter.

The cases that could exhaust memory or crash a decoder (enormous headers, and one pass over every
damaged image) run in a child interpreter with a memory cap and a time limit, so a regression shows
as a failed test rather than a hung or killed test run."""
import io, json, struct, subprocess, sys, textwrap, time, zipfile, zlib
from pathlib import Path
import numpy as np, pandas as pd, pytest, tifffile
from PIL import Image
from conftest import write_lvit
from dusss_kit.data import (DataError, MAX_PIXELS, Record, SegDataset, check_data, image_size, read_image,
                            read_mask, read_text_table, scan_dataset)

H, W = 40, 48
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
GREY = RNG.integers(0, 256, (H, W), dtype=np.uint8)
MASK = np.zeros((H, W), np.uint8); MASK[5:20, 10:30] = 255
LIMIT_S = 10.0         # a reader answers in well under a second on a 40×48 file; generous for a loaded machine
IMG_EXPECTED = 'expected a'   # every image error says what was expected: "expected a complete PNG, JPEG or TIFF file", ...
BROKEN = 'expected a complete PNG, JPEG or TIFF file'   # what a file that cannot be decoded is told


def timed(fn, *args, limit=LIMIT_S):
    "Call `fn`, failing the test if it takes longer than `limit` seconds (a hang shows as a slow, failed test)."
    t = time.perf_counter()
    try: return fn(*args)
    finally: assert time.perf_counter() - t < limit, f"{fn.__name__}{args} took {time.perf_counter() - t:.1f} s"


def assert_clear_error(fn, path, *needles):
    "`fn(path)` raises a DataError whose message names the file and contains every needle."
    with pytest.raises(DataError) as e: timed(fn, path)
    msg = str(e.value)
    assert Path(path).name in msg, msg
    for n in needles: assert n in msg, f"{n!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------------------------------------
# Valid files and ways of damaging them

def png_bytes(a=RGB, **kw) -> bytes:
    b = io.BytesIO(); Image.fromarray(a).save(b, 'PNG', **kw); return b.getvalue()

def tiff_bytes(a=RGB, **kw) -> bytes:
    b = io.BytesIO(); tifffile.imwrite(b, a, **kw); return b.getvalue()

def jpeg_bytes(a=RGB) -> bytes:
    b = io.BytesIO(); Image.fromarray(a).save(b, 'JPEG', quality=90); return b.getvalue()

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

def huge_png(w: int, h: int) -> bytes:
    "A few hundred bytes of PNG whose IHDR (with a valid CRC) claims w×h grey pixels."
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + png_chunk(b'IDAT', zlib.compress(b'\0' * 4096))
            + png_chunk(b'IEND', b''))

def patched_png(w: int, h: int) -> bytes:
    "A valid tiny PNG with only IHDR's width, height and CRC patched."
    b = bytearray(png_bytes(GREY[:4, :4]))
    b[16:24] = struct.pack('>II', w, h); b[29:33] = struct.pack('>I', zlib.crc32(bytes(b[12:29])))
    return bytes(b)

def huge_tiff(w: int, h: int) -> bytes:
    "A valid 2×2 TIFF whose ImageWidth/ImageLength entries are rewritten as LONGs claiming w×h."
    b = bytearray(tiff_bytes(np.zeros((2, 2), np.uint8)))
    with tifffile.TiffFile(io.BytesIO(bytes(b))) as tf:
        offs = [(tf.pages[0].tags[k].offset, v) for k, v in (('ImageWidth', w), ('ImageLength', h))]
    for off, v in offs: b[off + 2:off + 4] = struct.pack('<H', 4); b[off + 8:off + 12] = struct.pack('<I', v)
    return bytes(b)

def cut(data: bytes, where) -> bytes:
    n = {'half': len(data) // 2, 'len-10': len(data) - 10}.get(where, where)
    return data[:n]


# ---------------------------------------------------------------------------------------------
# Damaged images: read_image and read_mask must refuse them with a clear error

DAMAGED = {   # id: (file name, bytes, needle the message must contain besides the file name)
    'empty.png': ('empty.png', b'', 'empty (0 bytes)'),
    'empty.tif': ('empty.tif', b'', 'empty (0 bytes)'),
    'empty.jpg': ('empty.jpg', b'', 'empty (0 bytes)'),
    'random.png': ('random.png', RNG.bytes(600), BROKEN),
    'random.tif': ('random.tif', RNG.bytes(600), BROKEN),
    'text-named.png': ('notes.png', b'Image,Description\na.png,left lung\n', BROKEN),
    'png-magic-then-garbage': ('magic.png', b'\x89PNG\r\n\x1a\n' + RNG.bytes(200), BROKEN),
    'tiff-magic-then-garbage': ('magic.tif', b'II*\0' + RNG.bytes(200), BROKEN),
    'tiff-magic-only': ('magic4.tif', b'II*\0', BROKEN),
    **{f'png-cut-{w}': (f'cut_{w}.png', cut(png_bytes(), w), 'cannot be decoded') for w in (1, 8, 33, 'half')},
    **{f'tiff-cut-{w}': (f'cut_{w}.tif', cut(tiff_bytes(), w), 'no readable page' if w == 8 else BROKEN)
       for w in (1, 8, 33, 'half', 'len-10')},
    'jpeg-cut-half': ('cut_half.jpg', cut(jpeg_bytes(), 'half'), BROKEN),
}
for w in (0,):   # "truncated at 0" is an empty file
    DAMAGED[f'png-cut-{w}'] = (f'cut_{w}.png', b'', 'empty (0 bytes)'); DAMAGED[f'tiff-cut-{w}'] = (f'cut_{w}.tif', b'', 'empty (0 bytes)')


@pytest.mark.parametrize('reader', [read_image, read_mask], ids=lambda f: f.__name__)
@pytest.mark.parametrize('case', list(DAMAGED))
def test_damaged_image_is_a_clear_error(tmp_path, case, reader):
    name, data, needle = DAMAGED[case]
    (tmp_path / name).write_bytes(data)
    msg = assert_clear_error(reader, tmp_path / name, needle, IMG_EXPECTED)
    assert 'PNG, JPEG or TIFF' in msg    # what a readable file would have been


@pytest.mark.parametrize('case', list(DAMAGED))
def test_damaged_image_size(tmp_path, case):
    "image_size reads the header only: it fails when the header is damaged, and otherwise gives the true size."
    name, data, needle = DAMAGED[case]
    (tmp_path / name).write_bytes(data)
    try: hw = timed(image_size, tmp_path / name)
    except DataError as e: assert name in str(e) and IMG_EXPECTED in str(e), str(e)
    else: assert hw == (H, W), hw   # header intact, pixels cut: decoding (read_image) is what catches it


@pytest.mark.parametrize('fmt', ['png', 'tif'])
def test_truncated_in_the_pixels_keeps_its_header(tmp_path, fmt):
    data = png_bytes() if fmt == 'png' else tiff_bytes()
    (tmp_path / f'x.{fmt}').write_bytes(cut(data, 'half'))
    assert image_size(tmp_path / f'x.{fmt}') == (H, W)
    assert_clear_error(read_image, tmp_path / f'x.{fmt}', 'cannot be decoded')


def test_png_cut_only_in_its_end_marker_is_read_intact(tmp_path):
    "The last 10 bytes of a PNG are the IEND chunk's tail: every pixel is still there, so the image reads exactly."
    (tmp_path / 'x.png').write_bytes(cut(png_bytes(), 'len-10'))
    np.testing.assert_array_equal(timed(read_image, tmp_path / 'x.png'), np.moveaxis(RGB, -1, 0) / np.float32(255))


# ---------------------------------------------------------------------------------------------
# One format under another's extension: the content decides

def test_jpeg_named_png_is_read(tmp_path):
    (tmp_path / 'x.png').write_bytes(jpeg_bytes())
    ref = np.asarray(Image.open(io.BytesIO(jpeg_bytes())).convert('RGB'))
    np.testing.assert_array_equal(read_image(tmp_path / 'x.png'), np.moveaxis(ref, -1, 0) / np.float32(255))


@pytest.mark.parametrize('name,data', [('x.tif', png_bytes()), ('x.png', tiff_bytes()), ('x.tiff', png_bytes())],
                         ids=['png-named-tif', 'tiff-named-png', 'png-named-tiff'])
def test_other_format_under_extension_is_read(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    np.testing.assert_array_equal(timed(read_image, tmp_path / name), np.moveaxis(RGB, -1, 0) / np.float32(255))
    assert image_size(tmp_path / name) == (H, W)


# ---------------------------------------------------------------------------------------------
# Unusual modes. read_image's contract: (C, H, W) float32 in [0, 1], C = 1 (grey) or 3 (colour),
# alpha dropped; palette and CMYK become RGB; min-is-white TIFFs are inverted to min-is-black.

def chw(a): a = np.asarray(a, np.float32); return (a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0))

def _save(im, ext, **kw):
    b = io.BytesIO(); im.save(b, {'png': 'PNG', 'tif': 'TIFF'}[ext], **kw); return b.getvalue()

P_IMG = Image.fromarray(RGB).convert('P')    # web palette
MODES = {   # id: (file name, bytes, expected read_image result)
    'P.png': ('p.png', _save(P_IMG, 'png'), chw(P_IMG.convert('RGB')) / 255),
    'P.tif': ('p.tif', _save(P_IMG, 'tif'), chw(P_IMG.convert('RGB')) / 255),
    'P-transparent.png': ('pt.png', _save(P_IMG, 'png', transparency=0), chw(P_IMG.convert('RGB')) / 255),
    'LA.png': ('la.png', _save(Image.fromarray(GREY).convert('LA'), 'png'), chw(GREY) / 255),
    'LA.tif': ('la.tif', _save(Image.fromarray(GREY).convert('LA'), 'tif'), chw(GREY) / 255),
    'RGBA.png': ('rgba.png', _save(Image.fromarray(RGB).convert('RGBA'), 'png'), chw(RGB) / 255),
    'RGBA.tif': ('rgba.tif', tiff_bytes(np.dstack([RGB, GREY])), chw(RGB) / 255),
    'I;16.png': ('i16.png', png_bytes(GREY.astype(np.uint16) * 257), chw(GREY) / 255),
    'I;16.tif': ('i16.tif', tiff_bytes(GREY.astype(np.uint16) * 257), chw(GREY) / 255),
    'F-unit.tif': ('f.tif', tiff_bytes(GREY.astype(np.float32) / 255), chw(GREY) / 255),
    'F-range.tif': ('fr.tif', tiff_bytes(GREY.astype(np.float32) * 4 - 100),
                    chw((GREY.astype(np.float32) - GREY.min()) / (GREY.max() - GREY.min()))),
    'F-channels-first.tif': ('fc.tif', tiff_bytes(np.moveaxis(RGB, -1, 0).astype(np.float32) / 255, photometric='rgb', planarconfig='separate'), chw(RGB) / 255),
    'CMYK.tif': ('cmyk.tif', _save(Image.fromarray(RGB).convert('CMYK'), 'tif'), chw(RGB) / 255),
    '1.png': ('b.png', _save(Image.fromarray(GREY > 127), 'png'), chw(GREY > 127)),
    '1.tif': ('b.tif', _save(Image.fromarray(GREY > 127), 'tif'), chw(GREY > 127)),
    'miniswhite.tif': ('mw.tif', tiff_bytes(GREY, photometric='miniswhite'), chw(255 - GREY) / 255),
    'jpeg.jpg': ('x.jpg', jpeg_bytes(), chw(Image.open(io.BytesIO(jpeg_bytes())).convert('RGB')) / 255),
}


@pytest.mark.parametrize('case', list(MODES))
def test_mode_is_read_with_correct_values(tmp_path, case):
    name, data, want = MODES[case]
    (tmp_path / name).write_bytes(data)
    got = timed(read_image, tmp_path / name)
    assert got.dtype == np.float32 and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    assert 0 <= got.min() and got.max() <= 1
    np.testing.assert_allclose(got, want, atol=1e-6)


REFUSED_MODES = {   # id: (file name, bytes, needles): pixel values the reader cannot map to [0, 1] honestly
    'int32-large.tif': ('i32.tif', tiff_bytes(GREY.astype(np.int32) * 1000), ('int32', 'values 0..', 'expected unsigned 8- or 16-bit')),
    'int16-negative.tif': ('ct.tif', tiff_bytes(GREY.astype(np.int16) - 1000), ('int16', 'values -1000..', 'expected unsigned')),
    'complex.tif': ('c.tif', tiff_bytes(np.ones((H, W), np.complex64)), ('complex64', 'expected')),
    'float-nan.tif': ('nan.tif', tiff_bytes(np.full((H, W), np.nan, np.float32)), ('NaN',)),
    '5-channels.tif': ('c5.tif', tiff_bytes(RNG.integers(0, 256, (H, W, 5), dtype=np.uint8), photometric='minisblack',
                                            planarconfig='contig'), ('(40, 48, 5)', 'expected (H, W) or (H, W, C) with C in 1..4')),
}


@pytest.mark.parametrize('case', list(REFUSED_MODES))
def test_unsupported_mode_is_a_clear_error(tmp_path, case):
    name, data, needles = REFUSED_MODES[case]
    (tmp_path / name).write_bytes(data)
    assert_clear_error(read_image, tmp_path / name, *needles)


MASK_MODES = {   # masks in unusual modes that still hold exactly two levels
    'L.png': ('m.png', png_bytes(MASK)),
    '1.png': ('m1.png', _save(Image.fromarray(MASK > 0), 'png')),
    '1.tif': ('m1.tif', _save(Image.fromarray(MASK > 0), 'tif')),
    'I;16.png': ('m16.png', png_bytes(MASK.astype(np.uint16) * 257)),
    'P.png': ('mp.png', _save(Image.fromarray(MASK).convert('P'), 'png')),
    'RGB.tif': ('mrgb.tif', tiff_bytes(np.dstack([MASK] * 3))),
    'LA.png': ('mla.png', _save(Image.fromarray(MASK).convert('LA'), 'png')),
    'miniswhite.tif': ('mmw.tif', tiff_bytes(255 - MASK, photometric='miniswhite')),
}


@pytest.mark.parametrize('case', list(MASK_MODES))
def test_mask_mode_is_read_with_correct_values(tmp_path, case):
    name, data = MASK_MODES[case]
    (tmp_path / name).write_bytes(data)
    np.testing.assert_array_equal(timed(read_mask, tmp_path / name), (MASK > 0).astype(np.uint8)[None])


# ---------------------------------------------------------------------------------------------
# Enormous dimensions, in a child interpreter (memory capped at 4 GiB, 60 s for all): a header
# claiming 10^10 pixels must be refused from the header, quickly, not decoded into a MemoryError.

HUGE = {   # id: (file name, bytes, w, h)
    'png-100000x100000': ('huge.png', huge_png(100_000, 100_000), 100_000, 100_000),
    'png-patched-100000x100000': ('patched.png', patched_png(100_000, 100_000), 100_000, 100_000),
    'png-2^31-1-square': ('max.png', huge_png(2**31 - 1, 2**31 - 1), 2**31 - 1, 2**31 - 1),
    'png-30000x30000': ('30k.png', huge_png(30_000, 30_000), 30_000, 30_000),
    'tiff-100000x100000': ('huge.tif', huge_tiff(100_000, 100_000), 100_000, 100_000),
    'tiff-2^32-1-square': ('max.tif', huge_tiff(2**32 - 1, 2**32 - 1), 2**32 - 1, 2**32 - 1),   # overflows int64 products
    'tiff-just-over-MAX_PIXELS': ('over.tif', huge_tiff(20_001, 20_000), 20_001, 20_000),
    'tiff-1-x-2^32-1': ('thin.tif', huge_tiff(1, 2**32 - 1), 1, 2**32 - 1),
}
READERS = ('read_image', 'read_mask', 'image_size')

CHILD = textwrap.dedent('''
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))   # a regression fails with MemoryError, not by swapping
    import dusss_kit.data as d
    out = {}
    for p in sys.argv[2:]:
        for r in %r:
            t = time.perf_counter()
            try: res = ['ok', repr(getattr(d, r)(p))[:200]]
            except d.DataError as e: res = ['DataError', str(e)]
            except BaseException as e: res = [type(e).__name__, str(e)[:500]]
            out[p + '|' + r] = res + [time.perf_counter() - t]
    open(sys.argv[1], 'w').write(json.dumps(out))
''' % (READERS,))


def run_child(tmp_path, paths, timeout=60):
    "Run every reader on every path in a child interpreter; its results by 'path|reader'. A crash or hang fails here."
    res = tmp_path / 'results.json'
    try: r = subprocess.run([sys.executable, '-c', CHILD, str(res), *map(str, paths)], capture_output=True, text=True,
                            timeout=timeout, env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    except subprocess.TimeoutExpired: pytest.fail(f"the readers hung on one of {[Path(p).name for p in paths]}")
    assert r.returncode == 0, f"the interpreter died (exit {r.returncode}):\n{r.stderr[-3000:]}"
    return json.loads(res.read_text())


@pytest.fixture(scope='module')
def huge_results(tmp_path_factory):
    d = tmp_path_factory.mktemp('huge')
    for name, data, *_ in HUGE.values(): (d / name).write_bytes(data)
    return d, run_child(d, [d / v[0] for v in HUGE.values()])


@pytest.mark.parametrize('reader', READERS)
@pytest.mark.parametrize('case', list(HUGE))
def test_enormous_dimensions_refused_from_the_header(huge_results, case, reader):
    d, res = huge_results
    name, data, w, h = HUGE[case]
    assert len(data) < 2000   # the file is tiny: only its header is enormous
    kind, msg, secs = res[f"{d / name}|{reader}"]
    assert kind == 'DataError', (kind, msg)
    assert name in msg and 'the header claims' in msg and 'too large' in msg, msg
    assert f'MAX_PIXELS = {MAX_PIXELS:,}' in msg, msg           # the limit it was held against
    assert f'{w}×{h}' in msg or f'{w * h} pixels' in msg, msg    # the size found (ours, or Pillow's pixel count)
    assert secs < LIMIT_S / 2, f"{secs:.1f} s: refused too slowly, was it decoded?"


def test_every_damaged_image_in_a_child_interpreter(tmp_path):
    "All damaged and unusual images in one child process: no crash, no hang, and only DataError or a result."
    files = []
    for name, data, *_ in [*DAMAGED.values(), *MODES.values(), *REFUSED_MODES.values()]:
        (tmp_path / name).write_bytes(data); files.append(tmp_path / name)
    res = run_child(tmp_path, files)
    leaked = {k: v for k, v in res.items() if v[0] not in ('ok', 'DataError')}
    assert not leaked, leaked
    slow = {k: v[2] for k, v in res.items() if v[2] > LIMIT_S}
    assert not slow, slow


# ---------------------------------------------------------------------------------------------
# Text tables

def xlsx_bytes(rows, formulas=()) -> bytes:
    import openpyxl
    wb = openpyxl.Workbook(); ws = wb.active
    for r in rows: ws.append(list(r))
    for cell, f in formulas: ws[cell] = f
    b = io.BytesIO(); wb.save(b); return b.getvalue()

def with_stored_result(data: bytes, cell: str, value: str) -> bytes:
    "An openpyxl workbook whose formula in `cell` gets a stored (cached) string result, as Excel would save it."
    zin, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            b = zin.read(item.filename)
            if item.filename == 'xl/worksheets/sheet1.xml':
                s = b.decode(); i = s.index(f'<c r="{cell}"'); j = s.index('</c>', i)
                f = s[s.index('<f>', i):s.index('</f>', i) + 4]
                b = (s[:i] + f'<c r="{cell}" t="str">{f}<v>{value}</v>' + s[j:]).encode()
            zout.writestr(item, b)
    return out.getvalue()

def corrupt_member(data: bytes) -> bytes:
    "Flip bytes inside the compressed sheet, keeping the zip directory intact (a CRC or inflate error)."
    zi = zipfile.ZipFile(io.BytesIO(data)).getinfo('xl/worksheets/sheet1.xml')
    start = zi.header_offset + 30 + len(zi.filename.encode()) + len(zi.extra)
    b = bytearray(data)
    for k in range(start + 2, start + min(zi.compress_size, 40)): b[k] ^= 0xA5
    return bytes(b)

GOOD = [('Image', 'Description'), ('a.png', 'Left lung.'), ('b.png', 'Both lungs.')]
GOOD_XLSX = xlsx_bytes(GOOD)
FORMULA = xlsx_bytes(GOOD, [('B2', '=A1&"x"'), ('B3', '=1/0')])
TABLES_BAD = {   # id: (file name, bytes, needles besides the file name)
    'empty.xlsx': ('t.xlsx', b'', ('empty (0 bytes)', 'expected .xlsx or .csv')),
    'empty.csv': ('t.csv', b'', ('empty (0 bytes)', 'expected .xlsx or .csv')),
    'workbook-without-sheet-content': ('blank.xlsx', xlsx_bytes([]), ('lacks column(s) Image, Description', 'found none')),
    'missing-description': ('m.xlsx', xlsx_bytes([('Image', 'Report'), ('a.png', 'x')]), ('lacks column(s) Description', 'found Image, Report')),
    'missing-columns.csv': ('m.csv', b'file,text\na.png,x\n', ('lacks column(s) Image, Description', 'found file, text')),
    **{f'xlsx-cut-{w}': (f'cut_{w}.xlsx', cut(GOOD_XLSX, w), ('not a complete .xlsx workbook', 'expected .xlsx or .csv'))
       for w in (1, 100, 'half', 'len-10')},
    'xlsx-random-bytes': ('r.xlsx', RNG.bytes(400), ('not a complete .xlsx workbook',)),
    'csv-named-xlsx': ('c.xlsx', b'Image,Description\na.png,x\n', ('not a complete .xlsx workbook',)),
    'xlsx-corrupt-member': ('bad.xlsx', corrupt_member(GOOD_XLSX), ('cannot be read as a table', 'expected .xlsx or .csv')),
    'formula-without-result': ('f.xlsx', FORMULA, ('2 cell(s) hold a formula with no stored result', 'B2 =A1&"x"', 'B3 =1/0', 'expected text')),
    'binary-csv': ('bin.csv', b'\xff\xfe\x00\x01\x80\x81garbage\x00\n' * 5, ('lacks column(s)', 'expected columns Image, Description')),
    'unknown-extension': ('t.txt', b'Image,Description\na.png,x\n', ('unknown text table type', 'expected .xlsx or .csv')),
}


@pytest.mark.parametrize('case', list(TABLES_BAD))
def test_bad_text_table_is_a_clear_error(tmp_path, case):
    name, data, needles = TABLES_BAD[case]
    (tmp_path / name).write_bytes(data)
    assert_clear_error(read_text_table, tmp_path / name, *needles)


TABLES_OK = {   # id: (file name, bytes, expected rows)
    'latin-1.csv': ('l.csv', 'Image,Description\na.png,Läsion im Oberlappen\n'.encode('latin-1'), [('a.png', 'Läsion im Oberlappen')]),
    'utf-8-bom.csv': ('u.csv', '\ufeffImage,Description\na.png,Lésion\n'.encode('utf-8'), [('a.png', 'Lésion')]),
    'formula-with-stored-result': ('s.xlsx', with_stored_result(xlsx_bytes(GOOD, [('B2', '=A2&" lesion"')]), 'B2', 'a.png lesion'),
                                   [('a.png', 'a.png lesion'), ('b.png', 'Both lungs.')]),
    'formula-outside-the-columns': ('o.xlsx', xlsx_bytes([('Image', 'Description', 'Note'), ('a.png', 'x', None)], [('C2', '=A2')]),
                                    [('a.png', 'x')]),
    'header-only': ('h.xlsx', xlsx_bytes(GOOD[:1]), []),
    'numbers-and-blanks': ('n.xlsx', xlsx_bytes([('Image', 'Description'), (1, 2.5), ('c.png', None)]), [('1', '2.5'), ('c.png', '')]),
}


@pytest.mark.parametrize('case', list(TABLES_OK))
def test_odd_but_valid_text_table_is_read(tmp_path, case):
    name, data, rows = TABLES_OK[case]
    (tmp_path / name).write_bytes(data)
    df = timed(read_text_table, tmp_path / name)
    assert list(df.columns) == ['Image', 'Description']
    assert list(map(tuple, df.values.tolist())) == rows


# ---------------------------------------------------------------------------------------------
# The dataset level: a scan and check_data report the damaged file instead of raising

CHECK_DAMAGE = {
    'empty': b'',
    'truncated': cut(png_bytes(GREY[:16, :16]), 'half'),
    'random': RNG.bytes(300),
    'enormous-header': patched_png(100_000, 100_000),
    'jpeg-inside': jpeg_bytes(GREY[:16, :16]),   # fine: decodes, size matches
}


@pytest.mark.parametrize('damage', list(CHECK_DAMAGE))
def test_check_data_reports_the_damaged_image(tmp_path, damage):
    root = write_lvit(tmp_path / 'ds')
    bad = root / 'Train_Folder' / 'img' / 'b.png'
    bad.write_bytes(CHECK_DAMAGE[damage])
    res = timed(lambda: check_data(root, progress=False), limit=30)
    hits = [p for p in res['problems'] if 'b.png' in p]
    if damage == 'jpeg-inside':
        assert res['problems'] == [] and res['splits']['train']['images'] == 3
        return
    assert len(hits) == 1 and len(res['problems']) == 1, res['problems']   # once, although the scan and decoding both see it
    assert str(bad) in hits[0] and 'expected' in hits[0], hits[0]
    # a strict scan or the dataset, used without check_data, refuse it with the file's name
    rec = Record('b', bad, root / 'Train_Folder' / 'labelcol' / 'mask_b.png', 'r', 'train')
    with pytest.raises(DataError, match='b.png'): SegDataset([rec], size=None)[0]
    if damage != 'truncated':   # a header-level problem: the scan sees it without decoding
        with pytest.raises(DataError, match='b.png'): scan_dataset(root)


def test_check_data_reports_a_damaged_text_table(tmp_path):
    root = write_lvit(tmp_path / 'ds')
    t = root / 'Train_Folder' / 'Train_text.xlsx'
    t.write_bytes(cut(t.read_bytes(), 'half'))
    res = check_data(root, progress=False)
    assert any('Train_text.xlsx: not a complete .xlsx workbook' in p for p in res['problems']), res['problems']


def test_check_data_reports_a_damaged_mask(tmp_path):
    root = write_lvit(tmp_path / 'ds')
    m = root / 'Train_Folder' / 'labelcol' / 'mask_c.png'
    m.write_bytes(huge_tiff(100_000, 100_000))   # a TIFF under a .png name, with an enormous header
    res = check_data(root, progress=False)
    assert len(res['problems']) == 1 and 'mask_c.png: the header claims 100000×100000' in res['problems'][0], res['problems']
