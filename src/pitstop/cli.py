"""The `pitstop` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pitstop import __version__
from pitstop.errors import EXIT_CHECK, EXIT_DONE, EXIT_TRANSIENT
from pitstop.runtime.entry import EXIT_CODES_HELP, Parser, run
from pitstop.runtime.reporter import Reporter
from pitstop.values import json_default

if TYPE_CHECKING:
    from pitstop.runtime.feature_store import FeatureStore

DESCRIPTION = """\
pitstop: batch features from definitions to Delta Lake, Airflow and Redis.

Run from a feature repository (the folder holding pitstop.yaml) or pass --repo DIR.
Typical flow: pitstop init DIR (scaffold and compile) -> edit feature_defs/ -> pitstop plan -> pitstop apply
-> pitstop ls.
"""


def _store(args: argparse.Namespace) -> FeatureStore:
    """The command's composition root: the repository's config, plan, Spark session and stores, reporting
    through the command's reporter."""
    from pitstop.runtime.feature_store import FeatureStore

    return FeatureStore(args.repo, reporter=args.reporter)


def _say(args: argparse.Namespace) -> Reporter:
    reporter: Reporter = args.reporter
    return reporter


def cmd_init(args: argparse.Namespace) -> int:
    from pitstop.runtime.feature_store import FeatureStore
    from pitstop.runtime.scaffold import SAMPLE_END, SAMPLE_START, init_repository

    say = _say(args)
    written = init_repository(Path(args.dir), args.project)
    target = Path(args.dir).resolve()
    result = FeatureStore(target, reporter=say).apply()  # compile the example, so the repository is usable at once
    for warning in result.compiled.warnings:
        say.warn(warning)
    say.out(f"Created a feature repository in {target}:")
    for path in written:
        say.out(f"  {path.relative_to(target)}")
    views = ", ".join(sorted(result.compiled.plan.views))
    ready = SAMPLE_END - timedelta(days=1)  # no event after the sample's last day proves that day complete
    say.out(f"  {_plan_rel(args)} (the compiled plan: {views})")
    say.out(f"Next:\n  cd {args.dir}\n  pitstop ls\n"
            f"  pitstop materialize {views.replace(',', '')} --start {SAMPLE_START} --end {ready}"
            f"   # the sample days whose data is complete (--no-publish: without Redis)\n"
            f"  edit feature_defs/example.py, then: pitstop plan && pitstop apply")
    return EXIT_DONE


def cmd_plan(args: argparse.Namespace) -> int:
    say = _say(args)
    result = _store(args).plan(prune=args.prune)
    for warning in result.compiled.warnings:
        say.warn(warning)
    say.out(result.diff.render())
    if result.problems:  # a check: the definitions compile, but apply would refuse the change
        say.info("\n`pitstop apply` would refuse:")
        for problem in result.problems:
            say.info(f"  - {problem}")
        return EXIT_CHECK
    if args.check:
        if result.stale:
            say.info(f"\nThe checked-in plan is stale: run `pitstop apply` and commit {_plan_rel(args)}.")
            return EXIT_CHECK
        say.out("\nThe checked-in plan is up to date.")
    elif result.stale:
        say.out("\nRun `pitstop apply` to write the plan.")
    return EXIT_DONE


def _plan_rel(args: argparse.Namespace) -> str:
    from pitstop.plan.naming import PLAN_FILE

    return PLAN_FILE


def cmd_apply(args: argparse.Namespace) -> int:
    say = _say(args)
    store = _store(args)
    result = store.apply(prune=args.prune)
    for warning in result.compiled.warnings:
        say.warn(warning)
    say.out(result.diff.render())
    if result.written:
        views = len(result.compiled.plan.views)
        say.out(f"\nWrote {store.config.plan_path} ({views} view(s), fingerprint "
                f"{result.compiled.data['fingerprint']}).")
    else:
        say.out("\nNothing to write.")
    retired = result.diff.retired_dag_ids if result.written else []
    if retired:
        say.out(f"DAG(s) no longer generated (Airflow marks them stale; their run history stays until you remove "
                f"it with `airflow dags delete DAG_ID`): {', '.join(retired)}")
    if args.prune:
        for table, count in store.prune_online().items():
            say.out(f"removed {count} online key(s) of retired {table}")
    return EXIT_DONE


