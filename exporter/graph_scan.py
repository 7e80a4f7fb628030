"""Refuse a SavedModel whose graphs touch files, the network or Python, before TensorFlow loads it.

A SavedModel is a program: loading it runs its init ops (TF1 main/legacy init ops, TF2
`__saved_model_init_op`), and every call of its signature runs whatever ops the serving function holds;
`tf.io.write_file`, `tf.py_function` or a TFRecord reader run as happily as a MatMul. So saved_model.pb is
parsed as a protobuf first and every node is checked: each MetaGraphDef's GraphDef and every function of
its library, whether anything seems to call it or not (a function attribute may name any of them, and
TensorFlow also accepts a plain op name as a function).

The deny list below is made of names from TensorFlow's op registry (`tf.raw_ops`; a test checks that every
name is registered), grouped by what the op reaches. One exception: a SavedModel's own checkpoint
functions (the ones its saver_def's save/restore tensors call, and the save/restore functions of its
trackable objects) need SaveV2, RestoreV2 and MergeV2Checkpoints to read and write its `variables/` folder;
they are allowed there and only there, as long as nothing else calls those functions, no string constant
in them names a path outside the model folder, and the path each of them uses is built from the one the
loader passes in (the saver_def's filename tensor, or the function's argument).

What is deliberately not in the list: `tf.io.gfile` (Python functions, never graph ops), a `DeleteFile` op
(TensorFlow has none), `tf.numpy_function` (it saves as PyFunc, which is listed). Lookup tables that read
their vocabulary from a file (InitializeTableFromTextFile) are refused too: image models have none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.errors import ModelLoadError, UnsafeModelError

_FILE = "touches the file system"
_NETWORK = "uses the network"
_PYTHON = "runs Python code"
_DEBUG = "sends debug output to files or the network"
_ADVICE = "edgeship runs no file, network or Python op from a model file. Export the model without it."
_OUTSIDE_ADVICE = (
    "edgeship reads and writes nothing outside the model folder. Save the model again with "
    "tf.saved_model.save()."
)

# Ops that read, write, list or delete files (summary writers, readers and file datasets included).
_FILE_OPS = {
    "ReadFile", "WriteFile", "MatchingFiles", "FileSystemSetConfiguration", "ImmutableConst",
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "GenerateVocabRemapping",
    "LoadAndRemapMatrix", "RecordInput", "CalibrationStatisticsSaver",
    # checkpoints (SaveV2, RestoreV2 and MergeV2Checkpoints are allowed in checkpoint functions, see above)
    "Save", "SaveSlices", "SaveV2", "Restore", "RestoreSlice", "RestoreV2", "MergeV2Checkpoints",
    "DTensorRestoreV2",
    # readers
    "TFRecordReader", "TFRecordReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "WholeFileReader", "WholeFileReaderV2", "IdentityReader", "IdentityReaderV2",
    "LMDBReader", "ReaderRead", "ReaderReadV2", "ReaderReadUpTo", "ReaderReadUpToV2", "ReaderRestoreState",
    "ReaderRestoreStateV2",
    # datasets that read or write files
    "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "LMDBDataset",
    "ExperimentalLMDBDataset", "SqlDataset", "ExperimentalSqlDataset", "MatchingFilesDataset",
    "ExperimentalMatchingFilesDataset", "CacheDataset", "CacheDatasetV2", "SnapshotDataset",
    "SnapshotDatasetV2", "SnapshotDatasetReader", "SnapshotNestedDatasetReader", "SnapshotChunkDataset",
    "ListSnapshotChunksDataset", "LoadDataset", "SaveDataset", "SaveDatasetV2", "DatasetToTFRecord",
    "ExperimentalDatasetToTFRecord", "DistributedSave",
    # a dataset rebuilt from a serialised GraphDef: a graph this scan cannot see
    "DatasetFromGraph",
    # summary writers
    "SummaryWriter", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary",
    "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary",
    "WriteRawProtoSummary", "FlushSummaryWriter", "CloseSummaryWriter", "ImportEvent",
    "StatsAggregatorSetSummaryWriter",
}  # fmt: skip

# Ops that talk to other processes or machines.
_NETWORK_OPS = {
    "RpcClient", "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcCall", "RpcCheckStatus",
    "RpcGetValue", "DeleteRpcFutureResource", "DataServiceDataset", "DataServiceDatasetV2",
    "DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2",
    "CollectiveAllToAllV2", "CollectiveAllToAllV3", "CollectiveAssignGroupV2", "CollectiveBcastRecv",
    "CollectiveBcastRecvV2", "CollectiveBcastSend", "CollectiveBcastSendV2", "CollectiveGather",
    "CollectiveGatherV2", "CollectiveInitializeCommunicator", "CollectivePermute", "CollectiveReduce",
    "CollectiveReduceScatterV2", "CollectiveReduceV2", "CollectiveReduceV3", "NcclAllReduce", "NcclBroadcast",
    "NcclReduce", "Send", "Recv", "_Send", "_Recv", "_HostSend", "_HostRecv", "XlaSend", "XlaRecv",
    "XlaSendToHost", "XlaRecvFromHost", "XlaHostCompute", "_XlaHostComputeMlir", "_XlaSendFromHost",
    "_XlaSendFromHostV2", "_XlaRecvAtHost", "_XlaRecvAtHostV2", "XlaCustomCall", "XlaCustomCallV2",
}  # fmt: skip

# Ops that call back into the Python interpreter (tf.py_function, tf.numpy_function, tf.compat.v1.py_func).
_PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}

# tfdbg ops: their debug_urls send tensors to file:// or grpc:// addresses.
_DEBUG_OPS = {
    "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
    "DebugNumericSummaryV2", "DebugGradientIdentity", "DebugGradientRefIdentity", "Copy", "CopyHost",
}  # fmt: skip

DENIED_OPS: dict[str, str] = {
    **{op: _FILE for op in _FILE_OPS},
    **{op: _NETWORK for op in _NETWORK_OPS},
    **{op: _PYTHON for op in _PYTHON_OPS},
    **{op: _DEBUG for op in _DEBUG_OPS},
}

# What a checkpoint function may do with files: write and read the model's own variables/ folder.
CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints"})

# A path outside the model folder: absolute (POSIX, Windows, a URL scheme such as gs:// or file://) or
# climbing out with "..". TF2 checkpoint functions hold the regex "^s3://.*", which is not such a path.
_OUTSIDE = re.compile(r"^(/|\\|[A-Za-z]:[\\/]|[A-Za-z][A-Za-z0-9+.-]*://)|(^|[\\/])\.\.([\\/]|$)")


# How a checkpoint op's path may be made: from where each of these ops takes the path it passes on. TF's own
# savers build `<prefix>_temp/part` and its shard names this way; a constant anywhere in that chain would be
# a path of the model's choosing rather than the variables folder the loader gives.
_PATH_INPUTS = {
    "Identity": (0,),
    "StringJoin": (0,),
    "ShardedFilename": (0,),
    "Select": (1, 2),
    "SelectV2": (1, 2),
}
_CHECKPOINT_PATH_ARGS = {"SaveV2": (0,), "RestoreV2": (0,), "MergeV2Checkpoints": (0, 1)}


@dataclass(frozen=True)
class _Body:
    """A list of NodeDefs to check: the graph itself, or one function of its library."""

    where: str  # "function 'NAME'", or "" for the graph (then each node names itself)
    nodes: list[Any]
    sources: frozenset[str]  # where a checkpoint path may come from: the saver's filename, or an argument
    allowed: frozenset[str]  # the checkpoint nodes, which may run SaveV2, RestoreV2 and MergeV2Checkpoints


def scan_saved_model(folder: Path) -> None:
    """Raise UnsafeModelError for the first file, network, Python or debug op in any graph or function."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString((folder / "saved_model.pb").read_bytes())
    except Exception as error:  # DecodeError, or an OSError reading it
        raise ModelLoadError(
            f"{folder}/saved_model.pb is not a readable SavedModel ({type(error).__name__}); export it again"
        ) from None
    for meta_graph in saved_model.meta_graphs:
        _scan_meta_graph(meta_graph)


