"""Checks a `grin batch --coco` export with pycocotools: the file loads, and every
annotation's mask decodes to exactly the pixels of its instance in the frame's
instance AOV (`<frame>.instance.png`: 16-bit, id + 1), with a box and area that match.

    python coco_check.py COCO_JSON OUT_DIR
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def main(coco_path: str, out_dir: str) -> None:
    coco = COCO(coco_path)
    out = Path(out_dir)
    raw = json.loads(Path(coco_path).read_text())
    assert raw["images"], "no images"
    checked = 0
    for img in coco.loadImgs(coco.getImgIds()):
        stem = Path(img["file_name"])
        plane_path = out / stem.parent / (stem.stem + ".instance.png")
        ids = np.array(Image.open(plane_path)).astype(np.int64) - 1
        assert ids.shape == (img["height"], img["width"]), (ids.shape, img)
        meta = json.loads((out / stem.with_suffix(".json")).read_text())
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        visible = {i["id"] for i in meta["instances"] if i["visible_pixels"] > 0}
        assert visible == {a["instance_id"] for a in anns}, (visible, anns)
        for a in anns:
            m = coco.annToMask(a).astype(bool)
            expected = ids == a["instance_id"]
            assert (m == expected).all(), f"{stem} instance {a['instance_id']}: mask differs in {(m != expected).sum()} pixels"
            assert a["area"] == int(expected.sum()), a["area"]
            ys, xs = np.nonzero(expected)
            box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
            assert a["bbox"] == box, (a["bbox"], box)
            rle = mask_utils.frPyObjects(a["segmentation"], img["height"], img["width"])
            assert list(mask_utils.toBbox(rle)) == box, (mask_utils.toBbox(rle), box)
            name = coco.loadCats(a["category_id"])[0]["name"]
            category = meta["instances"][a["instance_id"]]["category"]
            assert name == category, (name, category)
            checked += 1
    print(f"coco_check: {len(coco.getImgIds())} images, {checked} annotations, every mask equal to the instance AOV")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
