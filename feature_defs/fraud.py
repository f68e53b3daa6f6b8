"""The fraud demo's feature views: card-holder spend, merchant traffic and the user profile."""

from datetime import date, timedelta

from feature_defs.entities import merchant, user
from feature_defs.sources import transactions, user_profiles
from pitstop import Aggregation, Alert, Expect, Feature, FeatureView

user_transactions = FeatureView(
    "user_transactions",
    entities=[user],
    source=transactions,
    aggregations=[
        Aggregation("count", windows=["1d", "7d", "30d"]),
        Aggregation("sum", column="amount", windows=["1d", "7d", "30d"]),
        Aggregation("avg", column="amount", windows=["1d", "7d", "30d"]),
        Aggregation("max", column="amount", windows=["1d", "7d", "30d"]),
        Aggregation("count_distinct", column="merchant_id", windows=["7d", "30d"]),
    ],
    version=1,
    owner="fraud-team@example.com",
    description="How much, how often and where each card holder spends",
    tags={"domain": "fraud"},
    start_date=date(2026, 10, 1),  # the Airflow DAG's first data interval (daily; catchup off)
    # the validation gate: a day failing one of these (or a built-in check) is never published
    expectations=[
        Expect.between("amount_max_1d", min=0, max=10_000),
        Expect.max_null_fraction("amount_avg_30d", 0.05),
    ],
    # monitoring: a stricter drift warning on the 7-day spend than the default (psi > 0.2); the 1-day avg and
    # max (and 7-day) are null for every key without an event in the window: an expected null, not missing data
    alerts=[Alert.psi(0.1, features=["amount_sum_7d"]),
            Alert.null_fraction(0.9, features=["amount_avg_1d", "amount_max_1d", "amount_avg_7d", "amount_max_7d"])],
)

merchant_transactions = FeatureView(
    "merchant_transactions",
    entities=[merchant],
    source=transactions,
    aggregations=[
        Aggregation("count", windows=["1d", "7d"]),
        Aggregation("sum", column="amount", windows=["7d"]),
        Aggregation("approx_count_distinct", column="user_id", windows=["7d"]),
        Aggregation("count", name="lifetime_tx", windows=[None]),
    ],
    version=1,
    owner="fraud-team@example.com",
    description="Traffic and customer reach of each merchant",
    tags={"domain": "fraud"},
    start_date=date(2026, 10, 1),
)

user_profile = FeatureView(
    "user_profile",
    entities=[user],
    source=user_profiles,
    features=[
        Feature("country", "string"),
        Feature("credit_limit", "float64"),
        Feature("is_verified", "bool"),
    ],
    ttl=timedelta(days=365),
    version=1,
    owner="fraud-team@example.com",
    description="The card holder's profile as known at each time (corrections honoured)",
    tags={"domain": "fraud"},
    start_date=date(2026, 10, 1),
    expectations=[Expect.gx("ExpectColumnValuesToMatchRegex", column="country", regex="^[A-Z]{2}$")],
)