def _scan_meta_graph(meta_graph: Any) -> None:
    graph = meta_graph.graph_def
    library = {function.signature.name: function for function in graph.library.function}
    checkpoint_nodes = _checkpoint_nodes(meta_graph)
    other_nodes = [node for node in graph.node if node.name not in checkpoint_nodes]
    checkpoint_roots = {
        name for node in graph.node if node.name in checkpoint_nodes for name in _callees(node)
    }
    checkpoint_roots |= _saveable_functions(meta_graph.object_graph_def)
    reached = _reach(checkpoint_roots, library)
    anyone = {name for node in other_nodes for name in _callees(node)} | (set(library) - reached)
    checkpoint_functions = reached - _reach(anyone, library)

    filename = meta_graph.saver_def.filename_tensor_name
    sources = frozenset({_node_name(filename)} if filename else set())
    _check(_Body("", list(graph.node), sources, frozenset(checkpoint_nodes)))
    for name, function in library.items():
        arguments = frozenset(arg.name for arg in function.signature.input_arg)
        allowed = frozenset(node.name for node in function.node_def) if name in checkpoint_functions else None
        _check(_Body(f"function '{name}'", list(function.node_def), arguments, allowed or frozenset()))
    _check_assets(meta_graph)


def _check(body: _Body) -> None:
    by_name = {node.name: node for node in body.nodes}
    for node in body.nodes:
        where = body.where or f"graph node '{node.name}'"
        verb = "calls" if body.where else "runs"
        in_checkpoint = node.name in body.allowed
        for op in dict.fromkeys(_callees(node)):  # TF also runs an op named where a function is expected
            if op in DENIED_OPS and not (in_checkpoint and op in CHECKPOINT_OPS):
                raise UnsafeModelError(f"{where} {verb} {op}, which {DENIED_OPS[op]}; {_ADVICE}")
        category = _attribute_reach(node)
        if category:
            raise UnsafeModelError(f"{where} {verb} {node.op} on a file, which {category}; {_ADVICE}")
        if not in_checkpoint:
            continue
        for text in _string_constants(node):
            if _OUTSIDE.search(text):
                raise UnsafeModelError(
                    f"{where} refers to the path '{text[:80]}', outside the model folder; {_OUTSIDE_ADVICE}"
                )
        for index in _CHECKPOINT_PATH_ARGS.get(node.op, ()):
            if index >= len(node.input) or not _from_source(node.input[index], by_name, body.sources):
                raise UnsafeModelError(
                    f"{where} {verb} {node.op} on a path that is not the one the loader gives for the "
                    f"model's variables; {_OUTSIDE_ADVICE}"
                )


