"""GET /statistics's figures for a year of a province-sized deployment, against the same figures
read straight from the rows.

    .venv/bin/python -m bench.statistics [--alerts 1000000] [--clues 100000] [--departments 50]
        [--runs 30]

Seeds a year (2025-12-01 to 2026-11-30 in Asia/Shanghai) with generate_series: `--alerts` events,
alerts and supervision-action records (one each per finding, 2000 sources on 500 sites, 10 rules,
a sixth dismissed, cameras' events naming the model version in force, a new one every 4 months),
`--clues` clues (one per tenth finding, to the department of its site: `--departments` of them;
a twentieth each issued, claimed and handled, the rest answered, a fifth of those as false alarms;
a tenth escalated). Then measures:

- the rebuild: the first figures after the upgrade, which roll the whole year up;
- `hub.statistics.statistics` for the year by month, all departments and one department, each
  call in a transaction of its own as the API makes it (rollups brought up to date first);
- the same after a late change spread over the year (dismissals and false-alarm verdicts on
  alerts of 100 different days): the refresh that recomputes those days, then the figures;
- the reference: the alerts per site and rule and the records per item read straight from the
  alerts and records of the year (what hub/statistics.py read before the rollups).

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; works in a
database of its own that it drops afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics as stats
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from rich.console import Console

from bench.scratch import scratch_database
from hub.config import Deployment, load_config
from hub.config.domain import Department
from hub.statistics import Period, statistics
from hub.store.db import Connection, Database, open_database
from hub.store.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
FIRST, LAST = date(2025, 12, 1), date(2026, 11, 30)
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)

# One finding n: event, alert and record; clue k rests on finding 10 k. Triggers are off while
# seeding (the bulk is not a change to note): the first figures rebuild the rollups from the rows.
SEED = """
SET session_replication_role = replica;
INSERT INTO events (id, source, site, rule, severity, time, received_at, outcome, payload, alert_id)
SELECT 'e' || n, (ARRAY['camera:c', 'sensor:s'])[1 + n %% 2] || (n %% 2000), 'site-' || (n %% 2000 / 4),
       'rule-' || (n %% 10), 'major', %(start)s + n * %(step)s, %(start)s + n * %(step)s, 'opened',
       CASE WHEN n %% 2 = 0 THEN jsonb_build_object('model', 'yolo11n-v' || (3 * n / %(alerts)s))
            ELSE '{}' END, n
FROM generate_series(1, %(alerts)s) n;
INSERT INTO alerts (id, source, site, rule, title, severity, status, first_seen, last_seen, first_event,
                    last_event, updated_at)
SELECT alert_id, source, site, rule, 'seeded', 'major',
       (ARRAY['closed', 'closed', 'closed', 'closed', 'closed', 'dismissed'])[1 + alert_id %% 6],
       time, time, id, id, time
FROM events;
SELECT setval('alerts_id_seq', %(alerts)s);
INSERT INTO supervision_actions (record_id, event_id, alert_id, item_code, item_name, list_code,
    department_code, department_name, area_code, result, inspected_at, site, rule, config_sha256,
    batch_id, operation, exchange_source, exchange_time)
SELECT gen_random_uuid(), id, alert_id, '610115002000' || lpad((alert_id %% 40)::text, 2, '0'), 'item',
       'L', 'D' || lpad((alert_id %% 2000 / 4 %% %(departments)s)::text, 8, '0'), 'dept', '610115',
       (ARRAY['problem_found', 'problem_found', 'no_problem'])[1 + alert_id %% 3], time, site, rule, 'x',
       'b', 'I', 'bench', time
FROM events;
INSERT INTO risk_clues (event_id, alert_id, route_id, department, department_code, site, rule, item_code,
    title, risk_class, status, issued_at, claim_deadline, feedback_deadline, claimed_at, fed_back_at,
    verdict, updated_at)
SELECT e.id, e.alert_id, 'r', 'dept-' || (e.alert_id %% 2000 / 4 %% %(departments)s),
       'D' || lpad((e.alert_id %% 2000 / 4 %% %(departments)s)::text, 8, '0'), e.site, e.rule,
       '61011500200011', 'seeded', 1,
       CASE k %% 20 WHEN 0 THEN 'issued' WHEN 1 THEN 'claimed' WHEN 2 THEN 'handled' ELSE 'closed' END,
       e.time, e.time + interval '30 minutes', e.time + interval '1 day',
       CASE WHEN k %% 20 > 0 THEN e.time + (k %% 97) * interval '1 minute' END,
       CASE WHEN k %% 20 > 2 THEN e.time + (k %% 1999) * interval '1 minute' END,
       CASE WHEN k %% 20 > 2 THEN CASE WHEN k %% 5 = 0 THEN 'false_alarm' ELSE 'confirmed' END END, e.time
