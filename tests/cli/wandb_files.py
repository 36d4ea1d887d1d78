"""Reading a wandb offline run back from its files, without wandb's servers.

wandb (0.19+) has no Python reader of its `run-<id>.wandb` file: it is a LevelDB-style log
(a 7-byte header `:W&B`, magic 0xBEE1, version 0; then 32 KiB blocks of chunks, each with a
7-byte header: CRC32, length, type FULL/FIRST/MIDDLE/LAST) of `wandb_internal_pb2.Record`
protobufs, which wandb's own package defines.
"""
import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path):
    """The protobuf Records of a .wandb file, in order."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), (ident, magic, version)
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = BLOCK - position % BLOCK
        if left < 7:  # the block's tail is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _key(item):
    return item.key or "/".join(item.nested_key)


def read_offline_run(wandb_dir):
    """{"history": [row dict], "config": {key: value}, "summary": {...}, "name": ..., "id": ...}
    of the one offline run under `wandb_dir` (WANDB_DIR: it holds wandb/offline-run-*/)."""
    files = sorted(Path(wandb_dir).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    run = {"history": [], "config": {}, "summary": {}, "name": None, "id": None, "project": None}
    for record in records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            run["history"].append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "config":
            run["config"].update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            run["summary"].update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "run":
            run.update(name=record.run.display_name, id=record.run.run_id, project=record.run.project)
            run["config"].update({_key(i): json.loads(i.value_json) for i in record.run.config.update})
    return run
