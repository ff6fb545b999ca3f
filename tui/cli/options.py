"""Every command-line option, declared once with its type and help, and the parser built from them.

Value types check a value's form (a whole number, a positive number) and give argparse one
line to print; Config.validate checks ranges that depend on other fields. Hyper-parameter
flags default to None ("the preset's value"), so what the user typed is known exactly.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import corpora
from engine.config import CELLS, DTYPES, LOSS_REDUCTIONS, OPTIMIZERS, PRESETS, SCHEDULES
from engine.limits import MAX_PASSAGE_CHARS, MAX_SAMPLE_LENGTH
from engine.statedict import SEED_MAX

DEFAULT_FPS = 20
# Kept here, not imported from tui.themes, so `charrnn --help` does not import Textual.
THEME_CHOICES = ("dark", "light", "ansi", "high-contrast")


# -- value types ------------------------------------------------------------------------------


def _value(text: str, convert: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Any:
    """`text` converted, or one line for argparse naming what was wanted and what came."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what} (got {text!r})")
    return value


def _real(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def _at_least(text: str, low: int) -> int:
    value = _whole(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {low} or more (got {text!r})")
    return value


def size(text: str) -> int:
    return _at_least(text, 1)


def count(text: str) -> int:
    return _at_least(text, 0)


def positive(text: str) -> float:
    return _value(text, _real, lambda v: v > 0, "a positive number")


def non_negative(text: str) -> float:
    return _value(text, _real, lambda v: v >= 0, "0 or more")


def fraction(text: str) -> float:
    return _value(text, _real, lambda v: 0 <= v < 1, "a number in [0, 1)")


def share(text: str) -> float:
    return _value(text, _real, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def decay(text: str) -> float:
    return _value(text, _real, lambda v: 0 < v <= 1, "above 0 and at most 1")


def seed(text: str) -> int:
    # What numpy's generators take; a checkpoint's seed is checked against the same range.
    return _value(text, int, lambda v: 0 <= v <= SEED_MAX, f"a whole number from 0 to {SEED_MAX}")


def file_path(text: str) -> str:
    """A path that names something: an empty one would be silently left out."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a file path (got {text!r})")
    return text


def sample_length(text: str) -> int:
    return _value(text, int, lambda v: 0 <= v <= MAX_SAMPLE_LENGTH,
                  f"a whole number from 0 to {MAX_SAMPLE_LENGTH:,}")  # fmt: skip


def port(text: str) -> int:
    return _value(text, int, lambda v: 1 <= v <= 65535, "a port number from 1 to 65535")


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    dest: str  # the attribute it fills (for hyper-parameters: the Config field)
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    flag: bool = False  # on/off, no value
    positional: bool = False
    optional_positional: bool = False  # a positional that may be left out (nargs="?")
    many: bool = False  # a positional taking one or more values
    rest: bool = False  # takes every argument after it, flags included (serve --new)
    long_name: str | None = None  # the flag's name when it is not --DEST (DEST is taken)

    def add_to(self, group: argparse._ActionsContainer, dest: str | None = None) -> None:
        kwargs: dict[str, Any] = {"help": self.help, "default": self.default}
        if self.flag:
            kwargs["action"] = "store_true"
            kwargs["default"] = False
        else:
            kwargs |= {"type": self.type, "choices": self.choices, "metavar": self.metavar}
            if self.rest:
                kwargs["nargs"] = argparse.REMAINDER
        if self.positional:
            if self.optional_positional or self.many:
                kwargs["nargs"] = "?" if self.optional_positional else "+"
            group.add_argument(self.dest, **kwargs)
        else:
            group.add_argument(self.flag_name, dest=dest or self.dest, **kwargs)

    @property
    def flag_name(self) -> str:
        return "--" + (self.long_name or self.dest.replace("_", "-"))

    def to_argv(self, value: Any) -> list[str]:
        """The arguments that parse back to `value`: none for the default, a flag's name when
        it is on, `--name=value` (a value may start with '-'), or a positional's value."""
        if value == self.default or (self.flag and not value):
            return []
        if self.flag:
            return [self.flag_name]
        if self.positional:
            return [str(value)]
        return [f"{self.flag_name}={value}"]


# The hyper-parameters: each overrides the --preset's value (dest hp_<field>).
HYPER_PARAMETERS: tuple[Option, ...] = (
    Option("cell", "recurrent cell", choices=CELLS),
    Option("hidden", "hidden units per layer", size, metavar="N"),
    Option("layers", "stacked recurrent layers", size, metavar="N"),
    Option("embedding", "input embedding width, 0 for one-hot input", count, metavar="N"),
    Option("dropout", "dropout between layers, in [0, 1)", fraction, metavar="P"),
    Option("dtype", "float32 (fast) or float64 (classic, gradient checks)", choices=DTYPES),
    Option("seq_length", "characters per window (backpropagation through time)", size, metavar="T"),
    Option("batch", "parallel streams over the training text", size, metavar="B"),
    Option("loss", "sum over the window (min-char-rnn) or mean per character", choices=LOSS_REDUCTIONS),
    Option("optimizer", "adagrad (min-char-rnn's), adagrad-torch (eps outside the root), adam", choices=OPTIMIZERS),
    Option("lr", "learning rate", positive, metavar="LR"),
    Option("beta1", "Adam's first-moment decay", fraction, metavar="B"),
    Option("beta2", "Adam's second-moment decay", fraction, metavar="B"),
    Option("average", "sample and evaluate with a running average of the weights that keeps this much of itself each step (0.998: about the last 500 steps); 0 off", fraction, metavar="D"),
    Option("clip", "clip each gradient element to +-C; 0 off", non_negative, metavar="C"),
    Option("clip_norm", "scale gradients so their joint L2 norm is at most C; 0 off", non_negative, metavar="C"),
    Option("lr_decay", "multiply the learning rate by F every --lr-decay-every iterations; 1 off", decay, metavar="F"),
    Option("lr_decay_every", "iterations between learning-rate decays", size, metavar="N"),
    Option("schedule", "the learning rate's schedule: step (decay by --lr-decay every --lr-decay-every iterations) or anneal (from --lr down to the floor as the budget ends, geometrically: the step decay stretched to the budget; needs --minutes or --iters; the default with --minutes)", choices=SCHEDULES),
    Option("lr_floor", "the lowest learning rate either schedule reaches, as a fraction of --lr (default 0.05); 0 lets step decay go on for ever (an anneal then ends at 1/1000)", share, metavar="F"),
    Option("val_fraction", "hold out this tail of the corpus for validation; 0 none", fraction, metavar="F"),
    Option("eval_every", "validate every N iterations; 0 never", count, metavar="N"),
    Option("val_chars", "characters a validation pass predicts, evenly spread and the same each time; 0 all", count, metavar="N"),
    Option("init_scale", "initial weights ~ randn * S", positive, metavar="S"),
    Option("workers", "threads each minibatch is split across, one slice of streams each; 0 (default) picks 2 on a machine with 2+ cores when --batch is 32 or more", count, metavar="N"),
)  # fmt: skip
HP_PREFIX = "hp_"

OPTIONS: dict[str, Option] = {o.dest: o for o in (
    Option("corpus", f"a bundled corpus ({', '.join(corpora.BUNDLED)}) or a path to a UTF-8 text file (default: {corpora.DEFAULT})", default=corpora.DEFAULT, metavar="CORPUS", positional=True, optional_positional=True),
    Option("checkpoint", "a .npz saved by charrnn", metavar="CHECKPOINT", positional=True),
    Option("headless", "no console: print min-char-rnn's log ('iter N, loss: X' and samples) to stdout", flag=True),
    Option("detach", "train in the background and return to the shell at once (prints the run directory, the process id and the command to attach)", flag=True),
    Option("background", argparse.SUPPRESS, flag=True),  # the detached process itself
    Option("run", "a run directory (default: the most recently started live run under runs/)", metavar="RUN_DIR", positional=True, optional_positional=True),
    Option("root", "the directory holding the runs (default: runs)", default="runs", metavar="DIR", positional=True, optional_positional=True),
    Option("runs", "run directories (or their metrics.jsonl files)", metavar="RUN_DIR", positional=True, many=True),
    Option("preset", "hyper-parameter preset (default: classic, which is min-char-rnn exactly)", choices=tuple(PRESETS)),
    Option("iters", "train N iterations from where the run starts, then save and stop (the console pauses there instead; default: until Ctrl-C or q)", count, metavar="N"),
    Option("minutes", "train for M minutes of training time from where the run starts (fractions allowed; evaluations and pauses do not count), then save and stop as at --iters; with both, the first limit reached ends the run; the learning rate anneals to it (--schedule step keeps the decay)", positive, metavar="M"),
    Option("seed", f"seed for weights and sampling, 0 to {SEED_MAX} (train: default 0; sample: default random)", seed, metavar="N"),
    Option("save", "write a checkpoint here at the end and on Ctrl-C (refused, before training, if PATH is the corpus or not a regular file)", file_path, metavar="PATH"),
    Option("force", "let --save (train) or OUT (export) replace an existing file that charrnn did not write: one that is not a checkpoint, or not an export", flag=True),
    Option("resume", "continue from a checkpoint (its settings win over --preset)", file_path, metavar="CKPT"),
    Option("sample_every", "print a sample every N iterations, 0 for never (default 100)", count, default=100, metavar="N"),
    Option("log_every", "print 'iter N, loss: X' every N iterations (default 100)", size, default=100, metavar="N"),
    Option("temperature", "sampling temperature: divide the logits by T; below 1 is safer, above 1 wilder (default 1.0)", positive, default=1.0, metavar="T"),
    Option("run_dir", "where latest.npz, autosaves, best.npz (best validation) and metrics.jsonl go (console default: runs/CORPUS-TIMESTAMP/; headless: only when given)", file_path, metavar="DIR"),
    Option("autosave_minutes", "save the state to DIR/latest.npz every M minutes, 0 for never (default 5)", non_negative, default=5.0, metavar="M"),
    Option("fps", f"redraw at most N times a second; lower it over a slow SSH link (default {DEFAULT_FPS})", size, default=DEFAULT_FPS, metavar="N"),
    Option("theme", "colours: dark, light, ansi (the terminal's own 16 colours) or high-contrast (default dark; NO_COLOR=1 in the environment turns colour off)", default="dark", choices=THEME_CHOICES),
    Option("length", f"characters to generate after the prime (default 500, at most {MAX_SAMPLE_LENGTH:,})", sample_length, default=500, metavar="N"),
    Option("top_k", "the K likeliest next characters: sample draws only among them (default: all); inspect lists them (default 5)", count, metavar="K"),
    Option("text", f"the passage to inspect, at most {MAX_PASSAGE_CHARS:,} characters (default: held-out text of the checkpoint's bundled corpus)", metavar="T"),
    Option("text_file", f"read the passage to inspect from this UTF-8 file (at most {MAX_PASSAGE_CHARS:,} characters)", metavar="F"),
    Option("unit", "show one unit's activation along the passage: LAYER:N, or LAYER:N:KIND for an LSTM/GRU gate or cell (e.g. 0:37:c)", metavar="LAYER:N"),
    Option("find_units", "rank the units that follow simple properties of the text (quotes, brackets, line position, ...)", flag=True),
    Option("gates", "LSTM/GRU gate saturation: per layer and gate, the share of steps below 0.1 and above 0.9", flag=True),
    Option("window", "the window the checkpoint's next training step reads: its input and target characters, the pointer p of N, the epoch, whether the state restarts and why (needs the training text: a bundled corpus, or --corpus)", flag=True),
    Option("through_time", "backpropagation through time, per step of one window: the loss, the gradient reaching h_t, the last step's gradient travelling back, the factor per step, the horizon, clipping (the next training window's stream 0, or the passage --text T)", flag=True),
    Option("corpus_text", "the text the checkpoint was trained on, for --window and --through-time when its corpus is not bundled (checked against the checkpoint's fingerprint)", file_path, metavar="PATH", long_name="corpus"),
    Option("json", "print everything as one JSON object, for scripts", flag=True),
    Option("greedy", "always take the likeliest character", flag=True),
    Option("prime", "text to read first, from a zero state as char-rnn does; the output starts with it (default: continue after a newline from the state training left)", metavar="TEXT"),
    Option("prime_file", "read the prime from this UTF-8 file (for a long or multi-line prime)", metavar="PATH"),
    Option("zero_state", "start from a zero hidden state, as at the very start of the corpus (the default with a prime)", flag=True),
    Option("carried_state", "start from the state training left in the checkpoint, even with a prime (the default without one)", flag=True),
    Option("host", "the address to listen on (default 127.0.0.1: this machine only; anything else needs --public)", default="127.0.0.1", metavar="HOST"),
    Option("port", "the TCP port to listen on (default 8000)", port, default=8000, metavar="PORT"),
    Option("public", "allow a --host other than loopback: anyone who can reach the port can steer the run (there is no password)", flag=True),
    Option("max_viewers", "the most browser tabs served at once, each a `charrnn attach` process (default 4); a tab beyond it is told so", size, default=4, metavar="N"),
    Option("cell_file", "your own cell: a Python file defining a class derived from engine.cells.base.Cell, and CLASS when it defines several (it is code you run, like any script)", file_path, metavar="PATH[:CLASS]"),
    Option("cell_changed_ok", "load checkpoints of your cell that were saved with another version of its file's source (their recorded sha256 differs): they run with the source as it is now", flag=True),
    Option("debug", "show the traceback of an exception raised in your cell file's code", flag=True),
    Option("cell_action", "new: write NAME.py, a working cell in textbook form to edit", choices=("new",), metavar="new", positional=True),
    Option("cell_name", "your cell's name, which also names its file (a letter, then letters, digits or _)", metavar="NAME", positional=True),
    Option("from", "the textbook cell to start from (default rnn)", default="rnn", choices=("rnn", "lstm", "gru")),
    Option("to", "the format to write: safetensors (needs the safetensors package) or torch (a state_dict for torch.load; needs PyTorch); default: from OUT's suffix, .safetensors or .pt", choices=("safetensors", "torch")),
    Option("out", "the file to write; an existing one is replaced only if it is a previous export (or with --force)", file_path, metavar="OUT", positional=True),
    Option("new", "start a detached run first: everything after --new is `charrnn train`'s arguments (CORPUS, --preset, ...)", metavar="CORPUS [FLAGS]", rest=True),
)}  # fmt: skip


@dataclass(frozen=True)
class CommandSpec:
    help: str
    description: str
    options: tuple[str, ...] = ()  # names in OPTIONS
    groups: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (title, description, names)
    hyper_parameters: tuple[str, ...] = ()  # Config fields offered as flags
    hyper_parameter_note: str = ""  # the description of their group
    epilog: str | None = None  # printed as written after the options

    @property
    def option_names(self) -> tuple[str, ...]:
        """Every option in OPTIONS this command takes, grouped or not (hyper-parameters aside)."""
        return self.options + tuple(name for _, _, names in self.groups for name in names)


RESUME_NOTE = (
    "Each overrides the --preset's value. On --resume the checkpoint's model and data layout "
    "are kept; only the training schedule (--lr, --clip, --clip-norm, --lr-decay, "
    "--lr-decay-every, --schedule, --lr-floor, --eval-every, --val-chars, --workers) may "
    "change."
)
ALL_HYPER_PARAMETERS = tuple(o.dest for o in HYPER_PARAMETERS)
# Every command that builds a model of a checkpoint or a run takes the user's cell file.
CELL_FILE_GROUP = (
    "a cell of your own",
    "A checkpoint or a run of a cell you wrote names the cell but never imports its code: "
    "give its file with --cell-file on each command that builds the model.",
    ("cell_file", "cell_changed_ok", "debug"),
)

COMMANDS: dict[str, CommandSpec] = {
    "train": CommandSpec(
        help="train a model (in the console, or --headless for min-char-rnn's plain log)",
        description="Train a model on CORPUS, from scratch or resumed from a checkpoint.",
        options=("corpus", "headless", "detach", "background", "preset", "iters", "minutes", "seed",
                 "save", "force", "resume", "sample_every", "log_every", "temperature",
                 "run_dir"),
        groups=(("console options (ignored with --headless)", "",
                 ("autosave_minutes", "fps", "theme")),
                CELL_FILE_GROUP),
        hyper_parameters=ALL_HYPER_PARAMETERS,
        hyper_parameter_note=RESUME_NOTE,
        epilog="presets:\n" + "\n".join(f"  {n:<9} {d}" for n, (_, d) in PRESETS.items()),
    ),
    "sample": CommandSpec(
        help="generate text from a checkpoint",
        description="Print text generated by the model in CHECKPOINT.",
        options=("checkpoint", "length", "temperature", "top_k", "greedy", "prime",
                 "prime_file", "zero_state", "carried_state", "seed"),
        groups=(CELL_FILE_GROUP,),
    ),
    "gradcheck": CommandSpec(
        help="compare analytic and numerical gradients",
        description="Check backpropagation on a tiny model (hidden 8, seq 6, float64) against "
        "central differences, and the cell's protocol (engine/cells/base.py): shapes, no NaN, "
        "every gradient written, row_step against forward, the incoming state's gradient. "
        "Exits 0 only if every check passes (every entry's relative error below 1e-5), 1 if "
        "a gradient or row_step disagrees, 2 if the cell cannot be run. Flags left out keep "
        "the classic preset's values.",
        options=("cell_file", "debug"),
        hyper_parameters=("cell", "layers", "embedding", "dropout"),
        hyper_parameter_note="Each replaces the classic preset's value in the model checked.",
    ),
    "cell": CommandSpec(
        help="start a cell of your own: `cell new NAME` writes NAME.py",
        description="Write NAME.py: a complete, commented, working cell in textbook form "
        "(a copy of charrnn's textbook rnn, lstm or gru, renamed), ready to edit and to check "
        "with `charrnn gradcheck --cell-file NAME.py`. An existing file is never replaced.",
        options=("cell_action", "cell_name", "from"),
    ),
    "inspect": CommandSpec(
        help="what a model predicts along a passage, which units fire, how its gates saturate",
        description="Inspect the model in CHECKPOINT: each character's probability and the "
        "top-K guesses for the next one (the default), one unit's activations, the units "
        "that follow properties of the text, gate saturation, the next training window, and "
        "how the gradient travels back through time.",
        options=("checkpoint", "text", "text_file", "top_k", "unit", "find_units", "gates",
                 "window", "through_time", "corpus_text", "json"),
        groups=(CELL_FILE_GROUP,),
    ),
    "attach": CommandSpec(
        help="open the console on a detached run",
        description="Open the console on a run started with --detach (or moved there with d), "
        "as if it had been started here. q leaves it training; Q stops it.",
        options=("run", "fps", "theme"),
        groups=(CELL_FILE_GROUP,),
    ),
    "serve": CommandSpec(
        help="the console of a detached run in a web browser (needs textual-serve)",
        description="Serve `charrnn attach RUN_DIR` to web browsers: each tab is one more "
        "viewer, closing it leaves the run training, and Ctrl+C stops the server, not the run.",
        options=("run", "host", "port", "public", "max_viewers", "fps", "theme", "new"),
        groups=(CELL_FILE_GROUP,),
    ),
    "runs": CommandSpec(
        help="list runs: live or stopped, model, iteration, loss",
        description="List the run directories under DIR, newest first.",
        options=("root",),
    ),
    "compare": CommandSpec(
        help="overlay the loss curves of runs (live for runs still training)",
        description="Training and held-out loss of each RUN_DIR's metrics.jsonl on one chart, "
        "redrawn as runs still training write more.",
        options=("runs",),
    ),
    "export": CommandSpec(
        help="write a model's weights for PyTorch: safetensors or a torch state_dict",
        description="Write the weights charrnn samples with (the running average, for presets "
        "that keep one) from CHECKPOINT to OUT, under the names, shapes and gate orders of "
        "PyTorch's nn.Embedding, nn.RNN/LSTM/GRU and nn.Linear, with the vocabulary and the "
        "configuration in the file's metadata. docs/export.md has a loader.",
        options=("checkpoint", "to", "out", "force"),
    ),
    "corpora": CommandSpec(
        help="list the bundled corpora",
        description="List the bundled corpora with their sizes.",
    ),
}  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"charrnn: error: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    parser = Parser(
        prog="charrnn",
        description=(
            "Train character-level recurrent language models with numpy, watch them learn in a "
            "terminal console, and sample from them. With no command, opens the console "
            f"training the classic preset on the bundled {corpora.DEFAULT!r} corpus."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    hp = {o.dest: o for o in HYPER_PARAMETERS}
    for name, spec in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=spec.help,
            description=spec.description,
            epilog=spec.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for option in spec.options:
            OPTIONS[option].add_to(sub)
        for title, description, names in spec.groups:
            group = sub.add_argument_group(title, description or None)
            for option in names:
                OPTIONS[option].add_to(group)
        if spec.hyper_parameters:
            group = sub.add_argument_group("model and optimiser", spec.hyper_parameter_note)
            for field in spec.hyper_parameters:
                hp[field].add_to(group, dest=HP_PREFIX + field)
    return parser


def hyper_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The Config fields the user set on the command line."""
    return {
        name[len(HP_PREFIX) :]: value
        for name, value in vars(args).items()
        if name.startswith(HP_PREFIX) and value is not None
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line. With no command, `charrnn` means `charrnn train`: alone (the
    console on the default corpus) and with flags (`charrnn --preset gru`), but `-h` and
    `--help` still ask for the top-level help."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    return build_parser().parse_args(argv)
