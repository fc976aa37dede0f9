import numpy as np
from PIL import Image

from tcdepth.cli.main import main


def test_synth_command_writes_dataset_and_contact_sheet(tmp_path):
    sheet = tmp_path / "sheet.png"
    code = main(["synth", str(tmp_path / "out"), "--sequences", "1", "--frames", "4", "--width", "64",
                 "--height", "32", "--flow-range", "1", "--contact-sheet", str(sheet)])
    assert code == 0
    assert len(list((tmp_path / "out" / "seq_000" / "rgb").glob("*.png"))) == 4
    image = np.asarray(Image.open(sheet))
    assert image.ndim == 3 and image.shape[1] > 3 * 64


def test_synth_command_rejects_bad_sizes(tmp_path, capsys):
    assert main(["synth", str(tmp_path), "--frames", "2"]) == 1
    assert "frames" in capsys.readouterr().err
