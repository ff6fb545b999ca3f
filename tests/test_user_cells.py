"""A user's own cell: loading a cell file, the registry it joins, `charrnn gradcheck
--cell-file` on a good cell, a planted bug and every kind of broken file, and
`charrnn cell new`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cell_support import BAD_FILES, FIXTURES, MGU, last_line_of, variant

from engine.cells import CELL_TYPES
from engine.cells.lstm import LSTMCell
from engine.cells.registry import register
from engine.cells.template import TEMPLATES, class_name
from engine.cells.user import load_cell_file
from engine.config import CELLS, Config
from engine.errors import CharrnnError
from engine.inspect import forward_passage, gate_saturation
from engine.model import CharModel
from engine.vocab import Vocab
from tui.cli import main
from tui.inspect_text import activation_scale, saturation_table


@pytest.fixture(autouse=True)
def unregistered(registry):
    """Each test's registrations are undone: other modules test the fixture's own mgu."""


def gradcheck(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["gradcheck", *argv])
    out, err = capsys.readouterr()
    return status, out, err


# -- loading and the registry --------------------------------------------------------------------


def test_a_loaded_cell_is_a_cell_like_the_built_in_ones() -> None:
    user = load_cell_file(str(MGU))
    assert user.name == "mgu" and user.class_name == "MGUCell"
    assert re.fullmatch(r"[0-9a-f]{64}", user.sha256)
    assert CELL_TYPES["mgu"] is user.cls
    assert "mgu" not in CELLS  # the command line's --cell offers the built-in ones
    config = Config(cell="mgu", hidden=4).validate()
    blocks = user.cls.weight_blocks  # two gate-sized blocks: size estimates read it
    assert config.param_count_estimate(10) == blocks * 4 * (10 + 4) + (blocks + 1) * 4 + 10 * 5


def test_inspect_views_draw_the_gates_a_cell_declares() -> None:
    """The letters and scales come from the declaration: mgu's one gate is f."""
    user = load_cell_file(str(MGU))
    text = "a few words, read by a cell of one's own.\n"
    vocab = Vocab.from_text(text)
    model = CharModel(Config(cell="mgu", hidden=5, init_scale=0.5), len(vocab))
    passage = forward_passage(model, model.init_params(0), vocab, text)
    assert [s.gate for s in gate_saturation(passage)] == ["f"]
    assert re.search(r"\n +0 +f +0\.", saturation_table(gate_saturation(passage)))
    assert activation_scale("f", passage.layers[0]["f"], user.cls).name == "0 … 1"
    assert activation_scale("n", passage.layers[0]["n"], user.cls).name == "−1 … +1"
    with pytest.raises(CharrnnError, match=r"mgu layers have no 'c' \(choose from h, f, n\)"):
        passage.activation(0, "c")


def test_a_class_can_be_chosen_and_several_need_choosing(tmp_path: Path) -> None:
    two = variant(
        tmp_path, "class MGUCell(Cell):", "class Other(Cell):\n    pass\n\n\nclass MGUCell(Cell):"
    )
    with pytest.raises(CharrnnError, match=r"defines several cells \(Other, MGUCell\): name one"):
        load_cell_file(str(two))
    assert load_cell_file(f"{two}:MGUCell").class_name == "MGUCell"
    with pytest.raises(CharrnnError, match="has no class Missing"):
        load_cell_file(f"{two}:Missing")


def test_a_built_in_name_is_refused_at_registration_too() -> None:
    class Impostor(LSTMCell):
        name = "lstm"

    with pytest.raises(CharrnnError, match="'lstm' is a built-in cell's"):
        register(Impostor)
    assert CELL_TYPES["lstm"] is LSTMCell


def test_unknown_cells_name_the_known_ones() -> None:
    with pytest.raises(CharrnnError, match=r"unknown cell 'peephole' \(choose from rnn, lstm, gru"):
        Config(cell="peephole").validate()


# -- charrnn gradcheck --cell-file ------------------------------------------------------------------


def test_the_fixture_cell_passes_gradcheck(capsys) -> None:
    status, out, err = gradcheck(capsys, "--cell-file", str(MGU))
    assert status == 0, out + err
    assert "cell mgu (class MGUCell in" in out
    assert "h = (1 - f) * h_prev + f * n" in out  # its declared equations
    assert "row_step: none: sampling runs forward" in out
    assert re.search(r"d state h +2x5 +relative error \S+ +ok", out)
    assert out.rstrip().endswith("checks pass") and err == ""


def test_a_planted_bug_fails_and_names_the_parameters(capsys) -> None:
    status, out, err = gradcheck(capsys, "--cell-file", str(FIXTURES / "mgu_bug.py"))
    assert status == 1
    one_step = out[out.index("one step") : out.index("4 steps")]
    for name in ("Wxf", "Whf", "bf"):  # the forget gate's weights: where the mistake is
        assert re.search(rf"\n  {name} +\S+ +relative error \S+ +FAIL\n      at \[", one_step)
    for name in ("Wxn", "Whn", "bn"):  # the candidate's gradients do not depend on df
        assert re.search(rf"\n  {name} +\S+ +relative error \S+ +ok\n", one_step)
    assert "one step already disagrees (Wxf, Whf, bf, d state h, d inputs)" in out
    assert err.startswith("gradient check failed: one step: Wxf, Whf, bf, d state h, d inputs;")
    assert len(err.splitlines()) == 1


