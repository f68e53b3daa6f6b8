"""`pitstop plan` reports every independent mistake in feature_defs/ at once, each at its own file:line, and
what a mistake breaks downstream (checks, alerts and training sets naming its features, definitions using a
failed name) only as one note: the exact errors and notes of real runs on throwaway repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitstop.cli import main
from pitstop.config import load_config
from pitstop.errors import DefinitionErrors
from pitstop.runtime import registry

COLUMNS = "amount, country, created_timestamp, event_timestamp, merchant_id, user_id"
MISSING = "is not a column of source 'events' (data/events)"


def plan_errors(repo: Path) -> tuple[list[str], list[str]]:
    """The errors (as printed) and the skipped notes of a failing `pitstop plan`."""
    with pytest.raises(DefinitionErrors) as info:
        registry.plan(load_config(repo, env={}))
    return [str(e) for e in info.value.errors], info.value.skipped


def at(repo: Path, name: str, needle: str) -> str:
    """"file:line" of the first line of feature_defs/<name> containing ``needle``."""
    path = repo / "feature_defs" / name
    lines = path.read_text().splitlines()
    return f"{path}:{next(i for i, line in enumerate(lines, 1) if needle in line)}"


HEAD = """
from pitstop import Aggregation, Alert, BatchSource, Entity, Expect, Feature, FeatureView, TrainingSet
user = Entity("user", join_keys=["user_id"])
events = BatchSource("events", path="data/events")
"""

TYPO = HEAD + """
spend = FeatureView(
    "spend", entities=[user], source=events,
    aggregations=[Aggregation("count", windows=["7d"]),
                  Aggregation("sum", column="amout", windows=["1d", "7d"])],
    expectations=[Expect.between("amount_sum_1d", min=0), Expect.between("count_7d", min=0)],
    alerts=[Alert.psi(0.1, features=["amount_sum_7d"]), Alert.null_fraction(0.5, features=["count_7d"])],
)
"""

TRAINING = """
from pitstop import TrainingSet
train = TrainingSet("train", spine_sql="SELECT 1", features=["spend:count_7d", "spend:amount_sum_7d"], output="out")
"""


def test_a_column_typo_is_one_error_at_its_line_and_its_knock_ons_one_note(make_repo) -> None:
    repo = make_repo({"defs.py": TYPO, "training.py": TRAINING})
    errors, skipped = plan_errors(repo)
    assert errors == [f"{at(repo, 'defs.py', 'amout')}: aggregation column of sum: 'amout' {MISSING} (did you "
                      f"mean 'amount'?); its columns are: {COLUMNS}"]
    assert skipped == [
        f"expectation amount_sum_1d between 0 and None at {at(repo, 'defs.py', 'Expect.between')} "
        f"(feature 'amount_sum_1d' of view 'spend')",
        f"Alert.psi at {at(repo, 'defs.py', 'Alert.psi')} (feature 'amount_sum_7d' of view 'spend')",
        f"TrainingSet 'train' at {at(repo, 'training.py', 'TrainingSet(')} (view 'spend')",
    ]
    # fixed, everything compiles: the skipped checks were knock-ons, not mistakes
    make_repo.write(repo, "defs.py", TYPO.replace('"amout"', '"amount"'))
    plan = registry.plan(load_config(repo, env={})).compiled.data
    assert [s["label"] for s in plan["views"]["spend"]["validation"]["suite"] if s["origin"] == "declared"] == [
        "amount_sum_1d between 0 and None", "count_7d between 0 and None"]
    assert plan["views"]["spend"]["monitoring"]["alerts"]["amount_sum_7d"]["psi"]["origin"] == "declared"
    assert list(plan["training_sets"]) == ["train"]


def test_the_cli_prints_the_one_error_and_the_note_and_exits_3(make_repo, capsys) -> None:
    repo = make_repo({"defs.py": TYPO, "training.py": TRAINING})
    code = main(["--repo", str(repo), "plan"])
    out, err = capsys.readouterr()
    assert code == 3 and out == ""  # a bad definition is terminal
    assert err == (
        f"error: 1 problem(s) in the feature definitions:\n"
        f"  - {at(repo, 'defs.py', 'amout')}: aggregation column of sum: 'amout' {MISSING} (did you mean "
        f"'amount'?); its columns are: {COLUMNS}\n"
        f"  note: not checked, as they use what failed above: expectation amount_sum_1d between 0 and None at "
        f"{at(repo, 'defs.py', 'Expect.between')} (feature 'amount_sum_1d' of view 'spend'); Alert.psi at "
        f"{at(repo, 'defs.py', 'Alert.psi')} (feature 'amount_sum_7d' of view 'spend'); TrainingSet 'train' at "
        f"{at(repo, 'training.py', 'TrainingSet(')} (view 'spend')\n")


def test_a_mistake_of_the_check_itself_is_still_reported_beside_a_column_typo(make_repo) -> None:
    # 'amount_sm_7d' is no name the view has or would have with 'amount': a mistake of its own
    repo = make_repo(TYPO.replace('features=["amount_sum_7d"]', 'features=["amount_sm_7d"]')
                     .replace('features=["count_7d"]', 'features=["count_7dd"]'))
    errors, skipped = plan_errors(repo)
    assert errors == [
        f"{at(repo, 'defs.py', 'amout')}: aggregation column of sum: 'amout' {MISSING} (did you mean "
        f"'amount'?); its columns are: {COLUMNS}",
        # the closest name is the one the view will have once the column is fixed
        f"{at(repo, 'defs.py', 'Alert.psi')}: FeatureView 'spend' Alert.psi: unknown feature 'amount_sm_7d' (did "
        f"you mean 'amount_sum_7d'?); the view's columns are: user_id, count_7d, amout_sum_1d, amout_sum_7d, ds, "
        f"feature_timestamp",
        f"{at(repo, 'defs.py', 'Alert.psi')}: FeatureView 'spend' Alert.null_fraction: unknown feature "
        f"'count_7dd' (did you mean 'count_7d'?); the view's columns are: user_id, count_7d, amout_sum_1d, "
        f"amout_sum_7d, ds, feature_timestamp",
    ]
    assert skipped == [f"expectation amount_sum_1d between 0 and None at {at(repo, 'defs.py', 'Expect.between')} "
                       f"(feature 'amount_sum_1d' of view 'spend')"]


def test_two_bad_calls_in_one_file_are_both_reported(make_repo) -> None:
    repo = make_repo(HEAD + """
