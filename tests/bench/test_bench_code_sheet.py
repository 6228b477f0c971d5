"""Code-sheet benchmark (`make bench`): a sheet of the most codes one may hold (server/code_sheet.py
MAX_CODES, 1000), its build time and PDF size, printed and written to var/bench/code_sheet.json. Not a
timed test: it fails only if the sheet has the wrong number of pages.

    .venv/bin/python -m pytest -q tests/bench/test_bench_code_sheet.py -p no:cacheprovider -s
"""
import json
import math
import random
import time
from pathlib import Path

import pypdfium2

from server.code_sheet import MAX_CODES, PER_PAGE, StickerCode, sheet_pdf

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "bench" / "code_sheet.json"


def test_bench_code_sheet_of_1000():
    rng = random.Random(1000)
    serials = ["".join(rng.choices("ABCDEFGHJKMNPQRSTUVWXYZ23456789", k=10)) for _ in range(MAX_CODES)]
    codes = [StickerCode(serial, f"https://pay.example.cn/c/s/{serial}") for serial in serials]

    started = time.perf_counter()
    pdf = sheet_pdf(codes, title="静态码 第 1 批", subtitle="基准 · 1000 张")
    seconds = time.perf_counter() - started

    document = pypdfium2.PdfDocument(pdf)
    pages = len(document)
    document.close()
    results = {"codes": len(codes), "pages": pages, "seconds": round(seconds, 2),
               "ms_per_code": round(1000 * seconds / len(codes), 2), "pdf_bytes": len(pdf),
               "pdf_bytes_per_page": len(pdf) // pages}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\ncode sheet ({OUT}): {len(codes)} codes on {pages} pages in {seconds:.1f} s "
          f"({results['ms_per_code']} ms a code), PDF {len(pdf) / 1e6:.2f} MB "
          f"({results['pdf_bytes_per_page']} B a page)")
    assert pages == math.ceil(MAX_CODES / PER_PAGE)