def cmd_ls(args: argparse.Namespace) -> int:
    from pitstop.runtime.catalog import render_list

    _say(args).out(render_list(_store(args).load_plan()))
    return EXIT_DONE


def cmd_describe(args: argparse.Namespace) -> int:
    from pitstop.runtime.catalog import render_describe

    _say(args).out(render_describe(_store(args).load_plan(), args.view))
    return EXIT_DONE


def cmd_config(args: argparse.Namespace) -> int:
    _say(args).out(json.dumps(_store(args).config.describe(), indent=2))
    return EXIT_DONE


def cmd_demo_data(args: argparse.Namespace) -> int:
    from pitstop.demo.data import generate_demo_data
    from pitstop.errors import UsageError

    if args.out:
        out = Path(args.out)
    else:
        from pitstop.config import find_repo

        out = find_repo(Path(args.repo) if args.repo else Path.cwd()) / "data" / "source"
    try:
        summary = generate_demo_data(out, transactions=args.transactions, users=args.users,
                                     merchants=args.merchants, days=args.days, end=args.end, seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"pitstop demo-data: {exc}") from None
    _say(args).out(summary.describe())
    return EXIT_DONE


def cmd_jars(args: argparse.Namespace) -> int:
    from pitstop.config import load_config
    from pitstop.errors import ConfigError
    from pitstop.stores.spark import cache_dir, delta_coordinate, ensure_delta_jars, ensure_s3a_jars, s3a_coordinate

    say = _say(args)
    jars = ensure_delta_jars()
    say.out(f"{delta_coordinate()}: {len(jars)} jar(s) cached under {cache_dir()}")
    s3 = args.s3
    if not s3:
        try:
            s3 = load_config(Path(args.repo) if args.repo else None).uses_s3
        except ConfigError:
            s3 = False  # not in a feature repository: the Delta jars only
    if s3:
        jars = ensure_s3a_jars()
        say.out(f"{s3a_coordinate()} (S3A): {len(jars)} jar(s) cached under {cache_dir()}")
    return EXIT_DONE


def cmd_engine(args: argparse.Namespace) -> int:
    from pitstop.config import load_config
    from pitstop.stores import engine

    config = load_config(Path(args.repo) if args.repo else None)
    say = _say(args)
    if args.action == "start":
        began = time.monotonic()
        running = engine.start(config)
        warmed = "" if running.warm_up_s is None else f", of which {running.warm_up_s:.1f} s warming it up"
        say.out(f"Spark Connect engine at {running.url} (pid {running.pid}, master {running.master}; ready in "
                f"{time.monotonic() - began:.1f} s{warmed}; log {running.log}); commands in {config.repo} use it "
                f"until `pitstop engine stop`")
    elif args.action == "stop":
        say.out(engine.stop(config.repo) or "no engine runs for this repository")
    else:
        say.out(engine.status(config))
    return EXIT_DONE


def cmd_materialize(args: argparse.Namespace) -> int:
    from pitstop.runtime import commands

    return commands.materialize(_store(args), args.views, args.start, args.end, cascade=not args.no_cascade,
                                publish=not args.no_publish, force=args.force)


def cmd_validate(args: argparse.Namespace) -> int:
    from pitstop.runtime.quality import raise_if_failed

    result = _store(args).validate(args.view, args.ds, args.version)
    _say(args).out(result.describe())
    raise_if_failed(result, by_hand=True)  # a failed gate: ValidationFailed, exit 2
    return EXIT_DONE


