"""The product recogniser: the real embedding ONNX through ONNX Runtime, on real photos.

Photos: GroceryStoreDataset test-split photos committed under tests/assets
(tests/assets/README.md). Each product is enrolled from one photo and queried
with another photo of the same product; the products below are ones this
backbone tells apart (its accuracy over all 81 classes is in docs/MODELS.md,
measured by scripts/eval_recogniser.py, not here).
"""

import json

import numpy as np
import pytest

from edge_app.perception.models import ModelError
from edge_app.perception.recogniser import (
    UNKNOWN_THRESHOLD,
    Catalogue,
    CatalogueError,
    Embedder,
    to_tensor,
)

from .conftest import MODELS, read_image

PRODUCTS = ["Orange", "Papaya", "Plum", "Aubergine", "Galia-Melon", "Tropicana-Juice-Smooth"]


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def photos(product):
    from .conftest import ASSETS

    files = sorted((ASSETS / "vision_eval" / "images").glob(f"{product}_*.jpg"))
    assert len(files) == 2, files
    return [read_image(f"vision_eval/images/{f.name}") for f in files]


@pytest.fixture(scope="module")
def enrolled(embedder):
    cat = Catalogue(embedder.sha256)
    queries = {}
    for i, product in enumerate(PRODUCTS):
        first, second = photos(product)
        cat.enrol(f"G{i}", [embedder.embed(first)], name=product)
        queries[f"G{i}"] = embedder.embed(second)
    return cat, queries


def test_embedding_is_a_deterministic_unit_vector(embedder):
    img = read_image("grocery/Banana_021.jpg")
    a, b = embedder.embed(img), embedder.embed(img.copy())
    assert a.shape == (256,) and a.dtype == np.float32
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(a, b)


def test_crop_is_letterboxed_not_stretched():
    x = to_tensor(np.zeros((100, 50, 3), np.uint8))
    assert x.shape == (1, 3, 224, 224)
    assert x[0, :, 112, 0] == pytest.approx([114 / 255] * 3)  # grey side band
    with pytest.raises(ValueError):
        to_tensor(np.zeros((0, 5, 3), np.uint8))


def test_each_enrolled_product_is_recognised_in_its_other_photo(enrolled):
    cat, queries = enrolled
    for gtin, q in queries.items():
        ranked = cat.scores(q)
        assert ranked[0][0] == gtin, (cat.products[gtin].name, ranked[:3])
        match = cat.best(q)
        assert match is not None and match.gtin == gtin and match.score >= UNKNOWN_THRESHOLD


@pytest.mark.parametrize(
    "photo",
    [
        "bus.jpg",
        "grocery/Banana_021.jpg",
        "grocery/Kiwi_024.jpg",
        "grocery/Arla-Standard-Milk_008.jpg",
        "grocery/Oatly-Oat-Milk_024.jpg",
        "grocery/Golden-Delicious_023.jpg",
    ],
)
def test_a_product_not_enrolled_is_unknown_not_the_nearest_one(embedder, enrolled, photo):
    cat, _ = enrolled
    v = embedder.embed(read_image(photo))
    assert cat.scores(v)[0][1] < UNKNOWN_THRESHOLD
    assert cat.best(v) is None


def test_best_answers_only_above_the_threshold(enrolled):
    cat, queries = enrolled
    q = queries["G0"]  # Orange, its own product scores highest
    top = cat.scores(q)[0][1]
    strict = Catalogue(cat.embedder_sha256, threshold=top + 1e-4, products=cat.products)
    loose = Catalogue(cat.embedder_sha256, threshold=top - 1e-4, products=cat.products)
    assert strict.best(q) is None
    m = loose.best(q)
    assert m is not None and m.gtin == "G0" and m.name == "Orange" and m.margin > 0


def test_empty_catalogue_knows_nothing(embedder):
    assert Catalogue(embedder.sha256).best(np.ones(256, np.float32)) is None


def test_enrolling_more_photos_averages_them():
    cat = Catalogue("x")
    cat.enrol("1", [np.array([1.0, 0.0])], name="a")
    p = cat.enrol("1", [np.array([0.0, 2.0]), np.array([0.0, 1.0])])
    assert p.photos == 3 and p.name == "a"
    np.testing.assert_allclose(p.mean, [1 / 3, 2 / 3], atol=1e-6)
    with pytest.raises(CatalogueError):
        cat.enrol("2", [])
    assert cat.remove("1") and not cat.remove("1")


def test_save_load_round_trip_and_refusals(tmp_path):
    path = tmp_path / "lane.catalogue.json"
    cat = Catalogue("abc", threshold=0.5)
    cat.enrol("7310865004703", [np.array([0.6, 0.8], np.float32)], name="milk")
    cat.save(path)
    back = Catalogue.load(path, "abc")
    assert back.threshold == 0.5 and list(back.products) == ["7310865004703"]
    np.testing.assert_allclose(back.products["7310865004703"].mean, [0.6, 0.8])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left
    with pytest.raises(CatalogueError, match="another model"):
        Catalogue.load(path, "other")
    assert Catalogue.load(tmp_path / "absent.json", "abc").products == {}
    path.write_text(json.dumps({"version": 1, "products": []}))
    with pytest.raises(CatalogueError, match="malformed"):
        Catalogue.load(path, "abc")
    path.write_text("{not json")
    with pytest.raises(CatalogueError, match="unreadable"):
        Catalogue.load(path, "abc")


def test_a_detector_is_refused_as_embedder():
    with pytest.raises(ModelError, match="not an embedding"):
        Embedder(MODELS / "yolo11n-coco-fp32dq-320.onnx")
