"""Draw the example image of Tutorial 2: a simple cartoon cat face (cat.png).

    python draw_example.py [OUT.png]

Only Pillow is needed. The picture is drawn from circles, polygons and lines, so
it is the same on every machine and carries no copyright of a photo.
"""

import sys

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 320, 320
FUR = (236, 150, 60)
DARK = (60, 40, 30)
PINK = (240, 150, 170)
SKY = (200, 225, 245)


def draw_cat(path: str) -> None:
    image = Image.new("RGB", (WIDTH, HEIGHT), SKY)
    draw = ImageDraw.Draw(image)
    # Ears (outer fur, inner pink), then the head over their base.
    for side in (-1, 1):
        cx = 160 + side * 70
        draw.polygon([(cx - 45, 130), (cx + side * 25, 35), (cx + 45, 120)], fill=FUR, outline=DARK, width=4)
        draw.polygon([(cx - 25, 120), (cx + side * 20, 65), (cx + 25, 115)], fill=PINK)
    draw.ellipse((50, 80, 270, 290), fill=FUR, outline=DARK, width=4)
    # Eyes with vertical pupils.
    for cx in (115, 205):
        draw.ellipse((cx - 22, 150, cx + 22, 195), fill=(250, 240, 120), outline=DARK, width=3)
        draw.ellipse((cx - 6, 155, cx + 6, 190), fill=DARK)
    # Nose, mouth and whiskers.
    draw.polygon([(148, 210), (172, 210), (160, 224)], fill=PINK, outline=DARK)
    draw.line([(160, 224), (160, 238)], fill=DARK, width=3)
    draw.arc((130, 222, 160, 252), start=20, end=160, fill=DARK, width=3)
    draw.arc((160, 222, 190, 252), start=20, end=160, fill=DARK, width=3)
    for side in (-1, 1):
        for dy in (-12, 0, 12):
            draw.line([(160 + side * 35, 225 + dy // 2), (160 + side * 125, 215 + dy * 2)], fill=DARK, width=2)
    image.save(path, optimize=True)
    print(f"Saved {path} ({WIDTH}x{HEIGHT})")


if __name__ == "__main__":
    draw_cat(sys.argv[1] if len(sys.argv) > 1 else "cat.png")