def cmd_status(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pitstop.runtime.status import render_status, unhealthy

    say = _say(args)
    now = datetime.now(UTC)
    rows = _store(args).status(now)
    if args.json:
        say.out(json.dumps(rows, indent=2, default=json_default))
    else:
        say.out(render_status(rows, now))
    problems = unhealthy(rows)
    if args.check and problems:
        say.info("\n".join(["not healthy:", *(f"  - {p}" for p in problems)]))
        return EXIT_CHECK
    return EXIT_DONE


def cmd_report(args: argparse.Namespace) -> int:
    store = _store(args)
    version = store.describe(args.view).version
    out = Path(args.out or f"{args.view}_report.html")
    days, attempts = store.report(args.view, out)
    _say(args).out(f"{args.view} v{version}: report of {days} day(s) of statistics and {attempts} validation "
                   f"attempt(s) written to {out}")
    return EXIT_DONE


def cmd_publish(args: argparse.Namespace) -> int:
    from pitstop.runtime import commands

    return commands.publish(_store(args), args.views, args.ds)


def cmd_get(args: argparse.Namespace) -> int:
    response = _store(args).get_online_features_once(args.features, args.entity, full_feature_names=args.full_names)
    out = {"rows": response.to_list(), "metadata": {k: v.to_dict() for k, v in response.metadata.items()}} \
        if args.metadata else response.to_list()
    _say(args).out(json.dumps(out, indent=2, default=json_default))
    return EXIT_DONE


def cmd_online_script(args: argparse.Namespace) -> int:
    from pitstop.runtime.online import read_script

    if args.layout is None:
        _say(args).stdout.write(read_script())
        return EXIT_DONE
    _say(args).out(json.dumps(_store(args).online_layout(args.layout), indent=2))
    return EXIT_DONE


def cmd_consistency(args: argparse.Namespace) -> int:
    from pitstop.runtime import commands

    return commands.consistency(_store(args), [args.view], args.sample)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    from pitstop.runtime.serve import serve

    serve(_store(args), args.host, args.port, args.max_body_bytes)
    return EXIT_DONE


def cmd_airflow(args: argparse.Namespace) -> int:
    import shlex
    import signal

    from pitstop.orchestration.local import admin_password, airflow_env, migrate, start_standalone, stop, wait_healthy

    say = _say(args)
    config = _store(args).config
    home = Path(args.home).resolve() if args.home else config.repo / ".airflow"
    env = airflow_env(config, home=home, port=args.port)
    if args.print_env:
        for key in sorted(k for k in env if k.startswith(("AIRFLOW", "PITSTOP_REPO")) or k == "PATH"):
            say.out(f"export {key}={shlex.quote(env[key])}")
        return EXIT_DONE
    say.out(f"Airflow home {home} (SQLite metadata, logs); DAGs from {config.repo / 'dags'}, plugins from "
            f"{config.repo / 'plugins'}")
    migrate(env)
    log = home / "standalone.log"
    process = start_standalone(env, log)
    try:
        wait_healthy(args.port, process, timeout=args.timeout, log=log)
        password = admin_password(home) or f"(in {home / 'simple_auth_manager_passwords.json.generated'})"
        say.out(f"\nAirflow is up: http://localhost:{args.port}  (login: admin / {password})")
        say.out(f"Logs: {log}. Same environment in another shell: eval \"$(pitstop airflow --print-env)\" && "
                f"airflow dags list\nCtrl-C stops it.")
        process.wait()
    except KeyboardInterrupt:
        say.out("\nstopping Airflow ...")
    finally:
        stop(process, timeout=30)
    # Airflow itself stopped abnormally: an outside system failed (transient)
    return EXIT_DONE if process.returncode in (0, -signal.SIGTERM, None) else EXIT_TRANSIENT


def cmd_snapshot(args: argparse.Namespace) -> int:
    out = Path(args.out)
    rows = _store(args).export_snapshot(args.view, args.ds, out)
    _say(args).out(f"wrote {rows:,} rows of {args.view} for {args.ds} to {out}")
    return EXIT_DONE


def cmd_training_set(args: argparse.Namespace) -> int:
    import warnings

    from pitstop.errors import UsageError
    from pitstop.runtime import training_set as ts

    say = _say(args)
    store = _store(args)
    if args.from_manifest:
        if args.spine or args.spine_sql or args.features:
            raise UsageError("--from-manifest rebuilds exactly what the manifest recorded: give no --spine, "
                             "--spine-sql or --features with it")
    elif bool(args.spine) == bool(args.spine_sql) or not args.features:
        raise UsageError("give the spine (--spine PATH or --spine-sql SQL, one of them) and --features "
                         "view:feature,...; or --from-manifest FILE")
    if not args.out and not args.print_sql:
        raise UsageError("give --out PATH to write the training set (or --print-sql to only print its SQL)")
    # every check that needs no data answers before the Spark session starts
    features = [f.strip() for part in args.features or () for f in part.split(",") if f.strip()]
    remote_manifest = bool(args.from_manifest) and "://" in args.from_manifest \
        and not args.from_manifest.startswith("file://")
    manifest = None
    if args.from_manifest and not remote_manifest:
        manifest = ts.load_manifest(args.from_manifest)
    elif not args.from_manifest:
        store.check_training_set(args.spine or args.spine_sql, features, timestamp_column=args.timestamp_column,
                                 full_feature_names=args.full_names)
    if args.out:
        ts.check_out(args.out, args.format, overwrite=args.overwrite)
    began = time.monotonic()
    store.spark  # noqa: B018 (started here so that the summary can say what it cost)
    phases = {"Spark start-up": time.monotonic() - began}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ts.SpineRangeWarning)
        if args.from_manifest:  # a remote manifest is read once Spark is up (its Hadoop configuration)
            result = store.training_set_from_manifest(manifest if manifest is not None else args.from_manifest)
        else:
            result = store.training_set(args.spine or args.spine_sql, features, full_feature_names=args.full_names,
                                        timestamp_column=args.timestamp_column)
    phases["views and spine"] = time.monotonic() - began - phases["Spark start-up"]
    for warning in caught:
        say.warn(str(warning.message))
    if args.print_sql:
        say.out(result.printable_sql())
    if args.out:
        manifest = ts.write(result, args.out, args.format, overwrite=args.overwrite)
        wrote = (f"wrote {manifest['spine']['rows']:,} rows x {len(result.df.columns)} columns to "
                 f"{manifest['output']['path']} ({args.format}) in {manifest['seconds']:.1f}s; manifest: "
                 f"{manifest['output']['path']}/{ts.MANIFEST_FILE}")
        phases["join and write"] = float(manifest["seconds"])
        wrote += "\n  time: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in phases.items())
        if args.print_sql:
            say.info(wrote)  # stdout holds only the SQL
        else:
            say.out(wrote)
    return EXIT_DONE