merchant = Entity("Merchant", join_keys=["merchant_id"])
ok = FeatureView("ok", entities=[user], source=events, aggregations=[Aggregation("count", windows=["7d"])])
spend = FeatureView("spend", entities=[user], source=events,
                    aggregations=[Aggregation("median", column="amount", windows=["7d"]),
                                  Aggregation("sum", column="amount", windows=["7x"])])
profile = FeatureView("profile", entities=[user], source=events, features=[Feature("country", "str")])
""")
    errors, skipped = plan_errors(repo)
    assert errors == [
        f"{at(repo, 'defs.py', 'Merchant')}: Entity: invalid name 'Merchant': names become SQL columns, table "
        f"names and Redis keys, so they must match [a-z][a-z0-9_]* — lower-case letters, digits and '_', "
        f"starting with a letter (for example 'merchant')",
        f"{at(repo, 'defs.py', 'median')}: Aggregation('median', column='amount'): unknown function 'median'; "
        f"valid functions: count, sum, avg, min, max, count_distinct, approx_count_distinct, last, stddev_samp, "
        f"var_samp",  # and the second bad call of the same statement:
        f"{at(repo, 'defs.py', '7x')}: Aggregation('sum', column='amount'): bad window '7x': the only unit is "
        f"'d' (days); windows are whole days; write e.g. \"1d\", \"7d\", \"30d\", or None for a lifetime window",
        f"{at(repo, 'defs.py', 'profile =')}: Feature 'country': unknown dtype 'str'; valid dtypes: int64, "
        f"float64, string, bool, timestamp",
    ]
    assert skipped == []


def test_mistakes_across_files_and_what_uses_them(make_repo) -> None:
    repo = make_repo({
        "entities.py": """
            from pitstop import Entity
            user = Entity("user", join_keys=["user_id"])
            merchant = Entity("merchant", join_keys="merchant_id")
        """,
        "views.py": """
            from datetime import timedelta

            from feature_defs.entities import merchant, user
            from pitstop import Aggregation, BatchSource, FeatureView
            events = BatchSource("events", path="data/events")
            spend = FeatureView("spend", entities=[user], source=events,
                                aggregations=[Aggregation("sum", column="amount", windows=["7d"])],
                                ttl=timedelta(days=-1))
            reach = FeatureView("reach", entities=[merchant], source=events,
                                aggregations=[Aggregation("count", windows=["7d"])])
            count = FeatureView("count", entities=[user], source=events,
                                aggregations=[Aggregation("count", windows=["7d"])])
        """,
        "training.py": """
            from pitstop import TrainingSet
            train = TrainingSet("train", spine_sql="SELECT 1", features=["spend:amount_sum_7d", "reach:count_7d"],
                                output="out")
            typo = TrainingSet("typo", spine_sql="SELECT 1", features=["cont:count_7d"], output="out/typo")
        """,
    })
    errors, skipped = plan_errors(repo)
    entities = at(repo, "entities.py", "merchant =")
    assert errors == [
        f"{entities}: Entity 'merchant': join_keys must be a list of names, got 'merchant_id' (write "
        f"join_keys=['merchant_id'])",
        f"{at(repo, 'views.py', 'spend =')}: FeatureView 'spend': ttl=datetime.timedelta(days=-1) is negative; "
        f"give a duration ≥ 0",
        f"{at(repo, 'training.py', 'typo =')}: TrainingSet 'typo': feature 'cont:count_7d' names view 'cont', "
        f"which is not defined (did you mean 'count'?); views: count, reach, spend",
    ]
    assert skipped == [
        f"{at(repo, 'views.py', 'import merchant')} (imports 'merchant', which failed at {entities})",
        f"{at(repo, 'views.py', 'reach =')} (uses 'merchant', which failed at {entities})",
        f"TrainingSet 'train' at {at(repo, 'training.py', 'train =')} (views 'spend', 'reach')",
    ]


def test_a_training_set_of_a_view_that_failed_is_not_a_second_mistake(make_repo) -> None:
    repo = make_repo({
        "defs.py": HEAD + """