def test_a_row_step_that_disagrees_fails(tmp_path: Path, capsys) -> None:
    path = tmp_path / "shifted.py"
    path.write_text(
        "from engine.cells.lstm import LSTMCell, LSTMRowStep\n\n\n"
        "class Shifted(LSTMCell):\n"
        '    name = "shifted"\n\n'
        "    def row_step(self, p):\n"
        "        return Off(p, self.one_hot)\n\n\n"
        "class Off(LSTMRowStep):\n"
        "    def step(self, x):\n"
        "        return super().step(x) + 1e-6\n",
        encoding="utf-8",
    )
    status, out, err = gradcheck(capsys, "--cell-file", str(path))
    assert status == 1
    assert re.search(r"row_step against forward, one-hot input: largest difference 1\.0e-06", out)
    assert "row_step disagrees with forward" in out
    assert err.startswith("gradient check failed: row_step against forward, one-hot input")


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_cell_file_is_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    old, new, message = BAD_FILES[case]
    monkeypatch.chdir(tmp_path)
    variant(tmp_path, old, new)
    known = dict(CELL_TYPES)
    status, out, err = gradcheck(capsys, "--cell-file", "cell.py")
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("charrnn: error: "), err
    message = message.replace("{line}", str(last_line_of(old, new)))
    assert re.search(message, err.rstrip()), err
    assert known == CELL_TYPES  # a refused cell is not registered


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cell-file", "no/such/cell.py"], "no/such/cell.py: no such file"),
        (["--cell-file", "."], "is a directory"),
        (["--cell-file", str(MGU), "--cell", "lstm"], "give --cell or --cell-file, not both"),
    ],
)
def test_bad_cell_file_arguments(argv: list[str], message: str, capsys) -> None:
    status, _, err = gradcheck(capsys, *argv)
    assert status == 2 and message in err and len(err.splitlines()) == 1


def test_debug_shows_the_traceback_of_the_users_code(tmp_path: Path, capsys) -> None:
    old, new, _ = BAD_FILES["exception inside forward"]
    path = variant(tmp_path, old, new)
    status, _, err = gradcheck(capsys, "--cell-file", str(path), "--debug")
    assert status == 2
    assert err.startswith("Traceback (most recent call last):")
    assert f'File "{path}", line {last_line_of(old, new)}, in forward' in err
    assert "engine/cells/probe.py" not in err  # from the user's own code down
    assert err.splitlines()[-1].startswith("charrnn: error: ")


# -- charrnn cell new ------------------------------------------------------------------------------


@pytest.mark.parametrize("base", TEMPLATES)
def test_cell_new_writes_a_working_textbook_cell(
    base: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["cell", "new", "my_cell", "--from", base]) == 0
    assert "charrnn gradcheck --cell-file my_cell.py" in capsys.readouterr().out
    written = (tmp_path / "my_cell.py").read_text(encoding="utf-8")
    template = TEMPLATES[base]
    textbook = Path(f"{Path(__file__).parents[1]}/engine/cells/textbook/{base}.py").read_text()
    # one source of truth: the textbook file, with the header, class and name changed
    body = written[written.index('"""') :]
    assert body == textbook.replace(f"class {template.__name__}(", "class MyCellCell(").replace(
        f'name = "{template.name}"', 'name = "my_cell"'
    )
    assert written.startswith(
        f"# my_cell.py: a cell of your own, written by `charrnn cell new my_cell --from {base}`"
    )
    status, out, err = gradcheck(capsys, "--cell-file", "my_cell.py")
    assert status == 0, out + err
    assert "cell my_cell (class MyCellCell in my_cell.py" in out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("lstm", "'lstm' is a built-in cell's name: choose a name of your own"),
        ("my-cell", "cell name 'my-cell' must be a letter, then up to 31 letters, digits or _"),
        ("9lives", "cell name '9lives' must be a letter"),
        ("a" * 33, "must be a letter, then up to 31"),
        ("taken", "taken.py already exists: choose another name"),
    ],
)
def test_cell_new_refuses(name: str, message: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.py").write_text("# mine\n")
    assert main(["cell", "new", name]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and len(err.splitlines()) == 1
    assert (tmp_path / "taken.py").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.py"]  # nothing half-written


def test_class_names_never_shadow_the_base_class() -> None:
    assert class_name("cell") == "CellCell"
    assert class_name("my_gru") == "MyGruCell"


def test_a_cell_file_with_equal_source_has_an_equal_hash(tmp_path: Path) -> None:
    copy = tmp_path / "copy.py"
    copy.write_bytes(MGU.read_bytes())
    assert load_cell_file(str(copy)).sha256 == load_cell_file(str(MGU)).sha256
    changed = variant(tmp_path, "# from the output, and from step t + 1", "# changed")
    assert load_cell_file(str(changed)).sha256 != load_cell_file(str(MGU)).sha256