def _from_source(tensor: str, by_name: dict[str, Any], sources: frozenset[str]) -> bool:
    """Whether a path tensor is made only from the loader's path, through the ops in _PATH_INPUTS."""
    todo, seen = [tensor], set()
    while todo:
        name = _node_name(todo.pop())
        if name in sources or name in seen:
            continue
        node = by_name.get(name)
        if node is None:
            return False  # neither the loader's path nor a node of this body
        seen.add(name)
        data_inputs = [i for i in node.input if not i.startswith("^")]
        indices = range(len(data_inputs)) if node.op == "Pack" else _PATH_INPUTS.get(node.op)
        if indices is None or not data_inputs:
            return False
        todo.extend(data_inputs[i] for i in indices if i < len(data_inputs))
    return True


def _attribute_reach(node: Any) -> str | None:
    """Ops that are harmless unless an attribute sends them to a file: tf.print(output_stream="file://...")
    and proto ops reading their descriptors from a file."""
    if node.op == "PrintV2" and node.attr["output_stream"].s.decode(errors="replace").startswith("file://"):
        return _FILE
    if node.op in ("EncodeProto", "DecodeProtoV2") and "descriptor_source" in node.attr:
        source = node.attr["descriptor_source"].s.decode(errors="replace")
        if source not in ("", "local://"):
            return _FILE
    return None