user_transactions = FeatureView("user_transactions", entities=[user], source=events,
                                aggregations=[Aggregation("count", windows=["7d"])], version=0)
merchant_transactions = FeatureView("merchant_transactions", entities=[user], source=events,
                                    aggregations=[Aggregation("count", windows=["7d"])])
""",
        "training.py": """
            from pitstop import TrainingSet
            t = TrainingSet("t", spine_sql="SELECT 1", features=["user_transactions:count_7d"], output="out")
        """,
    })
    errors, skipped = plan_errors(repo)
    assert errors == [f"{at(repo, 'defs.py', 'user_transactions =')}: FeatureView 'user_transactions': version "
                      f"must be an integer ≥ 1, got 0"]
    assert skipped == [f"TrainingSet 't' at {at(repo, 'training.py', 'TrainingSet(')} (view 'user_transactions')"]


def test_a_check_naming_an_unknown_feature_of_a_sound_view_is_reported_at_the_check(make_repo) -> None:
    repo = make_repo(HEAD + """
spend = FeatureView("spend", entities=[user], source=events,
                    aggregations=[Aggregation("sum", column="amount", windows=["7d"])],
                    expectations=[Expect.gx("ExpectColumnPairValuesAToBeGreaterThanB", column_A="amount_sum_7d",
                                            column_B="amount_sum_1d")])
