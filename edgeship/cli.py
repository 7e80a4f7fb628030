"""The `edgeship` command line: thin parsers over the library (`exporter`) and the web app (`webapp`).

Every user error is an `EdgeshipError` (the web app's `ServeError` included); `main` prints it as one line,
with the parameters it names shown as this command line's flags (`out` as `--out`, build-site's `site_out`
as `OUT`), and returns 2. GPU options are applied before any module that imports TensorFlow is imported,
because TensorFlow fixes its devices at first use.

`--quiet` (before or after the command): no progress lines and no table; errors still one line on stderr.
`edgeship export --json`: the report on stdout as JSON (report.json's content and "out"), nothing else.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from edgeship.memory import OPTIONAL_IMPORTS, keep_out, tune_allocator
from edgeship.native_output import native_output_to_log
from exporter import DEFAULT_SHARD_SIZE, VARIANTS, EdgeshipError, Target, gpu

Command = Callable[[argparse.Namespace], int]
# Optional libraries a command does use: the demo loads its digits with scikit-learn (which needs scipy).
USES_OPTIONAL = {"demo": {"sklearn", "scipy"}}
# How this command line names the library's parameters in messages: its positional arguments by their
# metavar, every other parameter as its flag (qat_epochs as --qat-epochs).
POSITIONAL = {"model": "MODEL", "directory": "DIR", "site_out": "OUT"}
NUMBER_FLAGS = ("--input-range", "--mean", "--std")  # their values may start with "-"
NEGATIVE_STARTS = {f"-{c}" for c in "0123456789."}


def flag(parameter: str) -> str:
    """How this command line names a library parameter: `out` is --out, `site_out` is OUT."""
    return POSITIONAL.get(parameter, "--" + parameter.replace("_", "-"))


def error_line(error: EdgeshipError) -> str:
    """The one line the command line prints for a user error."""
    return f"{type(error).__name__}: {error.message(flag)}"


class _VersionAction(argparse.Action):
    """--version: computed only when asked (it reads package metadata and the vendored tfjs bundle)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the versions of edgeship and its stack")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from edgeship.versions import report

        print(report())
        parser.exit()


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
    import json

    from exporter import ExportOptions, export

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
        labels=args.labels,
        input_range=args.input_range,
        mean=args.mean,
        std=args.std,
        color=args.color,
        resize=args.resize,
        quiet=args.quiet,
        show_table=not args.json,
    )
    result = export(options)
    if args.json:
        print(json.dumps({"out": str(result.out), **result.report}, indent=1), flush=True)
    if result.manifest.get("failed"):  # shown even with --quiet, as errors are
        failed = "; ".join(f"{variant}: {reason}" for variant, reason in result.manifest["failed"].items())
        count = len(result.manifest["failed"])
        print(f"VariantsFailed: {count} variant(s) failed, the others were written to {result.out}: {failed}",
              file=sys.stderr)  # fmt: skip
    return result.exit_code


def _run_demo(args: argparse.Namespace) -> int:
    from edgeship.demo import run_demo

    return run_demo(args.out, quiet=args.quiet).exit_code


def _host_name(text: str) -> str:
    """A --name value: a DNS name the certificate and the Host check will hold."""
    from webapp.lan import check_name

    try:
        return check_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _run_serve(args: argparse.Namespace) -> int:
    from webapp.serve import Https, serve, serve_https
    from webapp.serve_error import ServeError

    if args.lan or args.cert or args.key:
        https = Https(lan=args.lan, names=tuple(args.name), cert=args.cert, key=args.key)
        serve_https(
            args.directory, host=args.host or "127.0.0.1", port=args.port, https=https, quiet=args.quiet
        )
    elif args.name:
        raise ServeError(
            f"--name {args.name[0]} is for HTTPS, which a plain serve does not speak; add --lan (or --cert "
            "and --key)."
        )
    else:
        serve(args.directory, host=args.host or "127.0.0.1", port=args.port)
    return 0


def _run_build_site(args: argparse.Namespace) -> int:
    from webapp.site import build_site

    site = build_site(args.directory, args.out)
    if args.quiet:
        return 0
    print(
        f"Wrote {site.files} files for {len(site.exports)} export(s) to {site.out}: serve it from any static "
        "host with the headers in _headers (Netlify, Cloudflare Pages) or _nginx.conf (nginx)."
    )
    return 0


def _run_gpu(args: argparse.Namespace) -> int:
    print(gpu.describe())
    return 0


