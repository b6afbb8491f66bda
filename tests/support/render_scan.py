"""Renders Chinese official-document text as a scanned A4 page at 300 dpi, the way a clerk's
scanner would: GB/T 9704 layout (title 二号, body 三号, 28 characters a line), in a given CJK
font; with --degrade also skewed, blurred, noised and shaded, saved as JPEG quality 60.

    render_scan.py FONT[:INDEX] TEXT_FILE OUT.(png|jpg|tif|pdf) [--degrade] [--pages-of N]

TEXT_FILE: the first line is the title, the others paragraphs. A .pdf or .tif output holds
one page per N body lines (--pages-of), each a scan, with no text layer. Prints the text
exactly as rendered (one line per printed line) on standard output, for the CER reference.
"""

import random
import sys

from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 300
A4 = (2480, 3508)
MM = DPI / 25.4
PT = DPI / 72
LEFT, TOP = int(28 * MM), int(37 * MM)
BODY, TITLE = int(16 * PT), int(22 * PT)
PER_LINE = 28


# 避头尾: these never begin a line (they stay at the end of the line before, past the 28th
# place, as typesetters do); the openers never end one.
NOT_FIRST = "，。、：；！？》）」』〕】”"
NOT_LAST = "《（「『〔【“"


def wrap(paragraph):
    lines, line = [], "\u3000\u3000"
    for ch in paragraph:
        if len(line) >= PER_LINE and ch not in NOT_FIRST:
            carry = ""
            while line and line[-1] in NOT_LAST:
                carry, line = line[-1] + carry, line[:-1]
            lines.append(line)
            line = carry
        line += ch
    if line:
        lines.append(line)
    return lines


def render(font_spec, title, body_lines, degrade, seed):
    path, _, index = font_spec.partition(":")
    index = int(index or 0)
    body = ImageFont.truetype(path, BODY, index=index)
    head = ImageFont.truetype(path, TITLE, index=index)
    page = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(page)
    y = TOP
    if title:
        width = draw.textlength(title, font=head)
        draw.text(((A4[0] - width) / 2, y), title, font=head, fill=0)
        y += int(TITLE * 2)
    for line in body_lines:
        draw.text((LEFT, y), line, font=body, fill=0)
        y += int(BODY * 1.75)
    if degrade:
        rng = random.Random(seed)
        page = page.rotate(0.8, resample=Image.BICUBIC, fillcolor=255, expand=False)
        page = page.filter(ImageFilter.GaussianBlur(1.2))
        noise = Image.effect_noise(A4, 24)
        page = Image.blend(page, noise, 0.12)
        # Uneven lighting: a soft grey band across the page.
        shade = Image.linear_gradient("L").resize(A4).point(lambda v: 255 - v // 6)
        page = Image.composite(page, shade, page.point(lambda v: 255 if v < 200 else 0))
        page = page.point(lambda v: min(255, v + rng.randint(-4, 4)))
    return page


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    degrade = "--degrade" in sys.argv
    per_page = 22
    if "--pages-of" in sys.argv:
        per_page = int(sys.argv[sys.argv.index("--pages-of") + 1])
        args = [a for a in args if a != str(per_page)]
    font, text_file, out = args[:3]
    with open(text_file, encoding="utf-8") as f:
        paragraphs = [p.strip() for p in f.read().splitlines() if p.strip()]
    title, lines = paragraphs[0], [l for p in paragraphs[1:] for l in wrap(p)]
    chunks = [lines[i:i + per_page] for i in range(0, len(lines), per_page)] or [[]]
    pages = [render(font, title if i == 0 else "", chunk, degrade, i) for i, chunk in enumerate(chunks)]
    if out.endswith(".pdf"):
        pages[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=pages[1:], quality=60 if degrade else 90)
    elif out.endswith(".tif"):
        pages[0].save(out, "TIFF", resolution=DPI, save_all=True, append_images=pages[1:], compression="group4" if not degrade else "tiff_deflate")
    elif out.endswith(".jpg"):
        pages[0].save(out, "JPEG", quality=60 if degrade else 90, dpi=(DPI, DPI))
    else:
        pages[0].save(out, "PNG", dpi=(DPI, DPI))
    print(title)
    for line in lines[: per_page * len(pages)]:
        print(line.strip("\u3000"))


if __name__ == "__main__":
    main()