def cmd_sql(args: argparse.Namespace) -> int:
    from pitstop.runtime.catalog import format_table
    from pitstop.runtime.feature_store import sql_error

    say = _say(args)
    store = _store(args)
    df = store.sql(args.query)
    try:  # Spark runs the query here: its errors are the same UsageError as the query's analysis errors
        if args.out:
            df.write.format(args.format).mode("error").save(args.out)
            say.out(f"wrote the result to {args.out} ({args.format})")
            return EXIT_DONE
        rows = df.limit(args.limit + 1).collect()
    except Exception as exc:
        error = sql_error(exc, store.sql_tables)
        if error is exc:
            raise
        raise error from None
    table = [list(df.columns)] + [["NULL" if v is None else str(v) for v in r] for r in rows[:args.limit]]
    say.out(format_table(table))
    if len(rows) > args.limit:
        say.out(f"(more rows not shown; --limit {args.limit})")
    return EXIT_DONE


def cmd_vacuum(args: argparse.Namespace) -> int:
    done, hours = _store(args).vacuum(args.views, args.retain_hours)
    _say(args).out(f"vacuumed {len(done)} table(s), keeping the files of versions younger than {hours} hours; "
                   f"training-set manifests that need older versions can no longer be rebuilt")
    return EXIT_DONE


