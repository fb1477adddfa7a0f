import os

import pytest

from tests.fixtures.broker import Mosquitto
from tests.fixtures.disk import small_disk_factory

os.environ.setdefault("YOLO_OFFLINE", "1")


@pytest.fixture
def broker(tmp_path):
    """A private mosquitto for one test (never the machine's own :1883)."""
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def shared_broker(tmp_path_factory):
    b = Mosquitto(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk("4m")``: a folder on a filesystem of that size (tests/fixtures/disk.py)."""
    yield from small_disk_factory(tmp_path)
