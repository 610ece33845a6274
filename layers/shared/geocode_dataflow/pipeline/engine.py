"""The job engine: how the pipeline runs a job itself for providers that have no job API.

A job of the engine is what a Dataflow job is at the Bing service, built from S3 objects and a
Step Functions execution (``EngineStateMachine``, named after the job):

- **create** streams the validated input once and writes it as chunks of entities (JSON lines,
  gzip) with a manifest, then starts the execution; its Distributed Map runs the chunk step
  (``pipeline.chunks``) on every chunk, a bounded number at a time;
- **status** is the execution's: RUNNING is Pending (with the counts the chunks add up as they
  go), SUCCEEDED is Completed, anything else is Aborted with the execution's error;
- **results** are assembled from the chunks' result pieces, in input order, into the input's
  format: ``succeeded`` and ``failed`` exactly as the Dataflow service shapes them (a plain
  table, which has no v2.0 form, gets v2.0 csv).

Work objects live under ``<work prefix><job id>/`` (a lifecycle rule expires them).
"""

from __future__ import annotations

import gzip
import io
import json
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from geocode_dataflow.client import DataflowJob
from geocode_dataflow.errors import PermanentError
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import JobRecord, utc_now
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import (
    CONTENT_TYPES,
    RESULT_SETS,
    StoredResults,
    input_mapping,
    result_format,
    result_key,
)
from geocode_dataflow.schema import PLAIN_FORMATS, FeedWriter, GeocodeEntity, jsonlines, open_feed
from geocode_dataflow.schema.columns import RESPONSE_TEXT_COLUMNS

PROGRESS_PREFIX = "#progress#"
READ_AHEAD = 8  # result pieces fetched in parallel while a set is assembled
_SINK_FLUSH = 1 << 20


class IncompleteResultsError(PermanentError):
    """The execution succeeded but a chunk's results do not cover its entities."""


# ------------------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class Piece:
    """One result object of a chunk: entities [start, end) of the chunk, ``failed`` of them
    not Success. The counts are in the key, so a listing tells the totals."""

    chunk: int
    start: int
    end: int
    failed: int
    key: str


class WorkLayout:
    """Where one engine job keeps its work in the bucket."""

    def __init__(self, work_prefix: str, job_id: str) -> None:
        self.root = f"{work_prefix}{job_id}/"
        self.manifest = f"{self.root}manifest.json"
        self.items = f"{self.root}items.json"
        self.results = f"{self.root}results/"

    def chunk(self, index: int) -> str:
        return f"{self.root}chunks/{index:06d}.jsonl.gz"

    def pieces_of(self, index: int) -> str:
        return f"{self.results}{index:06d}/"

    def piece(self, index: int, start: int, end: int, failed: int) -> str:
        return f"{self.pieces_of(index)}{start:06d}-{end:06d}-{failed:06d}.jsonl.gz"

    @staticmethod
    def parse_piece(key: str) -> Piece | None:
        parts = key.rsplit("/", 2)
        if len(parts) != 3 or not parts[2].endswith(".jsonl.gz"):
            return None
        try:
            start, end, failed = (int(n) for n in parts[2][: -len(".jsonl.gz")].split("-"))
            return Piece(int(parts[1]), start, end, failed, key)
        except ValueError:
            return None


def covered(pieces: Iterable[Piece]) -> list[Piece]:
    """The pieces that cover a chunk from its first entity without a gap, in order. A piece
    written twice (an attempt that died after writing it) counts once."""
    by_start: dict[int, Piece] = {}
    for piece in sorted(pieces, key=lambda p: (p.start, -p.end)):
        by_start.setdefault(piece.start, piece)
    chain, position = [], 0
    while position in by_start:
        piece = by_start[position]
        chain.append(piece)
        position = piece.end
    return chain


def list_pieces(objects: ObjectStore, prefix: str) -> dict[int, list[Piece]]:
    found: dict[int, list[Piece]] = defaultdict(list)
    for key in objects.list_keys(prefix):
        piece = WorkLayout.parse_piece(key)
        if piece is not None:
            found[piece.chunk].append(piece)
    return found


def put_entities(objects: ObjectStore, key: str, entities: Iterable[GeocodeEntity]) -> None:
    objects.put_bytes(key, gzip.compress(jsonlines.encode(entities), 6), "application/gzip")


def read_entities(objects: ObjectStore, key: str) -> Iterator[GeocodeEntity]:
    with objects.open(key) as body:
        data = gzip.decompress(body.read())
    return jsonlines.decode(data)


