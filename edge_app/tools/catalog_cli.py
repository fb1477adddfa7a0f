"""`edge-app catalog enrol | list | remove`: the lane's product catalogue, without retraining.

A product is enrolled from a few photos (each a close view of the product, as
an item crop would be): their embeddings' mean is its prototype
(perception/recogniser.py). The catalogue is one JSON file; where it lives:

* ``--catalogue PATH``, or
* ``--config LANE.yaml`` → ``LANE.catalogue.json`` next to the lane file (it
  belongs to the lane's assortment, like the lane file, not to its run state).

    edge-app catalog enrol 7310865004703 a.jpg b.jpg c.jpg --name "Arla milk 1 l" --config lane.yaml
    edge-app catalog list --config lane.yaml
    edge-app catalog remove 7310865004703 --config lane.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
from stdnum import ean


def catalogue_path(args) -> Path:
    if args.catalogue:
        return Path(args.catalogue)
    if args.config:
        cfg = Path(args.config)
        return cfg.with_name(cfg.stem + ".catalogue.json")
    raise SystemExit("edge-app catalog: give --catalogue PATH or --config LANE.yaml")


def _open(args):
    from edge_app.perception.recogniser import Catalogue, Embedder

    emb = Embedder(args.model) if args.model else Embedder()
    return emb, Catalogue.load(catalogue_path(args), emb.sha256)


def _fail(msg: str) -> int:
    print(f"edge-app catalog: {msg}", file=sys.stderr)
    return 2


def _enrol(args) -> int:
    from edge_app.perception.recogniser import CatalogueError

    if not ean.is_valid(args.gtin) or len(args.gtin) not in (8, 12, 13, 14):
        return _fail(f"{args.gtin!r} is not a valid GTIN-8/12/13/14 (digits and check digit)")
    try:
        emb, cat = _open(args)
    except CatalogueError as exc:
        return _fail(str(exc))
    vectors = []
    for photo in args.photos:
        img = cv2.imread(photo)
        if img is None:
            return _fail(f"{photo}: not a readable image; nothing enrolled")
        vectors.append(emb.embed(img))
    product = cat.enrol(args.gtin, vectors, args.name or "")
    cat.save(catalogue_path(args))
    print(
        f"enrolled {product.gtin} {product.name!r}: {len(vectors)} photo(s), "
        f"{product.photos} in all; {len(cat.products)} product(s) in {catalogue_path(args)}"
    )
    return 0


def _list(args) -> int:
    from edge_app.perception.recogniser import CatalogueError

    try:
        _emb, cat = _open(args)
    except CatalogueError as exc:
        return _fail(str(exc))
    for p in sorted(cat.products.values(), key=lambda p: p.gtin):
        print(f"{p.gtin:14s} {p.photos:3d} photo(s)  {p.name}")
    print(f"{len(cat.products)} product(s), unknown below cosine {cat.threshold:.2f}")
    return 0


def _remove(args) -> int:
    from edge_app.perception.recogniser import CatalogueError

    try:
        _emb, cat = _open(args)
    except CatalogueError as exc:
        return _fail(str(exc))
    if not cat.remove(args.gtin):
        return _fail(f"{args.gtin} is not in {catalogue_path(args)}")
    cat.save(catalogue_path(args))
    print(f"removed {args.gtin}; {len(cat.products)} product(s) left")
    return 0


def register(subparsers) -> None:
    c = subparsers.add_parser(
        "catalog", help="the lane's product catalogue for recognition: enrol, list, remove"
    )
    sub = c.add_subparsers(dest="catalog_command", metavar="CATALOG_COMMAND", required=True)

    def common(p):
        p.add_argument("--catalogue", help="the catalogue file (JSON)")
        p.add_argument("--config", help="lane file: the catalogue is LANE.catalogue.json beside it")
        p.add_argument("--model", help="embedding ONNX (default: models/yolo11n-coco-embed-256)")

    e = sub.add_parser("enrol", help="add a product (or more photos of it) from photos")
    e.add_argument("gtin")
    e.add_argument("photos", nargs="+", metavar="PHOTO")
    e.add_argument("--name", help="product name shown in list and evidence")
    common(e)
    e.set_defaults(func=_enrol)
    ls = sub.add_parser("list", help="the enrolled products")
    common(ls)
    ls.set_defaults(func=_list)
    r = sub.add_parser("remove", help="drop a product")
    r.add_argument("gtin")
    common(r)
    r.set_defaults(func=_remove)