QUIET_HELP = "no progress lines and no table (errors are still printed, as one line)"
EXPORT_EXIT_CODES = (
    "exit status: 0 every variant was written, or skipped for the reason the report gives (data not given, "
    "a layer the target cannot take); 3 some variant failed (its reason is printed, in report.json and in "
    "manifest.json's failed map) and the others were written; 2 nothing was changed: bad input, no variant "
    "could be built, or a variant outside its tolerance without --allow-degraded."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeship", description="Export a Keras/TensorFlow model for phones, boards and web pages."
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each command takes --quiet too; SUPPRESS, so that its default does not undo a --quiet given before it.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
    gpu_options = gpu.argument_parser()

    export = sub.add_parser(
        "export", parents=[gpu_options, quiet], help="write the validated precision ladder for a model",
        epilog=EXPORT_EXIT_CODES,
    )  # fmt: skip
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
    export.add_argument(
        "--labels", type=Path, metavar="FILE", help="class names, one per line (UTF-8), one per class"
    )
    export.add_argument(
        "--input-range",
        metavar="LO,HI",
        help="the values pixels 0..255 map to (e.g. 0,1 or -1,1; default: what the model or data says)",
    )
    export.add_argument("--mean", metavar="A,B,C", help="per-channel mean subtracted after the range")
    export.add_argument("--std", metavar="A,B,C", help="per-channel standard deviation divided by after it")
    export.add_argument("--color", metavar="rgb|bgr|gray", help="the channel order the model takes")
    export.add_argument(
        "--resize",
        metavar="stretch|crop|pad",
        help="how an image of another shape is fitted (default: crop for photos, stretch for digits)",
    )
    export.add_argument(
        "--json",
        action="store_true",
        help="print the report (report.json and the out path) as JSON on stdout instead of the table",
    )
    export.set_defaults(func=_run_export)

    demo = sub.add_parser(
        "demo", parents=[gpu_options, quiet], help="train the digits CNN and export the whole ladder"
    )
    demo.add_argument(
        "--out", type=_folder, default=Path("dist/demo"), help="export folder (default dist/demo)"
    )
    demo.set_defaults(func=_run_demo)

    serve = sub.add_parser("serve", parents=[quiet], help="serve exports as an offline web app")
    serve.add_argument("directory", type=Path, help="an export folder, or a folder of export folders")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--host", default=None, help="address to bind (default: loopback only)")
    where.add_argument(
        "--lan",
        action="store_true",
        help="serve HTTPS to phones on this network (all interfaces), with a certificate from edgeship's own "
        "CA, and print a QR code of the /connect page",
    )
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000; 0: any free port)")
    serve.add_argument(
        "--name",
        type=_host_name,
        action="append",
        default=[],
        metavar="HOST",
        help="another host name this machine answers to (the certificate holds it; repeatable)",
    )
    serve.add_argument(
        "--cert", type=Path, help="your own certificate (PEM, e.g. from mkcert): serve HTTPS with it"
    )
    serve.add_argument("--key", type=Path, help="the private key (PEM) of --cert")
    serve.set_defaults(func=_run_serve)

    site = sub.add_parser(
        "build-site", parents=[quiet], help="write the app and the exports as a static site for any host"
    )
    site.add_argument("directory", type=Path, help="an export folder, or a folder of export folders")
    site.add_argument("out", type=_folder, help="the site folder to write (replaced only on success)")
    site.set_defaults(func=_run_build_site)

    gpu_cmd = sub.add_parser(
        "gpu", parents=[gpu_options, quiet], help="show GPUs and the memory configuration"
    )
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


def _numbers_attached(argv: Sequence[str]) -> list[str]:
    """`--input-range -1,1` as `--input-range=-1,1`: argparse takes a value that starts with "-" and is not
    a plain negative number for an option, and would say the flag has no value."""
    words = list(argv)
    for index in range(len(words) - 2, -1, -1):
        if words[index] in NUMBER_FLAGS and words[index + 1][:2] in NEGATIVE_STARTS:
            words[index : index + 2] = [f"{words[index]}={words[index + 1]}"]
    return words


def main(argv: Sequence[str] | None = None, lean: bool = False) -> int:
    """Run one command. `lean` (the installed `edgeship`, `python -m edgeship`) keeps the optional libraries
    the command does not use out of this process; not for tests that call main(): they share the process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ start-up chatter is not for users
    tune_allocator()
    args = build_parser().parse_args(_numbers_attached(sys.argv[1:] if argv is None else argv))
    if lean:
        keep_out(set(OPTIONAL_IMPORTS) - USES_OPTIONAL.get(args.command, set()))
    _quiet_python_warnings()
    with native_output_to_log():
        try:
            for notice in gpu.apply(gpu.config_from(args, os.environ)):
                print(notice, file=sys.stderr)
            return int(args.func(args))
        except EdgeshipError as error:
            print(error_line(error), file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            print("Interrupted: nothing was changed in the output folder.", file=sys.stderr)
            return 130


def entry() -> int:
    """The `edgeship` console script."""
    return main(lean=True)


if __name__ == "__main__":
    sys.exit(entry())