def _check_assets(meta_graph: Any) -> None:
    """Asset files (vocabularies) are read from the model's assets/ folder; their names must stay in it."""
    names = [asset.filename for asset in meta_graph.asset_file_def]
    names += [n.asset.filename for n in meta_graph.object_graph_def.nodes if n.WhichOneof("kind") == "asset"]
    for name in names:
        if _OUTSIDE.search(name):
            raise UnsafeModelError(
                f"asset '{name[:80]}' lies outside the model folder; edgeship reads nothing outside it. "
                "Save the model again with its assets inside the SavedModel folder."
            )


def _checkpoint_nodes(meta_graph: Any) -> set[str]:
    """Graph nodes that only the saver_def's save and restore tensors need: their ancestors, less any node
    that some other node of the graph (a signature, an init op) also depends on."""
    saver = meta_graph.saver_def
    graph = meta_graph.graph_def
    names = [saver.save_tensor_name, saver.restore_op_name, saver.filename_tensor_name]
    roots = {_node_name(name) for name in names if name}
    if not roots:
        return set()
    inputs = {node.name: [_node_name(i) for i in node.input] for node in graph.node}
    checkpoint = _ancestors(roots, inputs)
    others = _ancestors({name for name in inputs if name not in checkpoint}, inputs)
    return checkpoint - others


def _saveable_functions(object_graph: Any) -> set[str]:
    """Concrete functions that trackable objects (lookup tables, say) save and restore themselves with."""
    ids = {
        index
        for node in object_graph.nodes
        for saveable in node.saveable_objects.values()
        for index in (saveable.save_function, saveable.restore_function)
    }
    names: set[str] = set()
    for index in ids:
        if 0 <= index < len(object_graph.nodes):
            node = object_graph.nodes[index]
            kind = node.WhichOneof("kind")
            if kind == "function":
                names.update(node.function.concrete_functions)
            elif kind == "bare_concrete_function":
                names.add(node.bare_concrete_function.concrete_function_name)
    return names


def _reach(roots: Iterable[str], library: dict[str, Any]) -> set[str]:
    """The library functions in `roots` and every library function they call, transitively."""
    seen: set[str] = set()
    todo = [name for name in roots if name in library]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(c for node in library[name].node_def for c in _callees(node) if c in library)
    return seen


def _ancestors(roots: set[str], inputs: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in inputs:
            continue
        seen.add(name)
        todo.extend(inputs[name])
    return seen


def _callees(node: Any) -> list[str]:
    """The node's op (a library function may be called by using its name as the op) and its functions."""
    return [node.op, *_calls(node)]


def _calls(node: Any) -> Iterator[str]:
    """Names of the functions a node's attributes refer to (f, then_branch, body, branches, ...)."""
    for value in node.attr.values():
        yield from _attr_functions(value)


def _attr_functions(value: Any) -> Iterator[str]:
    if value.HasField("func"):
        yield value.func.name
        for inner in value.func.attr.values():
            yield from _attr_functions(inner)
    if value.HasField("list"):
        for function in value.list.func:
            yield function.name
            for inner in function.attr.values():
                yield from _attr_functions(inner)


def _string_constants(node: Any) -> Iterator[str]:
    if node.op != "Const" or "value" not in node.attr:
        return
    for raw in node.attr["value"].tensor.string_val:
        yield raw.decode(errors="replace")


def _node_name(tensor_or_op: str) -> str:
    """`save/Identity:0` and `^save/restore_all` name the nodes `save/Identity` and `save/restore_all`."""
    return tensor_or_op.lstrip("^").split(":", 1)[0]