def cmd_history(args: argparse.Namespace) -> int:
    from pitstop.runtime.catalog import format_table

    say = _say(args)
    commits = _store(args).history(args.view)
    if not commits:
        say.out(f"{args.view} has no snapshot table yet: run `pitstop materialize {args.view} ...`")
        return EXIT_DONE
    rows = [["VERSION", "TIMESTAMP", "OPERATION", "DS RANGE", "RUN"]]
    for c in commits:
        ds = f"{c['ds_start']}..{c['ds_end']}" if c.get("ds_start") else "-"
        rows.append([str(c["version"]), str(c["timestamp"]), c["operation"], ds, c.get("pitstop_run", "-")])
    say.out(format_table(rows))
    return EXIT_DONE


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = _store(args).doctor(args.only or ())
    for check in checks:
        _say(args).out(f"{'ok  ' if check.ok else 'FAIL'} {check.name:12} {check.detail}")
    return EXIT_DONE if all(c.ok for c in checks) else EXIT_CHECK


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in YYYY-MM-DD form") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pitstop", description=DESCRIPTION, epilog=EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"pitstop {__version__}")
    parser.add_argument("--repo", metavar="DIR", help="the feature repository (default: the current folder "
                                                      "or the nearest parent holding pitstop.yaml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = Parser(add_help=False)
    common.add_argument("--repo", metavar="DIR", default=argparse.SUPPRESS,
                        help="the feature repository (also accepted before the command)")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common], epilog=EXIT_CODES_HELP)

    p = add("init", help="start a new feature repository in DIR (config, example definitions, DAG file, jobs, "
                         "sample data) and compile its plan; never overwrites a file")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--project", help="project name (default: from DIR)")
    p.set_defaults(func=cmd_init)

    p = add("plan", help="compile feature_defs/ and show what changed against the checked-in plan")
    p.add_argument("--check", action="store_true",
                   help="exit 2 when the checked-in plan (dags/pitstop_plan.json) is stale (also exit 2 without "
                        "--check when `pitstop apply` would refuse the change; exit 3 on a definition error)")
    p.add_argument("--prune", action="store_true", help="preview removing views no longer defined")
    p.set_defaults(func=cmd_plan)

    p = add("apply", help="compile feature_defs/ and write dags/pitstop_plan.json")
    p.add_argument("--prune", action="store_true",
                   help="drop views (and old versions) no longer defined; without it apply refuses")
    p.set_defaults(func=cmd_apply)

    p = add("ls", help="list the views in the plan")
    p.set_defaults(func=cmd_ls)

    p = add("describe", help="show a view's features, source, ttl, owner and tags")
    p.add_argument("view", metavar="VIEW")
    p.set_defaults(func=cmd_describe)

    p = add("materialize", help="compute views for a range of days into Delta (tiles, snapshots, the log)")
    p.add_argument("views", metavar="VIEW", nargs="+")
    p.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--end", type=_day, required=True, help="last day, YYYY-MM-DD (inclusive)")
    p.add_argument("--no-cascade", action="store_true",
                   help="do not recompute later materialized snapshots whose windows include a recomputed day")
    p.add_argument("--no-publish", action="store_true",
                   help="compute only: do not publish the newest materialized day to the online store")
    p.add_argument("--force", action="store_true",
                   help="compute days the source check refuses: days before the view's start_date or the source's "
                        "first event, or whose source is not ready under the view's readiness rule")
    p.set_defaults(func=cmd_materialize)

    p = add("validate", help="run a view's validation gate (its Great Expectations suite, statistics and alerts) "
                             "on one day's snapshot; exit 2 when it fails")
    p.add_argument("view", metavar="VIEW")
    p.add_argument("--ds", type=_day, required=True, help="the day, YYYY-MM-DD")
    p.add_argument("--version", type=int, metavar="V",
                   help="validate the snapshot table as of this Delta version (default: the current one), e.g. "
                        "a rejected run's version named in its failure message")
    p.set_defaults(func=cmd_validate)

    p = add("status", help="one table of every view: last ds, freshness lag, what Redis serves, last validation, "
                           "alerts, online/offline consistency (no Spark)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--check", action="store_true",
                   help="exit 2 when a view is behind, failed validation, has error alerts, is stale or inconsistent")
    p.set_defaults(func=cmd_status)

    p = add("report", help="write one self-contained HTML file with a view's feature distributions, null "
                           "fractions and drift over time, and its validation history")
    p.add_argument("view", metavar="VIEW")
    p.add_argument("--out", metavar="FILE", help="the HTML file (default: <view>_report.html)")
    p.set_defaults(func=cmd_report)

    p = add("publish", help="publish a materialized day (default: the newest) of views into Redis, atomically")
    p.add_argument("views", metavar="VIEW", nargs="+")
    p.add_argument("--ds", type=_day, help="the day to publish, YYYY-MM-DD (default: the newest materialized)")
    p.set_defaults(func=cmd_publish)

    p = add("get", help="read features online for entities: prints a JSON list, one object per entity")
    p.add_argument("features", metavar="VIEW:FEATURE", nargs="+")
    p.add_argument("--entity", action="append", required=True, metavar="KEY=VALUE[,KEY=VALUE]",
                   help="an entity's join keys, e.g. user_id=1 or account_id=1,device=12; repeat for more")
    p.add_argument("--full-names", action="store_true", help="name features view__feature")
    p.add_argument("--metadata", action="store_true",
                   help="print {rows, metadata} with each view's published ds, snapshot time and staleness")
    p.set_defaults(func=cmd_get)

    p = add("online-script", help="print the Lua script of an atomic online read, for readers outside Python "
                                  "(redis-cli EVAL, any Redis client); --layout VIEW: its keys and values")
    p.add_argument("--layout", metavar="VIEW",
                   help="print, as JSON, what to pass the script for VIEW (KEYS[1], ARGV[1]), the schema it "
                        "must return, the join keys and the meaning of each value of the packed list")
    p.set_defaults(func=cmd_online_script)

    p = add("consistency", help="compare N random entities between Redis and the Delta snapshot they were "
                                "published from; exit 2 on any mismatch")
    p.add_argument("view", metavar="VIEW")
    p.add_argument("--sample", type=int, default=1000, help="entities to compare (default 1000)")
    p.set_defaults(func=cmd_consistency)

    p = add("serve", help="serve online features over HTTP: POST /get-online-features, GET /health, GET /metrics")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6566, help="port (default 6566)")
    p.add_argument("--max-body-bytes", type=_positive, default=None, metavar="N",
                   help="refuse request bodies over N bytes with 413 (default: serve.max_body_bytes in "
                        "pitstop.yaml, 1048576)")
    p.set_defaults(func=cmd_serve)

    p = add("training-set", help="a point-in-time-correct training set: the spine joined to features as known at "
                                 "each row's time, written with a manifest that rebuilds it exactly")
    p.add_argument("--spine", metavar="PATH", help="the spine: a parquet, csv or Delta path with the join keys and a "
                                                  "timestamp column")
    p.add_argument("--spine-sql", metavar="SQL", help="the spine as a Spark SQL query (the pitstop.* tables exist)")
    p.add_argument("--features", action="append", metavar="VIEW:FEATURE,...",
                   help="features to join, comma-separated (repeatable)")
    p.add_argument("--out", metavar="PATH", help="output folder; the manifest goes inside it")
    p.add_argument("--format", choices=["parquet", "delta"], default="parquet", help="output format (default parquet)")
    p.add_argument("--timestamp-column", default="event_timestamp", metavar="C",
                   help="the spine's time column (default event_timestamp); text is read as ISO 8601 UTC")
    p.add_argument("--full-names", action="store_true", help="name feature columns view__feature")
    p.add_argument("--print-sql", action="store_true",
                   help="print the standalone Spark SQL (runs unchanged in spark-sql against the same tables)")
    p.add_argument("--from-manifest", metavar="FILE",
                   help="rebuild a training set exactly from its manifest (Delta time travel)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_training_set)

    p = add("sql", help="run Spark SQL with every view's table registered as pitstop.<view>__v<N>")
    p.add_argument("query", metavar="SQL")
    p.add_argument("--limit", type=int, default=20, help="rows to print (default 20)")
    p.add_argument("--out", metavar="PATH", help="write the result here instead of printing it")
    p.add_argument("--format", choices=["parquet", "delta", "csv"], default="parquet")
    p.set_defaults(func=cmd_sql)

    p = add("vacuum", help="delete table files older than the retention (offline_store.retention_hours) from the "
                           "views' Delta tables")
    p.add_argument("views", metavar="VIEW", nargs="*", help="views to vacuum (default: all)")
    p.add_argument("--retain-hours", type=int, metavar="H",
                   help="keep the files of versions younger than H hours (default: offline_store.retention_hours)")
    p.set_defaults(func=cmd_vacuum)

    p = add("snapshot", help="export one materialized day of a view to a parquet file")
    p.add_argument("view", metavar="VIEW")
    p.add_argument("--ds", type=_day, required=True, help="the day, YYYY-MM-DD")
    p.add_argument("--out", required=True, help="output file, e.g. snapshot.parquet")
    p.set_defaults(func=cmd_snapshot)

    p = add("history", help="list the commits of a view's snapshot table with the ds range each wrote")
    p.add_argument("view", metavar="VIEW")
    p.set_defaults(func=cmd_history)

    p = add("airflow", help="run Airflow standalone for this repository (its DAGs and plugins; home in .airflow/) "
                             "and print the UI address and login")
    p.add_argument("--port", type=int, default=8080, help="UI / API port (default 8080)")
    p.add_argument("--home", metavar="DIR", help="AIRFLOW_HOME (default: <repo>/.airflow)")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for Airflow to be healthy")
    p.add_argument("--print-env", action="store_true",
                   help="print the environment as shell exports (eval it to run `airflow ...` on the same home)")
    p.set_defaults(func=cmd_airflow)

    p = add("config", help="print the effective configuration (secrets redacted)")
    p.set_defaults(func=cmd_config)

    p = add("demo-data", help="generate the demo's synthetic fraud dataset (parquet)")
    p.add_argument("--out", help="output folder (default: <repo>/data/source)")
    p.add_argument("--transactions", type=int, default=1_000_000, help="number of transactions (default 1M)")
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--merchants", type=int, default=2_000)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--end", type=_day, default=date(2026, 10, 31), help="last day, YYYY-MM-DD")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo_data)

    p = add("doctor", help="check Java, Spark with Delta Lake (a real table) and Redis; exit 2 when one fails")
    p.add_argument("--only", action="append", choices=["java", "spark+delta", "redis"],
                   help="run only this check (repeatable)")
    p.set_defaults(func=cmd_doctor)

    p = add("engine", help="start, stop or show the warm engine: a local Spark Connect server with Delta Lake that "
                           "this repository's commands, Python API and Airflow tasks connect to instead of each "
                           "starting Spark (PITSTOP_ENGINE=local: ignore it); start waits until it answers, then "
                           "warms it up with a small Delta workload so the first command runs at full speed")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_engine)

    p = add("jars", help="download and cache the Delta Lake jars (run by `make setup`), and the S3A connector "
                         "when the repository uses s3a:// or with --s3")
    p.add_argument("--s3", action="store_true", help="also the S3A connector: hadoop-aws at pyspark's Hadoop "
                                                     "version and the AWS SDK bundle (about 700 MB)")
    p.set_defaults(func=cmd_jars)
    return parser


def main(argv: Sequence[str] | None = None, reporter: Reporter | None = None) -> int:
    """Run a command; returns its exit code (0 done, 1 transient, 2 a check found problems, 3 terminal)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.reporter = reporter or Reporter()
    code: int = run(lambda: args.func(args), args.reporter)
    return code


if __name__ == "__main__":
    sys.exit(main())