""")
    errors, skipped = plan_errors(repo)
    assert errors == [f"{at(repo, 'defs.py', 'Expect.gx')}: FeatureView 'spend' expectation "
                      f"ExpectColumnPairValuesAToBeGreaterThanB: unknown feature 'amount_sum_1d' (did you mean "
                      f"'amount_sum_7d'?); the view's columns are: user_id, amount_sum_7d, ds, feature_timestamp"]
    assert skipped == []


def test_a_syntax_error_fails_the_file_and_its_importers_are_knock_ons(make_repo) -> None:
    repo = make_repo({
        "entities.py": 'from pitstop import Entity\nuser = Entity("user", join_keys=["user_id"]\n',
        "views.py": """
            import feature_defs.entities as entities
            from pitstop import Aggregation, BatchSource, FeatureView
            events = BatchSource("events", path="data/events")
            spend = FeatureView("spend", entities=[entities.user], source=events,
                                aggregations=[Aggregation("count", windows=["7d"])])
            bad = BatchSource("bad", path="")
        """,
    })
    errors, skipped = plan_errors(repo)
    assert len(errors) == 2
    assert errors[0].startswith(f"{repo / 'feature_defs' / 'entities.py'}:2: cannot import feature_defs.entities: "
                                f"SyntaxError: ")
    assert errors[1] == f"{at(repo, 'views.py', 'bad =')}: BatchSource 'bad': path must not be empty"
    assert skipped == [f"{at(repo, 'views.py', 'spend =')} (uses feature_defs.entities.user, which failed at "
                       f"{repo / 'feature_defs' / 'entities.py'} (SyntaxError))"]


def test_a_name_error_suggests_the_name_and_later_statements_still_run(make_repo) -> None:
    repo = make_repo(HEAD + """
spend = FeatureView("spend", entities=[user], source=events, aggregations=[Aggregaton("count", windows=["7d"])])
count = FeatureView("count", entities=[usr], source=events, aggregations=[Aggregation("count", windows=["7d"])])
""")
    errors, skipped = plan_errors(repo)
    assert errors == [
        f"{at(repo, 'defs.py', 'spend =')}: NameError: name 'Aggregaton' is not defined (did you mean "
        f"'Aggregation'?)\n    spend = FeatureView(\"spend\", entities=[user], source=events, "
        f"aggregations=[Aggregaton(\"count\", windows=[\"7d\"])])",
        f"{at(repo, 'defs.py', 'count =')}: NameError: name 'usr' is not defined (did you mean 'user'?)\n"
        f"    count = FeatureView(\"count\", entities=[usr], source=events, aggregations=[Aggregation(\"count\", "
        f"windows=[\"7d\"])])",
    ]
    assert skipped == []


def test_a_source_that_cannot_be_read_skips_its_views_and_their_training_sets(make_repo) -> None:
    repo = make_repo(HEAD + """
lost = BatchSource("lost", path="data/lost")
spend = FeatureView("spend", entities=[user], source=lost, aggregations=[Aggregation("count", windows=["7d"])])
train = TrainingSet("train", spine_sql="SELECT 1", features=["spend:count_7d", "spend:count_1d"], output="out")
""")
    errors, skipped = plan_errors(repo)
    assert errors == [
        f"{at(repo, 'defs.py', 'lost =')}: cannot read source 'lost' at 'data/lost' (format parquet) to learn its "
        f"column types, and the checked-in plan records none: create the data first (for the demo: `pitstop "
        f"demo-data`) or fix the path",
        # the view's features are known without its source: naming one it does not declare is a mistake
        f"{at(repo, 'defs.py', 'train =')}: TrainingSet 'train': view 'spend' has no feature 'count_1d' (did you "
        f"mean 'count_7d'?); its features: count_7d",
    ]
    assert skipped == [f"FeatureView 'spend' at {at(repo, 'defs.py', 'spend =')} (source 'lost')",
                       f"TrainingSet 'train' at {at(repo, 'defs.py', 'train =')} (view 'spend')"]
