"""The `edgeship` command line: thin parsers over typed functions.

Every user error is an `EdgeshipError`; `main` prints it as one line and returns 2. GPU options are applied
before any module that imports TensorFlow is imported, because TensorFlow fixes its devices at first use.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from exporter import __version__, gpu
from exporter.config import DEFAULT_SHARD_SIZE, VARIANTS, Target
from exporter.errors import EdgeshipError
from exporter.memory import OPTIONAL_IMPORTS, keep_out, tune_allocator
from exporter.native_output import native_output_to_log

Command = Callable[[argparse.Namespace], int]
# Optional libraries a command does use: the demo loads its digits with scikit-learn (which needs scipy).
USES_OPTIONAL = {"demo": {"sklearn", "scipy"}}


def _csv_choices(choices: Sequence[str], what: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(choices)}"
            )
        return items

    return parse


def _folder(text: str) -> Path:
    """An output folder path; argparse's own Path would read "" as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no folder; give a folder path")
    return Path(text)


def _port(text: str) -> int:
    """A TCP port; out of range, socket libraries may wrap it or pick one at random instead of failing."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text} is not a port; give a number from 1 to 65535 (or 0 for any free port)"
        )
    return port


def _run_export(args: argparse.Namespace) -> int:
    from exporter.pipeline import ExportOptions, export

    options = ExportOptions(
        model=args.model,
        out=args.out,
        variants=args.variants,
        targets=args.targets,
        calibration=args.calibration,
        eval=args.eval,
        train=args.train,
        qat_epochs=args.qat_epochs,
        shard_size=args.shard_size,
        fold_bn=not args.no_fold_bn,
        allow_degraded=args.allow_degraded,
    )
    return export(options).exit_code


def _run_demo(args: argparse.Namespace) -> int:
    from exporter.demo import run_demo

    return run_demo(args.out).exit_code


def _run_serve(args: argparse.Namespace) -> int:
    from webapp.serve import serve

    serve(args.directory, host=args.host, port=args.port)
    return 0


def _run_build_site(args: argparse.Namespace) -> int:
    from webapp.site import build_site

    site = build_site(args.directory, args.out)
    print(
        f"Wrote {site.files} files for {len(site.exports)} export(s) to {site.out}: serve it from any static "
        "host with the headers in _headers (Netlify, Cloudflare Pages) or _nginx.conf (nginx)."
    )
    return 0


def _run_gpu(args: argparse.Namespace) -> int:
    print(gpu.describe())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeship", description="Export a Keras/TensorFlow model for phones, boards and web pages."
    )
    parser.add_argument("--version", action="version", version=f"edgeship {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gpu_options = gpu.argument_parser()

    export = sub.add_parser(
        "export", parents=[gpu_options], help="write the validated precision ladder for a model"
    )
    export.add_argument(
        "model", type=Path, help="a Keras 3 .keras file, a tf-keras .h5 file, or a SavedModel"
    )
    export.add_argument("--out", type=_folder, required=True, help="export folder (replaced only on success)")
    export.add_argument(
        "--variants",
        type=_csv_choices(list(VARIANTS), "variant"),
        default=None,
        help="comma-separated variant ids (default: all that the given data allows): " + ", ".join(VARIANTS),
    )
    export.add_argument(
        "--targets",
        type=_csv_choices([t.value for t in Target], "target"),
        default=[t.value for t in Target],
        help="comma-separated targets (default: tflite,tfjs)",
    )
    export.add_argument(
        "--calibration", type=Path, help="DATA.npz with array x: inputs for full-integer int8"
    )
    export.add_argument("--eval", type=Path, help="DATA.npz with arrays x, y: accuracy per variant")
    export.add_argument("--train", type=Path, help="DATA.npz with arrays x, y: quantization-aware training")
    export.add_argument("--qat-epochs", type=int, default=2, help="epochs of quantization-aware fine-tuning")
    export.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="largest TFJS weight shard in bytes"
    )
    export.add_argument(
        "--no-fold-bn", action="store_true", help="keep BatchNormalization layers as they are"
    )
    export.add_argument(
        "--allow-degraded", action="store_true", help="exit 0 even when a variant is outside its tolerance"
    )
    export.set_defaults(func=_run_export)

    demo = sub.add_parser(
        "demo", parents=[gpu_options], help="train the digits CNN and export the whole ladder"
    )
    demo.add_argument(
        "--out", type=_folder, default=Path("dist/demo"), help="export folder (default dist/demo)"
    )
    demo.set_defaults(func=_run_demo)

    serve = sub.add_parser("serve", help="serve exports as an offline web app")
    serve.add_argument("directory", type=Path, help="an export folder, or a folder of export folders")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000; 0: any free port)")
    serve.set_defaults(func=_run_serve)

    site = sub.add_parser("build-site", help="write the app and the exports as a static site for any host")
    site.add_argument("directory", type=Path, help="an export folder, or a folder of export folders")
    site.add_argument("out", type=_folder, help="the site folder to write (replaced only on success)")
    site.set_defaults(func=_run_build_site)

    gpu_cmd = sub.add_parser("gpu", parents=[gpu_options], help="show GPUs and the memory configuration")
    gpu_cmd.set_defaults(func=_run_gpu)
    return parser


def _quiet_python_warnings() -> None:
    """TensorFlow's own Python warnings (deprecations, converter notes) are not the user's business."""
    import logging
    import warnings

    warnings.filterwarnings(
        "ignore", module=r"(tensorflow|tf_keras|keras|tensorflowjs|tensorflow_model_optimization)"
    )
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None, lean: bool = False) -> int:
    """Run one command. `lean` (the installed `edgeship`, `python -m exporter`) keeps the optional libraries
    the command does not use out of this process; not for tests that call main(): they share the process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ start-up chatter is not for users
    tune_allocator()
    args = build_parser().parse_args(argv)
    if lean:
        keep_out(set(OPTIONAL_IMPORTS) - USES_OPTIONAL.get(args.command, set()))
    _quiet_python_warnings()
    with native_output_to_log():
        try:
            for notice in gpu.apply(gpu.config_from(args, os.environ)):
                print(notice, file=sys.stderr)
            return int(args.func(args))
        except EdgeshipError as error:
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            print("Interrupted: nothing was changed in the output folder.", file=sys.stderr)
            return 130


def entry() -> int:
    """The `edgeship` console script."""
    return main(lean=True)


if __name__ == "__main__":
    sys.exit(entry())