FROM generate_series(1, %(clues)s) k JOIN events e ON e.id = 'e' || (k * (%(alerts)s / %(clues)s));
INSERT INTO clue_supervisors (clue_id, deadline, department, at)
SELECT id, 'claim', 'dept-0', claim_deadline + interval '1 hour' FROM risk_clues WHERE id %% 10 = 0;
SET session_replication_role = DEFAULT;
"""

# Late changes over the year: 100 days' alerts dismissed, and as many clues judged false.
LATE = """
UPDATE alerts SET status = 'dismissed' WHERE id %% (%(alerts)s / 100) = 7 AND status <> 'dismissed';
UPDATE risk_clues SET verdict = 'false_alarm', status = 'fed_back', fed_back_at = issued_at
WHERE id %% (%(clues)s / 100) = 3;
"""

# What hub/statistics.py read before the rollups: the year's alerts and records, row by row.
STRAIGHT = [
    """SELECT a.site, a.rule, count(*), count(*) FILTER (WHERE a.status = 'dismissed')
       FROM alerts a WHERE a.first_seen >= %(start)s AND a.first_seen < %(end)s
       GROUP BY a.site, a.rule""",
    """SELECT item_code, max(item_name), count(*), count(*) FILTER (WHERE result = 'problem_found')
       FROM supervision_actions
       WHERE inspected_at >= %(start)s AND inspected_at < %(end)s AND operation <> 'D'
       GROUP BY item_code""",
]


def timed(db: Database, work: Callable[[Connection], object], runs: int) -> tuple[float, float]:
    """p50 and p95 in ms of `work`, each run in a transaction of its own, after one warm-up."""
    samples = []
    for n in range(runs + 1):
        began = time.perf_counter()
        with db.transaction() as conn:
            work(conn)
        if n:
            samples.append((time.perf_counter() - began) * 1000)
    cuts = stats.quantiles(samples, n=20) if len(samples) > 1 else samples * 19
    return stats.median(samples), cuts[18]


def deployment(departments: int) -> Deployment:
    demo = load_config(REPO / "configs" / "demo.yaml").deployment
    listed = [Department(id=f"dept-{n}", name=f"部门{n}", code=f"D{n:08d}") for n in range(departments)]
    return demo.model_copy(update={"departments": listed})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--clues", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    console = Console(soft_wrap=True)
    load = os.getloadavg()
    console.print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    config = deployment(args.departments)
    year = Period(FIRST, LAST, "month")
    with tempfile.TemporaryDirectory() as tmp, scratch_database("offsite_bench_statistics", Path(tmp)) as dsn:
        db = open_database(dsn, Path(tmp), pool_size=1)
        try:
            _, backend = upgrade(db)
            start, end = year.bounds(config.tz)
            params = {
                "alerts": args.alerts,
                "clues": args.clues,
                "departments": args.departments,
                "start": start,
                "step": (end - start) / (args.alerts + 1),
            }
            began = time.perf_counter()
            with db.transaction() as conn:  # client-side binding: several statements in one go
                psycopg.ClientCursor(conn).execute(SEED.encode(), params)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            console.print(
                f"{backend.describe()}; seeded {args.alerts:,} alerts, events and records, {args.clues:,}"
                f" clues, {args.departments} departments in {time.perf_counter() - began:.0f} s"
            )

            began = time.perf_counter()
            with db.transaction() as conn:
                figures = statistics(conn, config, year, NOW)
            console.print(f"rebuild (first figures after the upgrade): {time.perf_counter() - began:.1f} s")
            assert sum(a.alerts for a in figures.alerts) == args.alerts
            assert sum(c.received for c in figures.clues if c.bucket is None) == args.clues
            with db.transaction() as conn:
                rows = conn.execute("SELECT span, count(*) FROM alert_rollups GROUP BY span").fetchall()
            console.print(f"alert rollup rows: {dict(rows)}")

            reference = timed(
                db,
                lambda conn: [conn.execute(q, {"start": start, "end": end}).fetchall() for q in STRAIGHT],
                5,
            )
            every = timed(db, lambda conn: statistics(conn, config, year, NOW), args.runs)
            one = timed(db, lambda conn: statistics(conn, config, year, NOW, "dept-7"), args.runs)
            by_day = timed(db, lambda conn: statistics(conn, config, Period(date(2026, 9, 1), LAST), NOW), 10)

            with db.transaction() as conn:
                psycopg.ClientCursor(conn).execute(LATE.encode(), params)
            began = time.perf_counter()
            with db.transaction() as conn:
                late = statistics(conn, config, year, NOW)
            after_late = (time.perf_counter() - began) * 1000
            assert sum(a.dismissed for a in late.alerts) > sum(a.dismissed for a in figures.alerts)

            def row(what: str, figure: tuple[float, float]) -> None:
                ratio = figure[1] / reference[1]
                console.print(
                    f"{what}: p50 {figure[0]:.0f} ms, p95 {figure[1]:.0f} ms ({ratio:.2f} of reference)"
                )

            row("reference: alerts and records of the year straight from the rows", reference)
            row("a year by month, all departments", every)
            row("a year by month, one department", one)
            row("91 days by day, all departments", by_day)
            console.print(
                f"after late changes on 100 days of the year: {after_late:.0f} ms (refresh + figures)"
            )
        finally:
            db.close()


if __name__ == "__main__":
    main()