# ------------------------------------------------------------------------------------ progress
class EngineProgress:
    """Counts added by concurrent chunks (atomic ADD on one item of the jobs table), read by
    the status loop. Approximate while the job runs (a chunk that dies after writing a piece
    has not counted it); the assembly counts exactly."""

    def __init__(self, table: Any, job_id: str) -> None:
        self._table = table
        self._key = {"job_id": f"{PROGRESS_PREFIX}{job_id}"}

    def start(self, total: int, expires_at: int) -> None:
        """Once per job: a create that runs again (an adopted job) keeps the counts so far."""
        try:
            self._table.put_item(
                Item={
                    **self._key,
                    "total": total,
                    "processed": 0,
                    "failed": 0,
                    "requests": 0,
                    "expires_at": expires_at,
                },
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def add(self, processed: int, failed: int, requests: int = 0) -> None:
        self._table.update_item(
            Key=self._key,
            UpdateExpression="ADD #p :p, #f :f, #r :r",
            ExpressionAttributeNames={"#p": "processed", "#f": "failed", "#r": "requests"},
            ExpressionAttributeValues={":p": processed, ":f": failed, ":r": requests},
        )

    def refuse(self, message: str) -> None:
        """The provider refused the job's requests: keep its words for the job's error."""
        self._table.update_item(
            Key=self._key,
            UpdateExpression="SET refusal = :m",
            ExpressionAttributeValues={":m": message[:2000]},
        )

    def read_all(self) -> tuple[dict[str, int], str | None]:
        """The counts and the provider's refusal (if any), in one read."""
        item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item") or {}
        counts = {k: int(item.get(k, 0)) for k in ("total", "processed", "failed", "requests")}
        return counts, item.get("refusal")

    def read(self) -> dict[str, int]:
        return self.read_all()[0]


# ------------------------------------------------------------------------------------ the jobs
class EngineJobs:
    """The ``JobProvider`` of every synchronous provider."""

    def __init__(self, config: PipelineConfig, objects: ObjectStore, sfn: Any, table: Any) -> None:
        if not config.engine_state_machine_arn:
            raise ValueError("the job engine needs ENGINE_STATE_MACHINE_ARN")
        self._config = config
        self._objects = objects
        self._sfn = sfn
        self._table = table

    def _execution_arn(self, job_id: str) -> str:
        arn = str(self._config.engine_state_machine_arn)
        return f"{arn.replace(':stateMachine:', ':execution:', 1)}:{job_id}"

    def create_job(self, record: JobRecord, body: Any = None) -> str:
        # ``body`` is never spooled for the engine: it reads the file to split it, not to send it.
        layout = WorkLayout(self._config.work_prefix, record.job_id)
        items = self._split(record, layout)
        total = sum(item["entities"] for item in items)
        expires = int(record.expires_at or 0) or _in_days(14)
        EngineProgress(self._table, record.job_id).start(total, expires)
        state = {
            "job_id": record.job_id,
            "bucket": self._objects.bucket,
            "items_key": layout.items,
            "max_concurrency": self._config.chunk_concurrency,
        }
        try:
            started = self._sfn.start_execution(
                stateMachineArn=self._config.engine_state_machine_arn,
                name=record.job_id,
                input=json.dumps(state),
            )
            arn = started["executionArn"]
        except self._sfn.exceptions.ExecutionAlreadyExists:
            arn = self._execution_arn(record.job_id)  # an earlier attempt started it
        logger.info("Engine job started", extra={"chunks": len(items), "entities": total})
        return arn

    def _split(self, record: JobRecord, layout: WorkLayout) -> list[dict[str, int]]:
        """One streaming pass over the input: chunks of ``chunk_entities`` entities."""
        size = self._config.chunk_entities
        items: list[dict[str, int]] = []
        batch: list[GeocodeEntity] = []
        source = self._objects.open(record.input.key, record.input.version_id)
        mapping = None
        if record.input_format in PLAIN_FORMATS:
            mapping = input_mapping(self._objects, record.input.key)
        with open_feed(source, record.input.key, mapping=mapping) as reader:
            layout_doc = {
                "format": reader.format,
                "columns": reader.columns,
                "header": reader.header,
                "version_line": reader.version_line,
            }
            for entity in reader:
                batch.append(entity)
                if len(batch) == size:
                    items.append(self._write_chunk(layout, len(items), batch))
                    batch = []
        if batch or not items:
            items.append(self._write_chunk(layout, len(items), batch))
        manifest = {**layout_doc, "chunks": len(items), "chunk_entities": size}
        self._objects.put_json(layout.manifest, manifest)
        self._objects.put_json(layout.items, items)
        return items

    def _write_chunk(
        self, layout: WorkLayout, index: int, batch: list[GeocodeEntity]
    ) -> dict[str, int]:
        put_entities(self._objects, layout.chunk(index), batch)
        return {"chunk": index, "entities": len(batch)}

    def find_job(self, job_id: str) -> str | None:
        arn = self._execution_arn(job_id)
        try:
            self._sfn.describe_execution(executionArn=arn)
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
        return arn

    def get_job(self, provider_job_id: str) -> DataflowJob:
        execution = self._sfn.describe_execution(executionArn=provider_job_id)
        job_id = provider_job_id.rsplit(":", 1)[-1]
        counts, refusal = EngineProgress(self._table, job_id).read_all()
        status = execution["status"]
        if refusal:
            # The provider refused the job (a key, a permission): no chunk can succeed, so the
            # job is over now, whatever the execution is still doing (Record Failure stops it).
            return DataflowJob(
                id=provider_job_id, status="Aborted", error_message=_readable(refusal)
            )
        if status == "RUNNING":
            return DataflowJob(
                id=provider_job_id,
                status="Pending",
                total_entity_count=counts["total"],
                processed_entity_count=min(counts["processed"], counts["total"]),
                failed_entity_count=counts["failed"],
            )
        if status == "SUCCEEDED":
            return DataflowJob(
                id=provider_job_id,
                status="Completed",
                total_entity_count=counts["total"],
                processed_entity_count=counts["total"],
                failed_entity_count=counts["failed"],
            )
        cause = (
            execution.get("cause")
            or execution.get("error")
            or f"the engine execution ended {status}"
        )
        return DataflowJob(id=provider_job_id, status="Aborted", error_message=_readable(cause))

    def store_results(self, provider_job_id: str, record: JobRecord, folder: str) -> StoredResults:
        layout = WorkLayout(self._config.work_prefix, record.job_id)
        manifest = self._objects.get_json(layout.manifest)
        items = self._objects.get_json(layout.items)
        found = list_pieces(self._objects, layout.results)
        chains: list[list[Piece]] = []
        for item in items:
            chain = covered(found.get(item["chunk"], []))
            end = chain[-1].end if chain else 0
            if end != item["entities"]:
                raise IncompleteResultsError(
                    f"chunk {item['chunk']} has results for {end} of its {item['entities']} entities"
                )
            chains.append(chain)
        pieces = [piece for chain in chains for piece in chain]
        total = sum(item["entities"] for item in items)
        failed = sum(piece.failed for piece in pieces)
        counts = {"succeeded": total - failed, "failed": failed}
        fmt = manifest["format"]
        outputs: dict[str, str] = {}
        for which in RESULT_SETS:
            if not counts[which]:
                continue  # as at the service: a set with no entities has no file
            key = result_key(folder, which, result_format(fmt))
            entities = self._entities(pieces, succeeded=which == "succeeded")
            size = self._objects.put_stream(
                key,
                render(entities, manifest, record.output_version),
                CONTENT_TYPES.get(fmt, "text/plain"),
            )
            outputs[which] = self._objects.uri(key)
            logger.info(
                "Result set assembled",
                extra={"set": which, "entities": counts[which], "bytes": size},
            )
        requests = EngineProgress(self._table, record.job_id).read()["requests"]
        return StoredResults(
            outputs=outputs, total=total, processed=total, failed=failed, requests=requests
        )

    def _entities(self, pieces: list[Piece], *, succeeded: bool) -> Iterator[GeocodeEntity]:
        """The set's entities in input order; the pieces holding some are fetched a few at a
        time ahead of the writer (a million entities are some 20,000 pieces)."""
        wanted = [
            piece
            for piece in pieces
            if (piece.failed < piece.end - piece.start if succeeded else piece.failed > 0)
        ]
        with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
            window: deque[Future[list[GeocodeEntity]]] = deque()
            for piece in wanted:
                window.append(pool.submit(_read_list, self._objects, piece.key))
                if len(window) >= 2 * READ_AHEAD:
                    yield from _of_set(window.popleft().result(), succeeded)
            while window:
                yield from _of_set(window.popleft().result(), succeeded)


def _read_list(objects: ObjectStore, key: str) -> list[GeocodeEntity]:
    return list(read_entities(objects, key))


def _of_set(entities: list[GeocodeEntity], succeeded: bool) -> Iterator[GeocodeEntity]:
    return (e for e in entities if (e.status_code == "Success") == succeeded)


def render(
    entities: Iterable[GeocodeEntity], manifest: dict[str, Any], version: str = "2.0"
) -> Iterator[bytes]:
    """A result set in the input's format and Data Schema ``version`` as a stream of bytes
    (text keeps the input's version line, header and columns, as the service's results do). A
    plain table's sets are v2.0 csv of the columns its mapping fills plus the response columns."""
    sink = io.BytesIO()
    fmt = manifest["format"]
    layout: dict[str, Any]
    if fmt in PLAIN_FORMATS:
        columns = [c for c in manifest.get("columns") or [] if c not in RESPONSE_TEXT_COLUMNS]
        layout = {"columns": [*columns, *RESPONSE_TEXT_COLUMNS]}
    elif fmt != "xml":
        layout = {
            "columns": manifest.get("columns"),
            "header": manifest.get("header"),
            "version_line": manifest.get("version_line"),
        }
    else:
        layout = {}
    # Results in the input's Data Schema version (1.0 in, 1.0 out, as from the service).
    layout["version"] = version
    writer = FeedWriter(sink, result_format(fmt), **layout)
    for entity in entities:
        writer.write(entity)
        if sink.tell() >= _SINK_FLUSH:
            yield _drain(sink)
    writer.close()
    yield _drain(sink)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def _readable(cause: str) -> str:
    """A Step Functions cause is often a Lambda error document: keep its message."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:2000]
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return f"{parsed.get('errorType', 'Error')}: {parsed['errorMessage']}"[:2000]
    return cause[:2000]


def _in_days(days: int) -> int:
    return int(utc_now().timestamp()) + days * 86400
