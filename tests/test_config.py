from dataclasses import dataclass, field
from typing import Literal

import pytest

from tcdepth.config import ConfigError, apply_overrides, from_dict, load_config, save_config, to_dict


@dataclass
class Inner:
    size: tuple[int, int] = (192, 640)
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    lr: float = 1e-4
    epochs: int = 30
    name: str | None = None
    inner: Inner = field(default_factory=Inner)
    ids: list[int] = field(default_factory=lambda: [0, -1, 1])

    def __post_init__(self):
        if self.epochs <= 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.001\ninner:\n  size: [96, 320]\n")
    cfg = load_config(Outer, path, ["inner.mode=b", "epochs=3", "ids=[0, 1]"])
    assert cfg.lr == 0.001 and cfg.inner.size == (96, 320) and cfg.inner.mode == "b"
    assert cfg.epochs == 3 and cfg.ids == [0, 1] and cfg.name is None


def test_round_trip(tmp_path):
    cfg = Outer(name="x", inner=Inner(size=(32, 64), mode="b"))
    save_config(cfg, tmp_path / "out.yaml")
    assert load_config(Outer, tmp_path / "out.yaml") == cfg
    assert to_dict(cfg)["inner"]["size"] == [32, 64]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"lr": "fast"}, "lr: expected a number"),
        ({"inner": {"mode": "c"}}, "inner.mode: expected one of"),
        ({"inner": {"size": [1, 2, 3]}}, "inner.size: expected 2 values"),
        ({"typo": 1}, "unknown key"),
        ({"inner": {"typo": 1}}, "inner.typo"),
        ({"epochs": 1.5}, "epochs: expected an integer"),
        ({"epochs": 0}, "epochs must be positive"),
    ],
)
def test_invalid_values_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["nonsense"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "missing.yaml")
