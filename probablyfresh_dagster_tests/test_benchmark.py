"""`make benchmark` at a tiny size: every figure it promises is printed, and each is positive."""

from __future__ import annotations

import importlib
import re
import uuid
from contextlib import closing

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from probablyfresh_dagster.definitions import defs
from probablyfresh_dagster.entities import LOAD_STAGES
from probablyfresh_dagster.jobs import pipeline_job
from probablyfresh_dagster.outbox import PUBLISH_BATCH
from probablyfresh_dagster.settings import PROJECT_ROOT

NUMBER = r"([\d,]+(?:\.\d+)?)"
BENCHMARK_SCRIPTS = PROJECT_ROOT / "infra" / "benchmark"


@pytest.fixture(autouse=True)
def scripts_importable(monkeypatch):
    """The benchmarks are scripts outside the package, which import each other from their folder."""
    monkeypatch.syspath_prepend(str(BENCHMARK_SCRIPTS))


def positive(text: str) -> float:
    value = float(text.replace(",", ""))
    assert value > 0, text
    return value


def test_benchmark_prints_every_figure_positive(capsys):
    stages = importlib.import_module("stages")
    stages.main(["300"])
    out = capsys.readouterr().out

    header = re.search(rf"^300 purchases \(jsonl landing\): peak RSS {NUMBER} MiB, floor {NUMBER} records/s", out, re.M)
    assert header, out
    assert positive(header[1]) > 100  # chDB alone takes more than 100 MiB
    positive(header[2])
    engine = re.search(rf"^  chDB loaded in {NUMBER} s before the stages; all stages {NUMBER} s$", out, re.M)
    assert engine, out
    assert all(positive(figure) for figure in engine.groups())
    for stage in ("generate", *LOAD_STAGES):
        share = rf"{NUMBER}%" if stage in stages.PYTHON_STAGES else "-"
        row = re.search(rf"^  {stage} +{NUMBER} +{NUMBER} +{share} +{NUMBER}$", out, re.M)
        assert row, f"no row for {stage}:\n{out}"
        assert all(positive(figure) for figure in row.groups())
    for label, _, stage in stages.RULES:
        cost = re.search(rf"{label} {NUMBER} µs \({NUMBER}% of {stage}\)", out)
        assert cost, f"no cost of {label}:\n{out}"
        assert all(positive(figure) for figure in cost.groups())
    single = re.search(rf"one INSERT per message: {NUMBER}/s; clickhouse_raw is {NUMBER}x that", out)
    assert single, out
    assert all(positive(figure) for figure in single.groups())
    assert "bare producer" not in out  # only with --kafka

    sharded = importlib.import_module("shards")
    assert re.search(r"^300 purchases \(jsonl landing\) in 1 and 2 shards", out, re.M), out
    seconds = {}
    for label in (*sharded.CHAIN_STAGES, sharded.FLOOR, sharded.PYTHON_STAGES, sharded.CHAIN):
        row = re.search(rf"^  {label} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}x$", out, re.M)
        assert row, f"no shard row for {label}:\n{out}"
        one, two, one_rate, two_rate, speed_up = map(positive, row.groups())
        seconds[label] = (one, two)
        if min(one, two) >= 0.2:  # the times are printed to the hundredth of a second
            assert (300 / one, 300 / two, one / two) == pytest.approx((one_rate, two_rate, speed_up), rel=0.05)
    for shards in (0, 1):  # the chain is its stages' sum, to the rounding of each
        assert seconds[sharded.CHAIN][shards] == pytest.approx(sum(seconds[s][shards] for s in sharded.CHAIN_STAGES), abs=0.03)


@pytest.mark.servers
def test_the_bare_producers_copy_every_message_the_transactional_one_in_the_stages_transactions(kafka_port: int):
    """The yardsticks of `make benchmark --kafka` move the stage's messages: the consumer reads all
    of a topic, and each producer writes all it read; the one with the stage's guarantees writes
    the headers too, committed in transactions of `outbox.PUBLISH_BATCH` (each leaves a commit
    marker, an offset, in every partition it wrote to)."""
    baselines = importlib.import_module("baselines")
    bootstrap, topic, partitions = f"127.0.0.1:{kafka_port}", f"bare_{uuid.uuid4().hex}", 3
    sent = [(f"ord-{n}".encode(), f'{{"n": {n}}}'.encode(), [("source_id", f"p.jsonl/{n}".encode())]) for n in range(2500)]
    with closing(KafkaAdminClient(bootstrap_servers=bootstrap)) as admin:
        admin.create_topics([NewTopic(topic, 1, 1)])  # read back in the order sent: each transaction spans every partition
    with closing(KafkaProducer(bootstrap_servers=bootstrap, acks="all")) as producer:
        for key, value, headers in sent:
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()

    rates = baselines.bare_kafka_rates(topic, bootstrap, partitions)

    assert all(rate > 0 for rate in rates)
    plain = baselines._bare_consume(topic + baselines.BARE_TOPIC_SUFFIX, bootstrap)[1]
    assert sorted((key, value) for key, value, _ in plain) == sorted((key, value) for key, value, _ in sent)
    copy = topic + baselines.TRANSACTIONAL_SUFFIX
    assert sorted(baselines._bare_consume(copy, bootstrap)[1]) == sorted(sent)
    with closing(KafkaConsumer(bootstrap_servers=bootstrap)) as consumer:
        ends = consumer.end_offsets([TopicPartition(copy, p) for p in range(partitions)])
    transactions = -(-len(sent) // PUBLISH_BATCH)
    assert sum(ends.values()) == len(sent) + transactions * partitions


@pytest.mark.slow
def test_benchmark_ui_times_materialize_all_through_the_webserver_against_make_run(capsys):
    """`make benchmark-ui`: both sides succeed on the same data, and every step of the UI run is listed."""
    assert importlib.import_module("materialize_all").main(["--purchases", "200"]) == 0
    out = capsys.readouterr().out
    run = re.search(
        rf"^make run: +{NUMBER} s +\(the pipeline job, in process; {NUMBER} s from the command to its exit\)", out, re.M
    )
    ui = re.search(
        rf"^Materialize all: +{NUMBER} s +\(SUCCESS, (\d+) steps, {NUMBER}x make run; "
        rf"{NUMBER} s from the launch to its end, {NUMBER}x\)",
        out,
        re.M,
    )
    assert run and ui, out
    assert positive(run[1]) < positive(run[2]) and positive(ui[1]) < positive(ui[4])  # a process starts before its job
    assert positive(ui[3]) and positive(ui[5])
    steps = re.findall(r"^  (\S+) +starts at", out, re.M)
    nodes = {node.name for node in defs.resolve_job_def(pipeline_job.name).graph.nodes}
    assert len(steps) == int(ui[2]) and set(steps) == nodes
